"""Matched-cost targets: the channel ratio that removes a given fraction of parameters or MACs.

``target="channels"`` (default) reads ``ratio`` as the fraction of prunable filters removed (see
:mod:`prunescope.pruning.selection`). ``target="params"`` / ``"macs"`` reads it as the fraction of the model's
parameters / MACs removed (every layer counted, also those never pruned). The criterion is prepared once
(statistics, gradients); the channel ratio ``R`` is then found by bisection on the criterion's selection at ``R``
and the exact counts that selection would leave (:class:`prunescope.pruning.plan_cost.PlanCost`), which grow
with ``R``. The ``R`` whose count is closest to the asked fraction is kept; a miss larger than ``tolerance``
(a ratio that the discrete channel counts cannot reach, e.g. few channels under local scope) is an error.

Threshold modes (pca_nci ``variance``, isd ``alpha``) set the amount themselves and refuse a cost target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from prunescope.pruning.criteria.base import Criterion
from prunescope.pruning.groups import ChannelUnit
from prunescope.pruning.plan_cost import PlanCost
from prunescope.pruning.selection import Limits, choose_removal

TARGETS = ("channels", "params", "macs")
TOLERANCE = 0.005  # largest accepted |achieved - asked| fraction (0.5 points)
RATIO_CEILING = 1.0 - 1e-9  # largest channel ratio probed (ratios are in [0, 1))


class UnreachableRatio(ValueError):
    """``pruning.ratio`` asks for more than the network can lose: every layer keeps ``min_channels`` (rounded up to
    ``round_to``) and output / ignored layers are never pruned (:func:`removable_fraction`)."""


def removable_fraction(
    model: nn.Module,
    example_inputs: torch.Tensor,
    units: Sequence[ChannelUnit],
    limits: Limits,
    target: str = "channels",
) -> float:
    """Largest fraction of the ``target`` count any selection removes: every unit down to its floor.

    ``channels``: ``sum_u w_u m_u / sum_u w_u C_u`` with ``m_u`` = :meth:`Limits.max_removal` of the unit's ``C_u``
    channels; ``params`` / ``macs``: the exact counts with every unit at its floor (layers outside ``units``, the
    output and ignored ones, keep all theirs). Scores play no part, so this is known before any training.
    """
    if not units:
        return 0.0
    if target == "channels":
        total = sum(unit.weight * unit.channels for unit in units)
        return sum(unit.weight * limits.max_removal(unit.channels) for unit in units) / total
    removal = {unit.name: list(range(limits.max_removal(unit.channels))) for unit in units}
    return PlanCost(model, example_inputs, units).drop(removal, target)


@dataclass(frozen=True)
class TargetMatch:
    """Channel ratio found for a cost target.

    Attributes:
        target: ``"params"`` or ``"macs"``.
        fraction: Asked fraction of the target count to remove.
        ratio: Channel ratio passed to the criterion's selection.
        achieved: Fraction that selection removes (exact count).
        probes: Selections evaluated.
    """

    target: str
    fraction: float
    ratio: float
    achieved: float
    probes: int


def check_target(target: str, uses_ratio: bool) -> None:
    """Validate ``target`` for a criterion that does (or, in threshold mode, does not) use the ratio.

    Raises:
        ValueError: Unknown target, or a cost target with a threshold mode.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown pruning target {target!r}; valid: {', '.join(TARGETS)}")
    if target != "channels" and not uses_ratio:
        raise ValueError(
            f"target={target!r} needs a ratio: the criterion is in threshold mode (pca_nci variance / isd alpha "
            "set the amount removed); drop the threshold or use target=channels"
        )


def match_target(
    model: nn.Module,
    example_inputs: torch.Tensor,
    units: Sequence[ChannelUnit],
    criterion: Criterion,
    scope: str,
    limits: Limits,
    target: str,
    fraction: float,
    tolerance: float = TOLERANCE,
    resolution: float = 1e-13,
) -> TargetMatch:
    """Bisect the channel ratio whose selection removes ``fraction`` of the ``target`` count.

    Args:
        model: Network (not modified).
        example_inputs: Input the MACs are counted on.
        units: Prunable units of ``model``.
        criterion: Prepared criterion (its statistics are reused by every probe).
        scope: ``"global"`` or ``"local"``.
        limits: Per-unit constraints.
        target: ``"params"`` or ``"macs"``.
        fraction: Fraction of the count to remove, in [0, 1).
        tolerance: Largest accepted ``|achieved - fraction|``; the bisection stops early within a tenth of it.
        resolution: Bisection stops when the ratio interval is this narrow (local scope staggers units of
            equal width by ``1e-7 / C``, see :func:`prunescope.pruning.selection.local_count`).

    Raises:
        ValueError: ``fraction`` is out of reach (more than the largest selection removes, less than the
            smallest, or no ratio lands within ``tolerance``).
    """
    cost = PlanCost(model, example_inputs, units)
    probes = 0

    def achieved(ratio: float) -> float:
        nonlocal probes
        probes += 1
        return cost.drop(choose_removal(criterion, units, ratio, scope, limits), target)

    low, high = 0.0, RATIO_CEILING
    low_value, high_value = achieved(low), achieved(high)
    if fraction > high_value + tolerance:
        raise ValueError(
            f"target {target}={fraction:.4f} is out of reach: {scope} {criterion.name} pruning removes at most "
            f"{high_value:.4f} of the {target} (min_channels/round_to and never-pruned layers keep the rest)"
        )
    if fraction < low_value - tolerance:
        raise ValueError(
            f"target {target}={fraction:.4f} is out of reach: {scope} {criterion.name} pruning removes at least "
            f"{low_value:.4f} of the {target} (pca_nci: a layer with fewer calibration pixels than channels, or "
            "with dead channels, has fewer principal components than channels)"
        )
    while high - low > resolution and min(high_value - fraction, fraction - low_value) > tolerance / 10:
        middle = (low + high) / 2
        value = achieved(middle)
        if value >= fraction:
            high, high_value = middle, value
        else:
            low, low_value = middle, value
    ratio, value = min(
        ((low, low_value), (high, high_value)), key=lambda pair: (abs(pair[1] - fraction), pair[0])
    )
    if abs(value - fraction) > tolerance:
        raise ValueError(
            f"target {target}={fraction:.4f} cannot be matched within {tolerance}: {scope} {criterion.name} "
            f"selections jump from {low_value:.4f} to {high_value:.4f} at channel ratio {high:.6f} (one channel "
            "of a small network holds that much)"
        )
    return TargetMatch(target, float(fraction), float(ratio), float(value), probes)
