"""The U-Net level search: the most deepest levels whose removal the validation metric allows after a short fit.

Each candidate is a copy of the module that loses ``k`` levels (:func:`prunescope.pruning.layers.remove_unet_levels`),
is fine-tuned in its own ``pl.Trainer`` and validated.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytorch_lightning as pl

from prunescope.pruning.layers import remove_unet_levels, require_level_pruning


def main_val_metric(module: pl.LightningModule) -> str:
    """Logged key of the module's main validation metric: ``val/<quality_metric>`` (``val/miou`` or ``val/acc``)."""
    quality = getattr(module, "quality_metric", None)
    if quality is None:
        quality = "miou" if getattr(module.net, "task", "segmentation") == "segmentation" else "acc"
    return f"val/{quality}"


@dataclass
class LevelSearch:
    """Result of :func:`choose_unet_levels`.

    Attributes:
        levels: chosen number of removed levels ``k`` (0 when none is within tolerance).
        metric: logged key compared (``val/miou`` or ``val/acc``).
        baseline: validation metric of the unmodified model.
        scores: validation metric after removing ``k`` levels and fine-tuning, for every tried ``k >= 1``.
    """

    levels: int
    metric: str
    baseline: float
    scores: dict[int, float] = field(default_factory=dict)

    def drop(self, k: int) -> float:
        """Absolute drop ``baseline - scores[k]``."""
        return self.baseline - self.scores[k]


def choose_unet_levels(
    module: pl.LightningModule,
    datamodule: pl.LightningDataModule,
    tolerance: float,
    finetune_epochs: int = 1,
    prepare: Callable[[pl.LightningModule, int], None] | None = None,
    trainer_kwargs: dict[str, Any] | None = None,
) -> LevelSearch:
    """Pick the largest ``k`` whose validation drop after a short fine-tune stays within ``tolerance``.

    For every ``k = 1..depth-1`` a deep copy of ``module`` loses its ``k`` deepest levels, is fine-tuned for
    ``finetune_epochs`` epochs in a fresh ``pl.Trainer`` and validated; ``k`` qualifies when
    ``baseline - metric_k <= tolerance`` (absolute drop of :func:`main_val_metric`), where ``baseline`` is the
    validation metric of the unmodified ``module``. ``module`` itself is not changed.

    Args:
        module: LightningModule with ``.net`` supporting level pruning (need not be attached to a trainer).
        datamodule: data for fine-tuning and validation.
        tolerance: largest accepted absolute metric drop, >= 0.
        finetune_epochs: epochs of fine-tuning per candidate (0 = validate right after the removal).
        prepare: called as ``prepare(candidate_module, finetune_epochs)`` before fine-tuning a candidate (e.g. to set
            its optimizer / LR schedule).
        trainer_kwargs: extra ``pl.Trainer`` arguments (accelerator, devices, precision, limit_*_batches, ...).

    Raises:
        ValueError: the network does not support level pruning, ``tolerance < 0`` or ``finetune_epochs < 0``.
    """
    require_level_pruning(module.net)
    if tolerance < 0:
        raise ValueError(f"layers.tolerance must be >= 0, got {tolerance}")
    if finetune_epochs < 0:
        raise ValueError(f"layers.finetune_epochs must be >= 0, got {finetune_epochs}")
    metric = main_val_metric(module)
    kwargs = {
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        **(trainer_kwargs or {}),
    }
    attached_trainer = datamodule.trainer
    try:
        baseline = _validate(copy.deepcopy(module), datamodule, metric, kwargs)
        search = LevelSearch(levels=0, metric=metric, baseline=baseline)
        for k in range(1, module.net.depth):
            candidate = copy.deepcopy(module)
            remove_unet_levels(candidate.net, k)
            if finetune_epochs > 0:
                if prepare is not None:
                    prepare(candidate, finetune_epochs)
                pl.Trainer(max_epochs=finetune_epochs, **kwargs).fit(candidate, datamodule=datamodule)
            search.scores[k] = _validate(candidate, datamodule, metric, kwargs)
            if search.drop(k) <= tolerance:
                search.levels = k
    finally:
        datamodule.trainer = attached_trainer
    return search


def _validate(
    module: pl.LightningModule, datamodule: pl.LightningDataModule, metric: str, kwargs: dict
) -> float:
    results = pl.Trainer(**kwargs).validate(module, datamodule=datamodule, verbose=False)
    if not results or metric not in results[0]:
        raise KeyError(f"validation did not log {metric!r}; logged: {sorted(results[0]) if results else []}")
    return float(results[0][metric])
