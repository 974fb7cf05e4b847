"""L1 filter norm (Li et al., ICLR 2017)."""

from __future__ import annotations

import torch

from prunescope.pruning.criteria.base import Criterion
from prunescope.pruning.groups import ChannelUnit


class L1Criterion(Criterion):
    """``s_c = sum_l ||F_{l,c}||_1`` over the unit's producer convs l (one conv unless channels are coupled)."""

    name = "l1"

    def __call__(self, unit: ChannelUnit) -> torch.Tensor:
        return unit.scatter(unit.producers, [m.filters().abs().sum(dim=1) for m in unit.producers])
