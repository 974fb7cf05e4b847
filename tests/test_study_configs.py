"""The studies' paper-scale experiment configs compose and run end to end under ``trainer.fast_dev_run``."""

from __future__ import annotations

import pytest

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
