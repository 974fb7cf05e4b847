"""Progress lines: one per epoch of a real (tiny) fit, one per pruning step."""

from __future__ import annotations

import functools
import logging
import re

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from prunescope.models import build_model
from prunescope.modules import ClassificationModule
from prunescope.progress import ProgressLog, format_count, format_duration, log_pruning_step
from prunescope.pruning import PruningOptions, prune


def loader(seed: int) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(16, 3, 8, 8, generator=generator)
    labels = torch.randint(0, 3, (16,), generator=generator)
    return DataLoader(TensorDataset(images, labels), batch_size=8)


def test_one_line_per_epoch_with_the_logged_values(caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    module = ClassificationModule(net, functools.partial(torch.optim.SGD, lr=0.1), num_classes=3)
    trainer = pl.Trainer(
        max_epochs=3, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[ProgressLog("baseline")],
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="prunescope.progress"):
        trainer.fit(module, loader(0), loader(1))
    lines = [r.getMessage() for r in caplog.records if r.name == "prunescope.progress"]
    assert len(lines) == 3
    for epoch, line in enumerate(lines, start=1):
        assert re.fullmatch(
            rf"baseline epoch {epoch}/3 \| train/loss \d\.\d{{4}} \| val/acc \d\.\d{{4}} \| epoch \d+\.\d+s \| elapsed \d+s \| eta \d+s",
            line,
        ), line
    final = trainer.callback_metrics
    assert f"train/loss {float(final['train/loss']):.4f}" in lines[-1]
    assert f"val/acc {float(final['val/acc']):.4f}" in lines[-1]
    assert lines[-1].endswith("eta 0s")


def test_pruning_step_line(caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(0)
    net = build_model("vgg16", num_classes=4, width_mult=0.125)
    x = torch.randn(1, 3, 32, 32)
    result = prune(net, PruningOptions(method="l1", ratio=0.5, target="params"), x)
    with caplog.at_level(logging.INFO, logger="prunescope.progress"):
        line = log_pruning_step(1, 2, result, baseline_params=2 * result.params_before)
    assert caplog.records[-1].getMessage() == line
    removed = sum(len(r) for r in result.removed.values())
    drop = 100 * (1 - result.params_after / (2 * result.params_before))
    assert line.startswith(
        f"prune step 1/2 l1: removed {removed} channels (params target 0.500, channel ratio 0."
    )
    assert f"params {format_count(result.params_after)} (-{drop:.1f}%)" in line
    assert f"MACs {format_count(result.macs_after)} (-" in line


def test_formats() -> None:
    assert [format_duration(s) for s in (0, 12.9, 288, 3600 * 3 + 300)] == ["0s", "12s", "4m48s", "3h05m"]
    assert [format_count(v) for v in (987, 12_345, 1_234_567, 4_560_000_000)] == [
        "987",
        "12.3k",
        "1.23M",
        "4.56G",
    ]
