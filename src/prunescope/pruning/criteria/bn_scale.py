"""BatchNorm scale (network slimming, Liu et al., ICCV 2017)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from prunescope.pruning.criteria.base import Criterion
from prunescope.pruning.criteria.registry import register_criterion
from prunescope.pruning.groups import ChannelUnit
from prunescope.pruning.selection import Limits


@register_criterion("bn_scale")
class BNScaleCriterion(Criterion):
    """``s_c = sum_b |gamma_{b,c}|`` over the affine BatchNorms b on the unit's channels.

    Units without an affine BatchNorm have no score and are left intact (the ratio counts the others).
    """

    def __call__(self, unit: ChannelUnit) -> torch.Tensor:
        norms = [m for m in unit.norms if m.module.affine]
        return unit.scatter(norms, [m.module.weight.detach()[m.idxs].abs() for m in norms])

    def select(
        self, units: Sequence[ChannelUnit], ratio: float, scope: str, limits: Limits
    ) -> dict[str, list[int]]:
        scored = [u for u in units if any(m.module.affine for m in u.norms)]
        chosen = super().select(scored, ratio, scope, limits)
        return {u.name: chosen.get(u.name, []) for u in units}
