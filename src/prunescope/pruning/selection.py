"""How many channels each unit loses, and which: ranking under a ratio, with per-unit limits.

``ratio`` R counts filters: a unit with C channels and w producer layers holds w*C prunable filters. Global scope
removes the globally lowest (normalised) scores until ``sum_u w_u n_u >= R sum_u w_u C_u``; local scope removes
``round(R C_u)`` channels of lowest score in every unit, rounding half down with a tie-break by unit position
(:func:`local_count`) so that units of equal width gain a channel at slightly different ratios and a cost target
(:mod:`prunescope.pruning.target`) can be met one channel at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from prunescope.pruning.groups import ChannelUnit

if TYPE_CHECKING:
    from prunescope.pruning.criteria.base import Criterion


@dataclass(frozen=True)
class Limits:
    """Per-unit constraints on the number of kept channels.

    Attributes:
        min_channels: A unit keeps at least this many channels (never emptied).
        round_to: Kept counts are rounded up to a multiple of this (``None``: no rounding).
    """

    min_channels: int = 1
    round_to: int | None = None

    def removal(self, channels: int, wanted: int) -> int:
        """Channels actually removed from a unit of ``channels`` when ``wanted`` are asked for."""
        kept = channels - max(0, min(wanted, channels))
        if self.round_to:
            kept = math.ceil(kept / self.round_to) * self.round_to
        floor = max(self.min_channels, self.round_to or 1)
        kept = min(channels, max(kept, floor))
        return channels - kept

    def max_removal(self, channels: int) -> int:
        """Most channels a unit may lose."""
        return self.removal(channels, channels)


LOCAL_TIE_STEP = 1e-7


def local_count(ratio: float, channels: int, position: int) -> int:
    """Channels removed from the ``position``-th unit under local scope: ``floor(R C + 1/2 - (position + 1) e)``.

    ``e = 1e-7``: ``round(R C)`` except within ``(position + 1) e`` of a half, where the later unit rounds down.
    """
    return max(0, math.floor(ratio * channels + 0.5 - (position + 1) * LOCAL_TIE_STEP))


def lowest(scores: torch.Tensor, count: int) -> list[int]:
    """Indices of the ``count`` lowest scores (stable: ties broken by index), sorted."""
    if count <= 0:
        return []
    order = torch.sort(scores.to(torch.float64), stable=True).indices[:count]
    return sorted(int(i) for i in order)


def mean_normalised(scores: torch.Tensor) -> torch.Tensor:
    """``s / mean(s)`` so that units of different scale compete fairly under global scope (Torch-Pruning default)."""
    mean = scores.mean()
    return scores / mean if mean > 0 else scores


def select_by_rank(
    units: Sequence[ChannelUnit],
    scores: dict[str, torch.Tensor],
    ratio: float,
    scope: str,
    limits: Limits,
    normalise: Callable[[torch.Tensor], torch.Tensor] = mean_normalised,
    factors: Mapping[str, float] | None = None,
) -> dict[str, list[int]]:
    """Channels to remove per unit (unit name -> sorted indices), lowest scores first.

    Args:
        units: Prunable units.
        scores: Unit name -> score per channel (higher = keep).
        ratio: Fraction of filters removed, in [0, 1).
        scope: ``"global"`` (rank across units on normalised scores) or ``"local"`` (ratio per unit).
        limits: Per-unit constraints.
        normalise: Score transform applied before the global ranking.
        factors: Global scope: unit name -> divisor of its normalised scores (the cost weights of
            ``target="params+macs"``, :func:`prunescope.pruning.target.cost_weights`; negative scores are first
            shifted, all by the same amount, to >= 0); ``None``: the scores as they are.
    """
    if scope == "local":
        return {
            u.name: lowest(
                scores[u.name], limits.removal(u.channels, local_count(ratio, u.channels, position))
            )
            for position, u in enumerate(units)
        }
    normalised = {u.name: normalise(scores[u.name].to(torch.float64)) for u in units}
    if factors is not None and normalised:
        # scores can be negative (isd z-scores): shift them all alike so that every key is >= 0, then divide
        offset = min(0.0, min(float(values.min()) for values in normalised.values() if len(values)))
        normalised = {name: (values - offset) / float(factors[name]) for name, values in normalised.items()}
    candidates = sorted(
        (
            (float(normalised[u.name][c]), position, c)
            for position, u in enumerate(units)
            for c in range(u.channels)
        ),
    )
    target = ratio * sum(u.weight * u.channels for u in units)
    counts = [0] * len(units)
    ceilings = [limits.max_removal(u.channels) for u in units]
    removed = 0.0
    for _, position, _ in candidates:
        if removed >= target - 1e-9:
            break
        if counts[position] < ceilings[position]:
            counts[position] += 1
            removed += units[position].weight
    return {
        u.name: lowest(normalised[u.name], limits.removal(u.channels, counts[position]))
        for position, u in enumerate(units)
    }


def protect_producers(
    unit: ChannelUnit, remove: Sequence[int], scores: torch.Tensor, limits: Limits
) -> list[int]:
    """Give back removed channels so that every producer layer keeps at least ``min_channels`` of its own.

    A unit can span several producers holding different channels (e.g. a depthwise conv reading a concatenation
    of two convs); the unit-level limit alone could empty one of them. The highest-scoring removed channels of a
    starved producer are restored.
    """
    removed = set(int(i) for i in remove)
    for member in unit.producers:
        own = sorted(set(member.root_idxs))
        need = min(limits.min_channels, len(own)) - sum(1 for c in own if c not in removed)
        if need > 0:
            candidates = sorted((c for c in own if c in removed), key=lambda c: -float(scores[c]))
            removed -= set(candidates[:need])
    return sorted(removed)


def choose_removal(
    criterion: Criterion, units: Sequence[ChannelUnit], ratio: float, scope: str, limits: Limits
) -> dict[str, list[int]]:
    """Channels to remove per unit name: the criterion's selection at ``ratio``, then :func:`protect_producers`.

    ``criterion`` must be prepared (statistics gathered); calling this again with another ratio re-selects only.
    """
    removal = criterion.select(units, float(ratio), scope, limits)
    return {u.name: protect_producers(u, removal[u.name], criterion.scores(u), limits) for u in units}
