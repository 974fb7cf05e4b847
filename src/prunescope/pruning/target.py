"""Matched-cost targets: the channel ratio that removes a given fraction of parameters or MACs.

``target="channels"`` (default) reads ``ratio`` as the fraction of prunable filters removed (see
:mod:`prunescope.pruning.selection`). ``target="params"`` / ``"macs"`` reads it as the fraction of the model's
parameters / MACs removed (every layer counted, also those never pruned). The criterion is prepared once
(statistics, gradients); the channel ratio ``R`` is then found by bisection on the criterion's selection at ``R``
and the exact counts that selection would leave (:class:`prunescope.pruning.plan_cost.PlanCost`), which grow
with ``R``. The ``R`` whose count is closest to the asked fraction is kept; a miss larger than ``tolerance``
(a ratio that the discrete channel counts cannot reach, e.g. few channels under local scope) is an error.

``target="params+macs"`` reads ``ratio`` as the parameter drop and ``macs_ratio`` as the MAC drop, reached together
(:func:`match_pair`, global scope): unit u's normalised scores are divided by ``f_u = (d_u / mean d)^alpha``, ``d_u``
the MACs per parameter its channels carry (:func:`unit_densities`; geometric mean); alpha > 0 removes the
MAC-dense units (early, high-resolution layers) first. For each alpha the params target is met as above; alpha is
bisected until the MAC drop lands within ``PAIR_TOLERANCE`` of ``macs_ratio``. A pair the extremes of alpha do
not span raises :class:`UnreachablePair`.

Threshold modes (pca_nci ``variance``, isd ``alpha``) set the amount themselves and refuse a cost target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from prunescope.pruning.criteria.base import Criterion
from prunescope.pruning.groups import ChannelUnit
from prunescope.pruning.plan_cost import PlanCost
from prunescope.pruning.selection import Limits, choose_removal

PAIR = "params+macs"
TARGETS = ("channels", "params", "macs", PAIR)
TOLERANCE = 0.005  # largest accepted |achieved - asked| fraction (0.5 points)
PAIR_TOLERANCE = 0.01  # target=params+macs: largest accepted miss of either drop (1 point)
EXPONENT_REACH = 60.0  # the extreme cost exponents scale the units' scores by up to e^60 against each other
RATIO_CEILING = 1.0 - 1e-9  # largest channel ratio probed (ratios are in [0, 1))


class UnreachableRatio(ValueError):
    """``pruning.ratio`` asks for more than the network can lose: every layer keeps ``min_channels`` (rounded up to
    ``round_to``) and output / ignored layers are never pruned (:func:`removable_fraction`)."""


class UnreachablePair(UnreachableRatio):
    """``target="params+macs"``: no cost exponent brings the MAC drop within ``PAIR_TOLERANCE`` of ``macs_ratio`` at
    the asked parameter drop (the message says how far the exponent got)."""


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
    return PlanCost(model, example_inputs, units).drop(removal, "params" if target == PAIR else target)


@dataclass(frozen=True)
class TargetMatch:
    """Channel ratio found for a cost target.

    Attributes:
        target: ``"params"``, ``"macs"`` or ``"params+macs"``.
        fraction: Asked fraction of the target count (``params+macs``: of the parameters) to remove.
        ratio: Channel ratio passed to the criterion's selection.
        achieved: Fraction that selection removes (exact count).
        probes: Selections evaluated.
        exponent: ``params+macs``: the cost exponent alpha found (the criterion keeps its weights).
        macs_fraction: ``params+macs``: asked fraction of the MACs to remove.
        macs_achieved: ``params+macs``: fraction of the MACs that selection removes.
    """

    target: str
    fraction: float
    ratio: float
    achieved: float
    probes: int
    exponent: float | None = None
    macs_fraction: float | None = None
    macs_achieved: float | None = None


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
    cost: PlanCost | None = None,
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
        cost: The :class:`PlanCost` of ``model`` and ``units`` when the caller has one (it is built otherwise).

    Raises:
        ValueError: ``fraction`` is out of reach (more than the largest selection removes, less than the
            smallest, or no ratio lands within ``tolerance``).
    """
    cost = cost if cost is not None else PlanCost(model, example_inputs, units)
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


def unit_densities(cost: PlanCost, units: Sequence[ChannelUnit]) -> dict[str, float]:
    """MACs per parameter each unit's channels carry: ``d_u = M_u / P_u``, the MACs and parameters that removing
    all of its channels would save (counted by ``cost``, limits ignored; consumers' inputs included)."""
    densities = {}
    for unit in units:
        params, macs = cost.counts({unit.name: list(range(unit.channels))})
        densities[unit.name] = max(cost.macs - macs, 1) / max(cost.params - params, 1)
    return densities


def cost_weights(densities: dict[str, float], exponent: float) -> dict[str, float]:
    """``f_u = (d_u / mean d)^exponent`` (geometric mean): the divisors of the units' normalised scores."""
    logs = {name: math.log(value) for name, value in densities.items()}
    mean = sum(logs.values()) / len(logs)
    return {name: math.exp(exponent * (value - mean)) for name, value in logs.items()}


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.1f} %"


