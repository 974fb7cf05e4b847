"""Structured channel pruning: criteria, statistics, dependency-aware removal and replay."""

from prunescope.pruning.api import (
    PruningPlan,
    PruningResult,
    apply_plan,
    count_macs,
    count_params,
    make_criterion,
    plan_pruning,
    prunable_layers,
    prunable_units,
    prune,
    replay,
    round_channels_down,
)
from prunescope.pruning.criteria import CRITERIA

__all__ = [
    "CRITERIA",
    "PruningPlan",
    "PruningResult",
    "apply_plan",
    "count_macs",
    "count_params",
    "make_criterion",
    "plan_pruning",
    "prunable_layers",
    "prunable_units",
    "prune",
    "replay",
    "round_channels_down",
]
