"""Structured channel pruning: criteria, statistics, dependency-aware removal and replay."""

from prunescope.pruning.api import (
    PruningPlan,
    PruningResult,
    channel_ratio_for,
    count_macs,
    count_params,
    make_criterion,
    plan_pruning,
    prunable_layers,
    prunable_units,
    prune,
    replay,
    target_count,
)
from prunescope.pruning.criteria import CRITERIA
from prunescope.pruning.target import TARGETS, TargetMatch

__all__ = [
    "CRITERIA",
    "PruningPlan",
    "PruningResult",
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
    "target_count",
]
