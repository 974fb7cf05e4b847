"""Structured channel pruning: criteria, statistics, dependency-aware removal and replay."""

from prunescope.pruning.api import (
    PruningPlan,
    PruningResult,
    apply_plan,
    make_criterion,
    plan_pruning,
    prunable_layers,
    prunable_units,
    prune,
    replay,
    round_channels_down,
)
from prunescope.pruning.criteria import CRITERIA
from prunescope.pruning.options import PruningConfig, PruningOptions

__all__ = [
    "CRITERIA",
    "PruningConfig",
    "PruningOptions",
    "PruningPlan",
    "PruningResult",
    "apply_plan",
    "make_criterion",
    "plan_pruning",
    "prunable_layers",
    "prunable_units",
    "prune",
    "replay",
    "round_channels_down",
]
