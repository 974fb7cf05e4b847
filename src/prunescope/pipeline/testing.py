"""The test stage: quality metrics of the final module and, for a pruned one, Sp2PS against the baseline."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch

from prunescope.cam.callback import Sp2PSCallback, Sp2PSResult
from prunescope.instantiate import build_trainer
from prunescope.metrics.efficiency import compare_latency, profile_counts, profile_model
from prunescope.modules import TaskModule
from prunescope.modules.divergence import assert_finite_weights
from prunescope.pipeline.parts import RunParts


def quality_from_logged(logged: dict[str, Any], quality_metric: str) -> dict[str, Any]:
    """``test/miou``, ``test/pixel_acc``, ``test/iou_<k>`` → ``miou``, ``pixel_acc``, ``iou_per_class``; or ``acc``.

    A class absent from both the test targets and the predictions (IoU logged as NaN) is ``None`` in
    ``iou_per_class``: no IoU, not an IoU of 0, and left out of ``miou``.
    """
    values = {k.removeprefix("test/"): float(v) for k, v in logged.items() if k.startswith("test/")}
    if quality_metric == "acc":
        return {"acc": values.get("acc")}
    per_class = sorted((int(k.split("_")[1]), v) for k, v in values.items() if k.startswith("iou_"))
    return {
        "miou": values.get("miou"),
        "pixel_acc": values.get("pixel_acc"),
        "iou_per_class": [None if math.isnan(v) else v for _, v in per_class],
    }


def test_module(
    trainer: pl.Trainer, module: TaskModule, datamodule: pl.LightningDataModule
) -> dict[str, Any]:
    """Run ``trainer.test`` and return the quality metrics by their short names."""
    results = trainer.test(module, datamodule=datamodule, verbose=False)
    return quality_from_logged(results[0] if results else {}, module.quality_metric)


@dataclass
class TestResult:
    """What the test stage measured.

    Attributes:
        quality: ``miou``, ``pixel_acc``, ``iou_per_class`` or ``acc``.
        cost: ``params``, ``macs``, ``size_mb``, ``latency_ms`` (:func:`prunescope.metrics.efficiency.profile_model`).
        seconds: the test loop without the Sp2PS scoring.
        sp2ps: Sp2PS of the module against the baseline, when it was scored.
        baseline_latency: the baseline's :meth:`~prunescope.metrics.efficiency.Latency.fields`, timed interleaved
            with the tested module's (same runtime, batch, threads, moment and memory layout), when a baseline was
            given.
    """

    __test__ = False  # not a pytest class

    quality: dict[str, Any]
    cost: dict[str, Any]
    seconds: float
    sp2ps: Sp2PSResult | None = None
    baseline_latency: dict[str, Any] | None = None


def single_process_trainer(
    parts: RunParts, fit_trainer: pl.Trainer, sp2ps: Sp2PSCallback | None = None
) -> pl.Trainer:
    """The trainer the test stage uses: the fit's own (one step axis for the loggers), or, after a multi-process
    (DDP) fit, a one-device trainer with the same loggers and the Sp2PS callback, for rank 0 to test alone (the
    process group is torn down first, so nothing syncs with ranks that have finished)."""
    if fit_trainer.world_size == 1:
        return fit_trainer
    if torch.distributed.is_initialized():  # else metrics would sync with ranks that have finished
        torch.distributed.destroy_process_group()
    return build_trainer(
        parts.cfg,
        callbacks=[sp2ps] if sp2ps is not None else [],
        loggers=parts.loggers or False,
        devices=1,
        num_nodes=1,
        strategy="auto",
        sync_batchnorm=False,
    )


def test_stage(
    parts: RunParts,
    trainer: pl.Trainer,
    module: TaskModule,
    sp2ps: Sp2PSCallback | None = None,
    baseline: TaskModule | None = None,
) -> TestResult:
    """Test ``module`` with ``trainer`` (whose callbacks include ``sp2ps`` when given), then profile its cost;
    with ``baseline``, both latencies come from one interleaved measurement (the speed-up's two figures)."""
    assert_finite_weights(module, "the tested model")
    start = time.perf_counter()
    quality = test_module(trainer, module, parts.datamodule) if parts.cfg.get("test") else {}
    seconds = time.perf_counter() - start
    scores = sp2ps.result if sp2ps is not None else None
    if scores is not None:
        seconds -= scores.seconds
    example = parts.example.to(module.device)
    if baseline is None:
        return TestResult(
            quality, profile_model(module.net, example, repeats=parts.latency_repeats), seconds, scores
        )
    nets = {"baseline": baseline.net.to(module.device), "pruned": module.net}
    # One layout for both, the one the module trains in: the fine-tuned network is channels-last after a
    # channels-last fine-tune, the baseline as loaded is not, and the layout alone changes the time.
    layout = torch.channels_last if module.channels_last else torch.contiguous_format
    latencies = compare_latency(nets, example, repeats=parts.latency_repeats, memory_format=layout)
    cost = {**profile_counts(module.net, example), **latencies["pruned"].fields()}
    baseline_latency = latencies["baseline"].fields()
    return TestResult(quality, cost, seconds, scores, baseline_latency)


test_module.__test__ = False  # type: ignore[attr-defined]
test_stage.__test__ = False  # type: ignore[attr-defined]
