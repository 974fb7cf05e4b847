"""ISD: influence x spatial deviation, z-scored per layer (López-González et al., Neural Networks 2024).

``s_c = (NCI_c / max_l NCI) (MSD_c / max_l MSD)`` with ``MSD_c`` the mean over calibration images of the spatial
std of channel c as the next layers receive it (see :mod:`prunescope.pruning.statistics`; averaged over the
unit's readers that see more than one position per image; ``MSD = 1`` when none does, e.g. a linear after global
pooling or the units of a hidden Linear (1 x 1 maps), so that ``s`` is NCI alone); ``z_c = (s_c - mu_l) / sigma_l`` per layer (population std; ``z = 0`` if
``sigma_l = 0``). Ratio mode removes the lowest z (globally, or per layer under local scope); threshold mode
(``alpha``) removes every channel with ``z_c < -alpha``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch_pruning as tp
from torch import nn

from prunescope.pruning.criteria.base import Criterion
from prunescope.pruning.criteria.next_conv_influence import next_conv_influence
from prunescope.pruning.criteria.registry import register_criterion
from prunescope.pruning.groups import ChannelUnit
from prunescope.pruning.selection import Limits, lowest
from prunescope.pruning.statistics import collect_unit_statistics


def layer_z_scores(nci: torch.Tensor, msd: torch.Tensor) -> torch.Tensor:
    """``z`` of ``s = (nci / max nci) (msd / max msd)`` within one layer (float64)."""
    nci, msd = nci.to(torch.float64), msd.to(torch.float64)
    score = (nci / nci.max() if nci.max() > 0 else nci) * (msd / msd.max() if msd.max() > 0 else msd)
    sigma = score.std(correction=0)
    if sigma <= 0:
        return torch.zeros_like(score)
    return (score - score.mean()) / sigma


@register_criterion("isd")
class ISDCriterion(Criterion):
    """Scores are per-layer z-scores of NCI x MSD (see module docstring).

    Options:
        alpha: Threshold mode: remove channels with ``z < -alpha`` (``ratio`` unused); ``None``: meet ``ratio``.

    MSD is averaged over the unit's readers with spatial extent (see module docstring).
    """

    needs_calibration = True

    def __init__(self, alpha: float | None = None) -> None:
        if alpha is not None and float(alpha) < 0:
            raise ValueError(f"isd alpha must be >= 0, got {alpha}")
        self.alpha = None if alpha is None else float(alpha)
        self.msd: dict[str, torch.Tensor] = {}

    @property
    def uses_ratio(self) -> bool:
        return self.alpha is None

    def prepare(
        self,
        model: nn.Module,
        graph: tp.DependencyGraph,
        units: Sequence[ChannelUnit],
        calibration: Iterable | None,
        batches: int,
    ) -> None:
        stats = collect_unit_statistics(model, units, calibration, batches, with_covariance=False)
        self.msd = {}
        for unit in units:
            spatial = [s.spatial_std_mean for s in stats[unit.name] if s.spatial]
            self.msd[unit.name] = (
                torch.stack(spatial).mean(dim=0)
                if spatial
                else torch.ones(unit.channels, dtype=torch.float64)
            )

    def __call__(self, unit: ChannelUnit) -> torch.Tensor:
        return layer_z_scores(next_conv_influence(unit), self.msd[unit.name])

    def normalise(self, scores: torch.Tensor) -> torch.Tensor:
        return scores

    def select(
        self, units: Sequence[ChannelUnit], ratio: float, scope: str, limits: Limits
    ) -> dict[str, list[int]]:
        if self.alpha is None:
            return super().select(units, ratio, scope, limits)
        removal = {}
        for unit in units:
            z = self.scores(unit)
            wanted = int((z < -self.alpha).sum())
            removal[unit.name] = lowest(z, limits.removal(unit.channels, wanted))
        return removal
