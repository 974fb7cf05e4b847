"""The validation stage: the baseline's and the final model's quality on the validation split.

A choice between settings (a fine-tune strategy, a ratio, a method option) is made on these figures, never on the
test set: ``metrics.json`` records ``baseline.val_<metric>`` and ``pruned.val_<metric>`` (``<metric>`` =
``quality.metric``) beside the test figures. Only data whose validation split is its own (not the test images:
CIFAR-10 with ``data.val_size=0`` validates on the test set) gets them. The stage runs last, after every test
figure is measured, with the run's trainer settings (precision, ``limit_val_batches``, ``fast_dev_run``) on one
device, no loggers, no checkpoints.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import pytorch_lightning as pl
import torch

from prunescope.instantiate import build_trainer
from prunescope.modules import TaskModule
from prunescope.pipeline.parts import RunParts

log = logging.getLogger(__name__)


@dataclass
class ValidationResult:
    """What the validation stage measured (``None``: not measured).

    Attributes:
        baseline: the baseline's ``val/<quality metric>``.
        pruned: the pruned, fine-tuned model's ``val/<quality metric>`` (a pruning run only).
        seconds: the stage's time.
    """

    baseline: float | None = None
    pruned: float | None = None
    seconds: float = 0.0


def has_validation_split(datamodule: pl.LightningDataModule) -> bool:
    """Whether ``datamodule`` validates on images of its own (not on the test set)."""
    return not getattr(datamodule, "validation_is_test", True)


def validate_module(
    trainer: pl.Trainer, module: TaskModule, datamodule: pl.LightningDataModule
) -> float | None:
    """``val/<module.quality_metric>`` of ``trainer.validate``, or ``None`` when it was not logged."""
    results = trainer.validate(module, datamodule=datamodule, verbose=False)
    key = f"val/{module.quality_metric}"
    return float(results[0][key]) if results and key in results[0] else None


def validation_stage(
    parts: RunParts, baseline: TaskModule, pruned: TaskModule | None = None
) -> ValidationResult:
    """Validate ``baseline`` and, for a pruning run, ``pruned`` on the validation split.

    Nothing is measured with ``test: false``, when the data has no validation split of its own, or while a process
    group is up (a run without pruning under DDP: rank 0 alone would wait for the others in the metrics' sync).
    """
    cfg = parts.cfg
    if not cfg.get("test") or not has_validation_split(parts.datamodule):
        return ValidationResult()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        log.info("validation figures not measured: a process group is up (DDP run without pruning)")
        return ValidationResult()
    start = time.perf_counter()
    trainer = build_trainer(
        cfg,
        callbacks=[],
        loggers=False,
        devices=1,
        num_nodes=1,
        strategy="auto",
        sync_batchnorm=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    result = ValidationResult(baseline=validate_module(trainer, baseline, parts.datamodule))
    if pruned is not None:
        result.pruned = validate_module(trainer, pruned, parts.datamodule)
    result.seconds = time.perf_counter() - start
    return result