def match_pair(
    model: nn.Module,
    example_inputs: torch.Tensor,
    units: Sequence[ChannelUnit],
    criterion: Criterion,
    scope: str,
    limits: Limits,
    fraction: float,
    macs_fraction: float,
    tolerance: float = PAIR_TOLERANCE,
    max_exponents: int = 32,
) -> TargetMatch:
    """Remove ``fraction`` of the parameters and ``macs_fraction`` of the MACs at once (``target="params+macs"``).

    The criterion's global ranking divides unit u's normalised scores by ``f_u = (d_u / mean d)^alpha``
    (:func:`unit_densities`, :func:`cost_weights`); for each alpha, :func:`match_target` meets the parameter drop
    and the MAC drop of that selection is counted. The MAC drop grows with alpha (MAC-dense units go first); alpha
    is bisected between 0 and the extreme ``±EXPONENT_REACH / (max log d - min log d)`` on the side of the target
    until the MAC drop is within a quarter of ``tolerance``. On return ``criterion.cost_weights`` holds the weights
    of the alpha found, so :func:`~prunescope.pruning.selection.choose_removal` at ``ratio`` gives the selection.

    Raises:
        ValueError: ``scope`` is not ``"global"`` (local scope removes the same fraction of every unit: there is
            no ranking across units to weight).
        UnreachablePair: The MAC drop at the parameter drop stays more than ``tolerance`` from ``macs_fraction``
            for every alpha (one line: the span reached and the asked drop), or the parameter drop cannot be met.
    """
    if scope != "global":
        raise ValueError(
            f"target={PAIR} needs scope=global (got {scope!r}): local scope removes the same fraction of every "
            "layer, so the MACs follow from the parameters; use scope=global or target=params"
        )
    cost = PlanCost(model, example_inputs, units)
    densities = unit_densities(cost, units)
    logs = [math.log(value) for value in densities.values()]
    spread = max(logs) - min(logs) if logs else 0.0
    reach = EXPONENT_REACH / spread if spread > 1e-9 else 0.0
    network = (model, example_inputs, units, criterion, scope, limits)
    probes = 0
    seen: dict[float, tuple[TargetMatch, float]] = {}  # exponent -> (params match, MAC drop)

    def probe(exponent: float) -> float:
        nonlocal probes
        if exponent not in seen:
            criterion.cost_weights = cost_weights(densities, exponent)
            try:
                match = match_target(*network, "params", fraction, tolerance, cost=cost)
            except ValueError as error:
                raise UnreachablePair(f"{PAIR}: at cost exponent {exponent:.3g}, {error}") from None
            probes += match.probes + 1
            removal = choose_removal(criterion, units, match.ratio, scope, limits)
            seen[exponent] = (match, cost.drop(removal, "macs"))
        return seen[exponent][1]

    def miss(exponent: float) -> float:
        return probe(exponent) - macs_fraction

    start = miss(0.0)
    near, far = 0.0, reach if start < 0 else -reach
    bracketed = abs(start) <= tolerance / 4
    # the MAC drop grows with the exponent: the first edge brackets unless the asked drop is out of reach
    for edge in (far, -far):
        if bracketed or miss(edge) * start >= 0:
            continue
        bracketed, far = True, edge
        while len(seen) < max_exponents and abs(far - near) > 1e-6 * reach:
            middle = (near + far) / 2
            if abs(miss(middle)) <= tolerance / 4:
                break
            if miss(middle) * start > 0:
                near = middle
            else:
                far = middle
    best = min(seen, key=lambda exponent: (abs(seen[exponent][1] - macs_fraction), abs(exponent)))
    match, macs = seen[best]
    if abs(macs - macs_fraction) > tolerance:
        params = _pct(match.achieved)
        if not bracketed:  # the asked drop lies beyond what the extreme exponents give
            values = [drop for _, drop in seen.values()]
            raise UnreachablePair(
                f"{PAIR}: at -{params} params the MACs drop spans {100 * min(values):.1f}-{_pct(max(values))} over the "
                f"cost exponent (-{reach:.3g}..{reach:.3g}); -{_pct(macs_fraction)} is out of reach for "
                f"{criterion.name}: choose pruning.macs_ratio in that span or another pruning.ratio"
            )
        raise UnreachablePair(
            f"{PAIR}: at -{params} params the MACs drop jumps from {_pct(probe(near))} to {_pct(probe(far))} "
            f"between cost exponents {near:.4g} and {far:.4g}; -{_pct(macs_fraction)} cannot be matched within "
            f"{100 * tolerance:g} point(s) ({criterion.name} scores tied across units, or one unit holds that much)"
        )
    criterion.cost_weights = cost_weights(densities, best)
    return TargetMatch(PAIR, float(fraction), match.ratio, match.achieved, probes, best, macs_fraction, macs)
