"""prunescope-train with pruning: every method end to end, checkpoints that re-test, errors before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import open_dict

from prunescope.eval import evaluate
from prunescope.train import run
from support import requires_data

METHODS = ["random", "l1", "l2", "fpgm", "bn_scale", "taylor", "pca_nci", "isd"]


@pytest.fixture(scope="module")
def shared_baselines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One baseline cache for the module: the baseline is trained by the first test and reused by the rest."""
    return tmp_path_factory.mktemp("baselines")


def with_baselines(cfg, baselines: Path):
    with open_dict(cfg):
        cfg.paths.baselines_dir = str(baselines)
    return cfg


def assert_pruned(values: dict) -> None:
    assert values["run.status"] == "completed", values.get("run.error")
    assert values["pruned.params"] < values["baseline.params"]
    assert values["pruned.macs"] < values["baseline.macs"]
    assert values["drop.params_pct"] > 0 and values["drop.macs_pct"] > 0
    assert values["speedup"] > 0


@requires_data("camvid")
@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_segnet_camvid_every_method(make_cfg, shared_baselines: Path, method: str) -> None:
    cfg = make_cfg(
        "model=segnet", "data=camvid", f"pruning={method}", "pruning.ratio=0.5", "cam.max_batches=1"
    )
    values = run(with_baselines(cfg, shared_baselines))
    assert_pruned(values)
    assert values["run.method"] == method
    written = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert written["drop.params_pct"] == pytest.approx(values["drop.params_pct"])
    assert 0.0 <= written["sp2ps.score"] <= 1.0
    assert len(list(shared_baselines.glob("*/baseline.ckpt"))) == 1  # one baseline for all methods


@pytest.mark.parametrize(
    ("model", "data"),
    [
        ("unet", "digit_scenes"),
        ("smp_unet", "digit_scenes"),
        ("deeplabv3plus", "digit_scenes"),
        ("segnet", "digit_scenes"),
        ("vgg16", "digits"),
    ],
)
def test_every_model_prunes_and_scores_sp2ps(make_cfg, model: str, data: str) -> None:
    cfg = make_cfg(f"model={model}", f"data={data}", "pruning=l1", "pruning.ratio=0.5", "cam.max_batches=1")
    values = run(cfg)
    assert_pruned(values)
    assert values["sp2ps.pairs"] > 0
    assert 0.0 <= values["sp2ps.score"] <= 1.0
    assert 0.0 <= values["sp2ps.spatial"] <= 1.0 and 0.0 <= values["sp2ps.spectral"] <= 1.0
    assert (Path(cfg.paths.output_dir) / "sp2ps_cams.png").stat().st_size > 0


def test_pruned_checkpoint_retests_identically(make_cfg, tmp_path: Path) -> None:
    """prunescope-eval rebuilds the architecture, replays the record, loads weights: same test metrics."""
    cfg = make_cfg(
        "pruning=isd", "pruning.ratio=0.4", "pruning.schedule.steps=2", "finetune_epochs=2", "sp2ps=false"
    )
    values = run(cfg)
    assert values["run.pruning_steps"] == 2
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    (Path(cfg.paths.output_dir) / ".hydra").mkdir()
    from omegaconf import OmegaConf

    OmegaConf.save(cfg, Path(cfg.paths.output_dir) / ".hydra" / "config.yaml")
    eval_cfg = make_cfg(f"ckpt_path={ckpt}", config_name="eval", small=False)
    with open_dict(eval_cfg):
        eval_cfg.paths.output_dir = str(tmp_path / "eval")
        eval_cfg.trainer.enable_progress_bar = False
    metrics = evaluate(eval_cfg)
    assert metrics["miou"] == pytest.approx(values["pruned.miou"], abs=1e-6)
    assert metrics["pixel_acc"] == pytest.approx(values["pruned.pixel_acc"], abs=1e-6)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("pruning.method=nope", "nope"),
        ("pruning.ratio=1.0", "ratio"),
        ("pruning.ratio=-0.1", "ratio"),
        ("pruning.ignored_layers=[no_such_layer]", "no_such_layer"),
    ],
)
def test_bad_pruning_config_fails_before_any_work(make_cfg, override: str, message: str) -> None:
    cfg = make_cfg("pruning=l1", override)
    with pytest.raises(Exception, match=message):
        run(cfg)
    assert not Path(cfg.paths.baselines_dir).exists()  # nothing was trained
    written = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert written["run.status"] == "failed" and message in written["run.error"]


def test_ratio_zero_keeps_the_model(make_cfg) -> None:
    values = run(make_cfg("pruning=l1", "pruning.ratio=0.0", "sp2ps=false"))
    assert values["run.status"] == "completed"
    assert values["pruned.params"] == values["baseline.params"]
