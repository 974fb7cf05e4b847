"""The layer stage of a pruning run: U-Net levels removed before the filter pruning, fixed or ``auto``."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from prunescope.checkpoints import read_checkpoint
from prunescope.config_checks import ConfigError
from prunescope.metrics.efficiency import count_params
from prunescope.models.unet import UNet
from prunescope.progress import format_count
from prunescope.pruning import replay
from prunescope.train import run


def _layer_line(caplog: pytest.LogCaptureFixture) -> str:
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("layer stage:")]
    assert len(lines) == 1, lines
    return lines[0]


def test_fixed_levels_then_filters(
    make_cfg: Callable[..., DictConfig], caplog: pytest.LogCaptureFixture
) -> None:
    cfg = make_cfg("pruning=l1", "pruning.layers.levels=1", "sp2ps=false")
    with caplog.at_level(logging.INFO, logger="prunescope.progress"):
        values = run(cfg)
    line = _layer_line(caplog)
    net = UNet(num_classes=cfg.data.num_classes, depth=3, base_channels=4)
    before = count_params(net)
    net.remove_deepest_levels(1)
    drop = 100 * (1 - count_params(net) / before)
    assert line.startswith(
        f"layer stage: removed 1 U-Net level (asked 1) | params {format_count(count_params(net))} (-{drop:.1f}%) | MACs "
    )
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


def test_auto_levels_within_tolerance(
    make_cfg: Callable[..., DictConfig], caplog: pytest.LogCaptureFixture
) -> None:
    cfg = make_cfg(
        "pruning=l1",
        "pruning.ratio=0.0",
        "pruning.layers.levels=auto",
        "pruning.layers.tolerance=1.0",
        "pruning.layers.limit_train_batches=1",
        "sp2ps=false",
    )
    with caplog.at_level(logging.INFO, logger="prunescope.progress"):
        values = run(cfg)
    search = ", ".join(
        [f"baseline {values['prune.levels_baseline_metric']:.4f}"]
        + [f"{k} level{'s' if k > 1 else ''} {values[f'prune.levels_metric_{k}']:.4f}" for k in (1, 2)]
    )
    assert _layer_line(caplog).startswith(
        f"layer stage: removed 2 U-Net levels (asked auto; val/miou {search}) |"
    )
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
