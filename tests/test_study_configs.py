"""The studies' paper-scale experiment configs compose and run end to end under ``trainer.fast_dev_run``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from prunescope.train import run
from support import requires_data

PAPER_SCALE = [
    ("segnet_camvid", "camvid", 0.724),
    ("deeplabv3plus_camvid", "camvid", 0.465),
    ("vgg16_cifar10", "cifar10", 0.865),
    ("sp2ps_vgg16_cifar10", "cifar10", 0.4),
    ("unet_camvid_layers", "camvid", 0.5),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("experiment", "ratio"),
    [pytest.param(name, ratio, marks=requires_data(data)) for name, data, ratio in PAPER_SCALE],
)
def test_paper_scale_config_runs_one_batch_per_stage(make_cfg, experiment: str, ratio: float) -> None:
    cfg = make_cfg(
        f"experiment={experiment}",
        "pruning=l1",
        "trainer.fast_dev_run=true",
        "trainer.accelerator=cpu",
        "data.batch_size=2",
        "data.num_workers=0",
        "pruning.calibration_batches=1",
        "cam.max_batches=1",
        "efficiency.latency_repeats=1",
        "logger=none",
        small=False,
    )
    assert cfg.pruning.ratio == ratio
    values = run(cfg)
    assert values["run.status"] == "completed", values.get("run.error")
    assert values["run.target"] == cfg.pruning.target
    if cfg.pruning.target == "params":
        assert abs(values["drop.params_pct"] / 100 - ratio) <= 0.005
    else:
        assert abs(values["prune.ratio_removed"] - ratio) <= 0.01


def _leaves(node: object, prefix: str = "") -> dict[str, object]:
    if isinstance(node, dict):
        out: dict[str, object] = {}
        for key, value in node.items():
            out.update(_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: node}


def test_half_width_vgg_study_is_the_quarter_width_one_wider_with_a_hold_out(make_cfg) -> None:
    """experiments/vgg16_cifar10/RESULTS.md's half-width rows and its round-2 rows differ only in width: the half
    config is vgg16_cifar10_cpu with width_mult 0.5 and the round-2 hold-out, nothing else (tags aside)."""
    quarter = make_cfg("experiment=vgg16_cifar10_cpu", "pruning=pca_nci", small=False)
    half = make_cfg("experiment=vgg16_cifar10_cpu_half", "pruning=pca_nci", small=False)
    a = _leaves(OmegaConf.to_container(quarter, resolve=False))
    b = _leaves(OmegaConf.to_container(half, resolve=False))
    changed = {key: (a.get(key), b.get(key)) for key in a.keys() | b.keys() if a.get(key) != b.get(key)}
    assert changed == {
        "model.net.width_mult": (0.25, 0.5),
        "data.val_size": (0, 5000),
        "tags": (["vgg16_cifar10", "cpu"], ["vgg16_cifar10", "cpu", "half_width"]),
    }


def test_segnet_study_defaults_are_round_twos_choice_and_round_one_pins_its_own(make_cfg) -> None:
    """experiments/segnet_camvid/RESULTS.md: the fine-tune chosen on validation (24 epochs, local scope) is the
    config's default; run.sh pins round 1's settings (8 epochs, global scope, fp32) so its tables still reproduce."""
    chosen = make_cfg("experiment=segnet_camvid_cpu", "pruning=pca_nci", small=False)
    assert (chosen.finetune_epochs, chosen.pruning.scope, chosen.trainer.precision) == (24, "local", "auto")
    script = (Path(__file__).resolve().parents[1] / "experiments" / "segnet_camvid" / "run.sh").read_text()
    pins = re.search(r"^round1=\((.*)\)$", script, re.M)
    assert pins is not None and "pruning.scope=global" in script
    round1 = make_cfg("experiment=segnet_camvid_cpu", "pruning=pca_nci", *pins.group(1).split(), small=False)
    assert (round1.finetune_epochs, round1.trainer.precision) == (8, "32-true")
