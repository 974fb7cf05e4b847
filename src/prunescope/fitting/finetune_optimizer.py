"""The optimizer and LR schedule of a fine-tune segment: the LR restarts at ``finetune.lr`` after every step.

The module's ``optimizer_factory`` / ``scheduler_factory`` are replaced; the caller then rebuilds the optimizers
(``trainer.strategy.setup_optimizers(trainer)``) so they hold the current, pruned parameters.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import torch

from prunescope.modules import TaskModule
from prunescope.pruning.options import FINETUNE_SCHEDULES, FinetuneOptions


def step_milestones(periods: int) -> list[int]:
    """Milestones of the ``step`` schedule over ``periods`` scheduler steps: ``⌊T/2⌋``, ``⌊3T/4⌋`` (each >= 1)."""
    return sorted({max(1, periods // 2), max(1, (3 * periods) // 4)})


def warmup_periods(warmup_fraction: float, periods: int) -> int:
    """Warm-up steps ``W`` of a segment of ``periods`` steps: ``max(1, round(f · T))`` (at most ``T``), 0 when off."""
    if warmup_fraction <= 0:
        return 0
    return min(periods, max(1, round(warmup_fraction * periods)))


@dataclass
class WarmupThenSchedule:
    """LR factor of scheduler step ``t`` of a segment with a linear warm-up (a ``LambdaLR`` lambda).

    ``f(t) = (t + 1) / W`` for ``t < W``, then the segment schedule over the other ``R = T - W`` steps at
    ``u = t - W``: ``cosine`` ``(1 + cos(π u / R)) / 2``, ``constant`` 1, ``step`` ``gamma^k`` after ``k`` of the
    milestones ``⌊R/2⌋``, ``⌊3R/4⌋``. A dataclass, not a closure, so that ``LambdaLR.state_dict`` saves its fields
    (a resumed fine-tune continues the same schedule).
    """

    periods: int
    warmup: int
    schedule: str
    gamma: float

    def __call__(self, t: int) -> float:
        if t < self.warmup:
            return (t + 1) / self.warmup
        rest = max(1, self.periods - self.warmup)
        u = min(t - self.warmup, rest)
        if self.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * u / rest))
        if self.schedule == "step":
            return self.gamma ** sum(u >= milestone for milestone in step_milestones(rest))
        return 1.0


def segment_scheduler(options: FinetuneOptions, periods: int) -> Any:
    """Partial LR scheduler of one segment of ``periods`` scheduler steps (epochs, or optimizer steps).

    Without warm-up (``options.warmup_fraction == 0``, the default):

    - ``cosine``: ``lr(t) = lr_0 · (1 + cos(π t / T))/2``, ``T = periods``;
    - ``constant``: ``lr(t) = lr_0``;
    - ``step``: ``lr_0 · gamma^k`` after ``k`` of the milestones ``⌊T/2⌋``, ``⌊3T/4⌋``.

    With warm-up: a ``LambdaLR`` of :class:`WarmupThenSchedule` (linear warm-up over the first
    ``W = max(1, round(warmup_fraction · T))`` steps, then the schedule above over the remaining ``T - W``).
    """
    periods = max(1, int(periods))
    if options.schedule not in FINETUNE_SCHEDULES:
        raise ValueError(
            f"unknown finetune.schedule {options.schedule!r}; valid: {', '.join(FINETUNE_SCHEDULES)}"
        )
    warmup = warmup_periods(options.warmup_fraction, periods)
    if warmup > 0:
        factor = WarmupThenSchedule(periods, warmup, options.schedule, float(options.gamma))
        return functools.partial(torch.optim.lr_scheduler.LambdaLR, lr_lambda=factor)
    if options.schedule == "cosine":
        return functools.partial(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=periods)
    if options.schedule == "constant":
        return functools.partial(torch.optim.lr_scheduler.ConstantLR, factor=1.0, total_iters=0)
    return functools.partial(
        torch.optim.lr_scheduler.MultiStepLR, milestones=step_milestones(periods), gamma=options.gamma
    )


def install_finetune_optimizer(
    module: TaskModule, options: FinetuneOptions, epochs: int, steps_per_epoch: int = 1
) -> None:
    """Make ``module`` build its optimizer at ``options.lr`` (and ``options.optimizer``'s arguments) with the
    segment's LR schedule (and no baseline warm-up: the LR restart is the fine-tune's schedule).

    Args:
        module: the module being fine-tuned.
        options: the fine-tune protocol.
        epochs: epochs of the segment.
        steps_per_epoch: optimizer steps per epoch. The schedule counts optimizer steps (``epochs ·
            steps_per_epoch`` periods) when the module's scheduler steps per optimizer step, and also when
            ``options.warmup_fraction > 0``, which switches the module to ``scheduler_interval="step"`` (a warm-up
            over a fraction of a short fine-tune needs per-step LRs); else one period per epoch.
    """
    if options.warmup_fraction > 0:
        module.scheduler_interval = "step"
    periods = epochs * (steps_per_epoch if module.scheduler_interval == "step" else 1)
    module.optimizer_factory = functools.partial(module.optimizer_factory, **options.optimizer, lr=options.lr)
    module.scheduler_factory = segment_scheduler(options, periods)
    module.warmup_fraction = 0.0
