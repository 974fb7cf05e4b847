"""Stand-in networks for checking and timing the CAM/Sp2PS engine without training.

A randomly initialised network has BatchNorm running statistics (0, 1) and affine (1, 0), so in eval mode every
BatchNorm is close to an identity; ``randomise_batch_norm`` gives them non-trivial values. ``perturbed_copy`` is a
stand-in for a pruned model: the same architecture with multiplicatively perturbed weights.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def randomise_batch_norm(net: nn.Module, seed: int, bias: bool = True) -> nn.Module:
    """Draw every BatchNorm2d's running mean ~ 0.1·N(0, 1), running var ~ 0.5 + U(0, 1), weight ~ 0.5 + U(0, 1)
    and (with ``bias``) bias ~ 0.1·N(0, 1) from ``seed``; returns ``net`` in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(0.1 * torch.randn(size, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(size, generator=generator))
                module.weight.copy_(0.5 + torch.rand(size, generator=generator))
                if bias:
                    module.bias.copy_(0.1 * torch.randn(size, generator=generator))
    return net.eval()


def perturbed_copy(net: nn.Module, scale: float = 0.2, seed: int = 1) -> nn.Module:
    """A deep copy of ``net`` with every parameter multiplied by 1 + scale·N(0, 1) (drawn from ``seed``)."""
    other = copy.deepcopy(net)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in other.parameters():
            parameter.mul_(1 + scale * torch.randn(parameter.shape, generator=generator))
    return other
