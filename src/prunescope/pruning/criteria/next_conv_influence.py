"""Next-convolution influence (NCI), López-González et al., Neural Networks 2024."""

from __future__ import annotations

import torch

from prunescope.pruning.groups import ChannelUnit
from prunescope.pruning.statistics import is_depthwise


def next_conv_influence(unit: ChannelUnit) -> torch.Tensor:
    """``NCI_c = sum_j ||W_j[:, c, :, :]||_1`` over every conv/linear j reading channel c.

    Readers are the in-channel members of the unit's dependency groups (concatenations and flattening are mapped
    back to the unit's channel by Torch-Pruning's root indices) plus depthwise convs in the unit, which read
    channel c with their filter c. Returns float64, shape (C,).
    """
    readers = list(unit.consumers)
    values = [m.input_slices().abs().sum(dim=1) for m in unit.consumers]
    for member in unit.producers:
        if is_depthwise(member.module):
            readers.append(member)
            values.append(member.filters().abs().sum(dim=1))
    return unit.scatter(readers, values)
