"""Structured channel pruning: criteria, statistics, dependency-aware removal and replay."""

from prunescope.pruning.api import (
    PruningPlan,
    PruningResult,
    apply_plan,
    channel_ratio_for,
    count_macs,
    count_params,
    make_criterion,
    plan_pruning,
    prunable_layers,
    prunable_units,
    prune,
    replay,
    round_channels_down,
    target_count,
)
from prunescope.pruning.criteria import CRITERIA
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
    "plan_pruning",
    "prunable_layers",
    "prunable_units",
    "prune",
    "replay",
    "round_channels_down",
    "target_count",
]
