"""Structured channel pruning as a library: criteria, statistics, dependency-aware removal and replay.

It imports torch, Torch-Pruning, numpy, :mod:`prunescope.metrics` and :mod:`prunescope.fp32` only; what drives a
Lightning fit around it (the pruning callback, the fine-tune optimizer, DDP steps, the U-Net level search) lives in
:mod:`prunescope.fitting`.
"""

from prunescope.pruning.api import (
    PruningPlan,
    PruningResult,
    apply_plan,
    channel_ratio_for,
    count_macs,
    count_params,
    plan_pruning,
    prunable_layers,
    prunable_units,
    prune,
    replay,
    round_channels_down,
    target_count,
)
from prunescope.pruning.criteria import CRITERIA, make_criterion, register_criterion
from prunescope.pruning.options import PruningConfig, PruningOptions
from prunescope.pruning.target import TARGETS, TargetMatch

__all__ = [
    "CRITERIA",
    "PruningConfig",
    "PruningOptions",
    "PruningPlan",
    "PruningResult",
    "apply_plan",
    "TARGETS",
    "TargetMatch",
    "channel_ratio_for",
    "count_macs",
    "count_params",
    "make_criterion",
    "register_criterion",
    "plan_pruning",
    "prunable_layers",
    "prunable_units",
    "prune",
    "replay",
    "round_channels_down",
    "target_count",
]
