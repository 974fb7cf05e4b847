"""Fold eval-mode BatchNorm layers into the convolution that feeds them.

For a convolution ``y = W * x + b`` followed by ``BN(y) = gamma (y - mu) / sqrt(var + eps) + beta`` with
running statistics, the pair equals one convolution with ``W' = W · s`` (per output channel) and
``b' = (b - mu) · s + beta``, ``s = gamma / sqrt(var + eps)``. The arithmetic is PyTorch's own
(:func:`torch.nn.utils.fusion.fuse_conv_bn_eval`); this module only finds the pairs.

Pairs are read from Torch-Pruning's dependency graph (the same trace the pruning engine uses): a convolution
is folded when its output goes to exactly one consumer and that consumer is a BatchNorm. ``torch.fx``'s
``fuse`` would find the pairs by symbolic tracing, which our networks defeat (shape-dependent padding in the smp
wrappers, SegNet's per-stage unpool sizes); the dependency graph traces them by running them.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from prunescope.pruning.groups import build_graph

CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def conv_bn_pairs(net: nn.Module, example_input: torch.Tensor) -> list[tuple[str, str]]:
    """``(conv name, BatchNorm name)`` for every convolution whose only consumer is a BatchNorm."""
    graph = build_graph(net, example_input)
    names = {module: name for name, module in net.named_modules()}
    pairs = []
    for module, node in graph.module2node.items():
        if not isinstance(module, CONV_TYPES) or len(node.outputs) != 1:
            continue
        consumer = node.outputs[0].module
        if isinstance(consumer, NORM_TYPES) and consumer.track_running_stats:
            pairs.append((names[module], names[consumer]))
    return sorted(pairs)


def fold_batch_norm(net: nn.Module, example_input: torch.Tensor) -> list[tuple[str, str]]:
    """Fold every BatchNorm that directly follows a convolution into it, in place; the BatchNorm becomes
    ``nn.Identity``.

    Leaves ``net`` in eval mode (folding uses the running statistics, so the folded network is an inference
    network). BatchNorms after anything else (a concatenation, an addition, a linear layer) are kept.

    Args:
        net: Network to fold.
        example_input: Input batch used to trace the network (values irrelevant).

    Returns:
        The folded ``(conv name, BatchNorm name)`` pairs.
    """
    net.eval()
    pairs = conv_bn_pairs(net, example_input.to(next(net.parameters()).device))
    for conv_name, bn_name in pairs:
        conv = net.get_submodule(conv_name)
        bn = net.get_submodule(bn_name)
        fused = fuse_conv_bn_eval(conv, bn, transpose=isinstance(conv, nn.modules.conv._ConvTransposeNd))
        net.set_submodule(conv_name, fused)
        net.set_submodule(bn_name, nn.Identity())
    return pairs
