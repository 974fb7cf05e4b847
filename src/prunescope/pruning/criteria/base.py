"""Base class of channel-importance criteria: a unit in, one score per channel out (higher = keep)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

import torch
import torch_pruning as tp
from torch import nn

from prunescope.pruning.groups import ChannelUnit
from prunescope.pruning.selection import Limits, mean_normalised, select_by_rank


class Criterion:
    """Scores the channels of a unit; :meth:`select` turns scores into channels to remove.

    Subclasses register with ``@register_criterion(name)`` (which sets ``name``), implement ``__call__`` and, when
    they need data, ``prepare``.
    ``needs_calibration`` tells the caller that ``prepare`` reads calibration batches.
    """

    name: ClassVar[str] = ""
    needs_calibration: ClassVar[bool] = False
    _scores: dict[str, tuple[ChannelUnit, torch.Tensor]] | None = None
    cost_weights: dict[str, float] | None = None
    """Unit name -> divisor of the unit's normalised scores in a global ranking (``target="params+macs"`` sets it,
    :func:`prunescope.pruning.target.match_pair`); ``None``: the plain ranking."""

    @property
    def uses_ratio(self) -> bool:
        """Whether the amount removed comes from ``ratio`` (False in threshold modes)."""
        return True

    def prepare(
        self,
        model: nn.Module,
        graph: tp.DependencyGraph,
        units: Sequence[ChannelUnit],
        calibration: Iterable | None,
        batches: int,
    ) -> None:
        """Gather what scoring needs (statistics, gradients); nothing by default."""

    def __call__(self, unit: ChannelUnit) -> torch.Tensor:
        """Score per channel of ``unit`` (length C, higher = keep)."""
        raise NotImplementedError

    def scores(self, unit: ChannelUnit) -> torch.Tensor:
        """``self(unit)``, computed once per unit: selections at several ratios rank the same scores.

        Call after :meth:`prepare`; the cached scores belong to this criterion instance and those unit objects.
        """
        if self._scores is None:
            self._scores = {}
        cached = self._scores.get(unit.name)
        if cached is None or cached[0] is not unit:
            cached = self._scores[unit.name] = (unit, self(unit))
        return cached[1]

    def normalise(self, scores: torch.Tensor) -> torch.Tensor:
        """Transform applied before global ranking (default ``s / mean(s)``)."""
        return mean_normalised(scores)

    def select(
        self, units: Sequence[ChannelUnit], ratio: float, scope: str, limits: Limits
    ) -> dict[str, list[int]]:
        """Channels to remove per unit name (default: rank scores, see ``select_by_rank``)."""
        scores = {unit.name: self.scores(unit) for unit in units}
        return select_by_rank(
            units, scores, ratio, scope, limits, normalise=self.normalise, factors=self.cost_weights
        )
