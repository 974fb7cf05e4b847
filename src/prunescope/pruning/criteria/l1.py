"""L1 filter norm (Li et al., ICLR 2017)."""

from __future__ import annotations

import torch

from prunescope.pruning.criteria.base import Criterion
from prunescope.pruning.criteria.registry import register_criterion
from prunescope.pruning.groups import ChannelUnit


@register_criterion("l1")
class L1Criterion(Criterion):
    """``s_c = sum_l ||F_{l,c}||_1`` over the unit's producer convs l (one conv unless channels are coupled)."""

    def __call__(self, unit: ChannelUnit) -> torch.Tensor:
        return unit.scatter(unit.producers, [m.filters().abs().sum(dim=1) for m in unit.producers])
