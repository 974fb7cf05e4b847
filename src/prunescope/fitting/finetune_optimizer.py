"""The optimizer and LR schedule of a fine-tune segment: the LR restarts at ``finetune.lr`` after every step.

The module's ``optimizer_factory`` / ``scheduler_factory`` are replaced; the caller then rebuilds the optimizers
(``trainer.strategy.setup_optimizers(trainer)``) so they hold the current, pruned parameters.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from prunescope.modules import TaskModule
from prunescope.pruning.options import FINETUNE_SCHEDULES, FinetuneOptions


def segment_scheduler(options: FinetuneOptions, periods: int) -> Any:
    """Partial LR scheduler of one segment of ``periods`` scheduler steps (epochs, or optimizer steps).

    - ``cosine``: ``lr(t) = lr_0 · (1 + cos(π t / T))/2``, ``T = periods``;
    - ``constant``: ``lr(t) = lr_0``;
    - ``step``: ``lr_0 · gamma^k`` after ``k`` of the milestones ``⌊T/2⌋``, ``⌊3T/4⌋``.
    """
    periods = max(1, int(periods))
    if options.schedule == "cosine":
        return functools.partial(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=periods)
    if options.schedule == "constant":
        return functools.partial(torch.optim.lr_scheduler.ConstantLR, factor=1.0, total_iters=0)
    if options.schedule == "step":
        milestones = sorted({max(1, periods // 2), max(1, (3 * periods) // 4)})
        return functools.partial(
            torch.optim.lr_scheduler.MultiStepLR, milestones=milestones, gamma=options.gamma
        )
    raise ValueError(
        f"unknown finetune.schedule {options.schedule!r}; valid: {', '.join(FINETUNE_SCHEDULES)}"
    )


def install_finetune_optimizer(module: TaskModule, options: FinetuneOptions, periods: int) -> None:
    """Make ``module`` build its optimizer at ``options.lr`` (and ``options.optimizer``'s arguments) with the
    segment's LR schedule over ``periods`` (and no warm-up: the LR restart is the fine-tune's schedule)."""
    module.optimizer_factory = functools.partial(module.optimizer_factory, **options.optimizer, lr=options.lr)
    module.scheduler_factory = segment_scheduler(options, periods)
    module.warmup_fraction = 0.0
