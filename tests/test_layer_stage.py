"""The layer stage of a pruning run: U-Net levels removed before the filter pruning, fixed or ``auto``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from prunescope.checkpoints import read_checkpoint
from prunescope.config_checks import ConfigError
from prunescope.models.unet import UNet
from prunescope.pruning import replay
from prunescope.train import run


def test_fixed_levels_then_filters(make_cfg: Callable[..., DictConfig]) -> None:
    cfg = make_cfg("pruning=l1", "pruning.layers.levels=1", "sp2ps=false")
    values = run(cfg)
    assert values["run.status"] == "completed"
    assert values["prune.levels_removed"] == 1
    assert values["run.layers"] == 1  # what was asked: the report groups and names runs by it
    assert values["prune.steps_done"] == 1
    assert values["pruned.params"] < values["baseline.params"]
    checkpoint = read_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert [op["op"] for op in checkpoint["pruning_record"]] == ["unet_levels", "channels"]
    fresh = UNet(num_classes=cfg.data.num_classes, depth=3, base_channels=4)
    replay(fresh, checkpoint["pruning_record"])
    assert fresh.depth == 2
    fresh.load_state_dict({k.removeprefix("net."): v for k, v in checkpoint["state_dict"].items()})


def test_auto_levels_within_tolerance(make_cfg: Callable[..., DictConfig]) -> None:
    cfg = make_cfg(
        "pruning=l1",
        "pruning.ratio=0.0",
        "pruning.layers.levels=auto",
        "pruning.layers.tolerance=1.0",
        "pruning.layers.limit_train_batches=1",
        "sp2ps=false",
    )
    values = run(cfg)
    assert values["prune.levels_removed"] == 2  # any drop is within tolerance 1.0: all but one level go
    assert values["run.layers"] == "auto"
    assert {"prune.levels_metric_1", "prune.levels_metric_2", "prune.levels_baseline_metric"} <= set(values)
    assert values["time.prune"] > 0
    stored = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert stored["prune.levels_removed"] == 2


def test_levels_on_a_network_without_levels_fails_before_training(
    make_cfg: Callable[..., DictConfig],
) -> None:
    cfg = make_cfg("model=vgg16", "data=digits", "pruning=l1", "pruning.layers.levels=1")
    with pytest.raises(ConfigError, match="VGG16 has none"):
        run(cfg)
    assert not (Path(cfg.paths.baselines_dir)).exists()
    assert json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())["run.status"] == "failed"
