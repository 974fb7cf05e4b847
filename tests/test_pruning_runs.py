"""prunescope-train with pruning: every method end to end, checkpoints that re-test, errors before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import open_dict

from prunescope.eval import evaluate
from prunescope.models import models_for
from prunescope.pruning import CRITERIA
from prunescope.train import run
from support import requires_data

METHODS = list(CRITERIA)  # every registered criterion


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
        *((m, "digit_scenes") for m in models_for("segmentation")),
        *((m, "digits") for m in models_for("classification")),
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


def test_sp2ps_command_scores_two_checkpoints(make_cfg, tmp_path: Path) -> None:
    """prunescope-sp2ps on the baseline checkpoint and the pruned run's last.ckpt (both weights_only-loadable)."""
    from prunescope.sp2ps import score_checkpoints

    cfg = make_cfg("pruning=l1", "pruning.ratio=0.5", "cam.max_batches=1")
    values = run(cfg)
    baseline_ckpt = values["run.baseline_source"]
    pruned_ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    sp2ps_cfg = make_cfg(  # data settings come from the checkpoints
        f"baseline_ckpt={baseline_ckpt}",
        f"pruned_ckpt={pruned_ckpt}",
        "cam.max_batches=1",
        "trainer.enable_progress_bar=false",
        config_name="sp2ps",
        small=False,
    )
    with open_dict(sp2ps_cfg):
        sp2ps_cfg.paths.output_dir = str(tmp_path / "sp2ps")
    result = score_checkpoints(sp2ps_cfg)
    assert result["pairs"] > 0 and 0.0 <= result["sp2ps"] <= 1.0
    same_cfg = sp2ps_cfg.copy()
    with open_dict(same_cfg):
        same_cfg.pruned_ckpt = baseline_ckpt
    assert score_checkpoints(same_cfg)["sp2ps"] == pytest.approx(1.0, abs=1e-6)
    assert (tmp_path / "sp2ps" / "sp2ps.json").is_file()
    # the same pair scored through a run config that says otherwise: the checkpoints' data wins
    assert score_checkpoints(sp2ps_cfg)["sp2ps"] == pytest.approx(result["sp2ps"], abs=1e-9)


def test_sp2ps_command_refuses_checkpoints_of_different_data(make_cfg, tmp_path: Path) -> None:
    from prunescope.checkpoints import read_checkpoint
    from prunescope.config_checks import ConfigError
    from prunescope.sp2ps import score_checkpoints

    values = run(make_cfg("pruning=l1", "pruning.ratio=0.5", "sp2ps=false"))
    baseline_ckpt = Path(values["run.baseline_source"])
    other = read_checkpoint(baseline_ckpt)
    other["data_config"] = {**other["data_config"], "image_size": 48}
    torch.save(other, tmp_path / "other.ckpt")
    sp2ps_cfg = make_cfg(
        f"baseline_ckpt={baseline_ckpt}",
        f"pruned_ckpt={tmp_path / 'other.ckpt'}",
        config_name="sp2ps",
        small=False,
    )
    with pytest.raises(
        ConfigError, match=r"different data settings \(image_size: 32 != 48\); pass force=true"
    ):
        score_checkpoints(sp2ps_cfg)


def test_latency_is_recorded_with_its_conditions_and_one_measurement(make_cfg) -> None:
    values = run(make_cfg("pruning=l1", "pruning.ratio=0.5", "sp2ps=false"))
    for side in ("baseline", "pruned"):
        assert values[f"{side}.latency_runtime"] == "eager"
        assert values[f"{side}.latency_batch"] == 1
        assert values[f"{side}.latency_threads"] >= 1
        assert values[f"{side}.latency_ms"] > 0
    assert values["speedup"] == pytest.approx(values["baseline.latency_ms"] / values["pruned.latency_ms"])


def test_run_without_pruning_is_the_baseline_of_later_pruning_runs(make_cfg, tmp_path: Path) -> None:
    """A baseline-only run puts its model into the cache; a pruning run of the same config loads it (same test
    metrics, nothing trained) and a run with another seed does not (its entry would claim the wrong seed)."""

    def run_in(name: str, *overrides: str) -> dict:
        cfg = make_cfg("model=vgg16", "data=digits", "sp2ps=false", *overrides)
        with open_dict(cfg):
            cfg.paths.output_dir = str(tmp_path / name)
        return run(cfg)

    def entries() -> list[Path]:
        cache = tmp_path / "outputs" / "baselines"
        return [p for p in cache.iterdir() if p.is_dir()] if cache.is_dir() else []

    run_in("other_seed", "seed=1", "baseline.seed=0")
    assert entries() == []
    trained = run_in("plain")
    assert len(entries()) == 1
    stored = torch.load(entries()[0] / "baseline.ckpt", weights_only=True)
    assert stored["metrics"]["acc"] == pytest.approx(trained["baseline.acc"])

    pruned = run_in("pruned", "pruning=l1", "pruning.ratio=0.3")
    assert_pruned(pruned)
    assert pruned["run.baseline_trained_here"] is False
    assert pruned["run.baseline_source"] == str(entries()[0] / "baseline.ckpt")
    assert pruned["baseline.acc"] == pytest.approx(trained["baseline.acc"])


def test_run_without_pruning_does_not_wait_for_a_baseline_being_built(make_cfg, tmp_path: Path) -> None:
    """Another job holds the cache entry's lock (it is training that baseline): the run completes without
    waiting and stores nothing."""
    from filelock import FileLock

    from prunescope.baselines.cache import baseline_key
    from prunescope.pipeline.baseline import baseline_key_material
    from prunescope.precision import resolve_run_precision

    cfg = make_cfg("model=vgg16", "data=digits", "sp2ps=false")
    resolve_run_precision(cfg)  # as run() does first: the key holds the concrete precision
    cache = tmp_path / "outputs" / "baselines"
    cache.mkdir(parents=True)
    with FileLock(str(cache / f"{baseline_key(baseline_key_material(cfg))}.lock")):
        values = run(cfg)
    assert values["run.status"] == "completed" and values["baseline.acc"] > 0
    assert not [p for p in cache.iterdir() if p.is_dir()]
