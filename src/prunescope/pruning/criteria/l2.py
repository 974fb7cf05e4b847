"""L2 filter norm."""

from __future__ import annotations

import torch

from prunescope.pruning.criteria.base import Criterion
from prunescope.pruning.criteria.registry import register_criterion
from prunescope.pruning.groups import ChannelUnit


@register_criterion("l2")
class L2Criterion(Criterion):
    """``s_c = sqrt(sum_l ||F_{l,c}||_2^2)`` over the unit's producer convs l."""

    def __call__(self, unit: ChannelUnit) -> torch.Tensor:
        squares = unit.scatter(
            unit.producers, [m.filters().double().pow(2).sum(dim=1) for m in unit.producers]
        )
        return squares.sqrt()
