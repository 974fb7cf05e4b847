"""Filter pruning via geometric median (He et al., CVPR 2019)."""

from __future__ import annotations

import torch

from prunescope.pruning.criteria.base import Criterion
from prunescope.pruning.criteria.registry import register_criterion
from prunescope.pruning.groups import ChannelUnit


@register_criterion("fpgm")
class FPGMCriterion(Criterion):
    """``s_c = sum_j ||F_c - F_j||_2``: filters near the geometric median (small distance sum) are redundant.

    With coupled producers the filters of all producer convs are concatenated per channel.
    """

    def __call__(self, unit: ChannelUnit) -> torch.Tensor:
        rows = torch.zeros(unit.channels, 0)
        for member in unit.producers:
            block = torch.zeros(unit.channels, member.filters().shape[1])
            block[member.root_idxs] = member.filters().float().cpu()
            rows = torch.cat([rows, block], dim=1)
        return torch.cdist(rows, rows, p=2).sum(dim=1).double()
