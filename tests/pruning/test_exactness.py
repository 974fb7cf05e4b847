"""Exactness: removing channels whose activations are exactly zero must not change the output.

Channels chosen for removal are first zeroed (producer filters and biases, BN shift and running mean, so the
post-activation map is exactly 0); the output of the unpruned model is recorded; then exactly those channels are
removed. A wrong pairing (SegNet unpool ties, U-Net concatenations, DeepLabv3+ ASPP and residual additions)
moves or drops a non-zero channel and changes the output.
"""

from __future__ import annotations

import pytest
import torch

from prunescope.models import build_model
from prunescope.pruning import PruningOptions, plan_pruning, prune
from prunescope.pruning.groups import ChannelUnit, prune_unit
from support import TINY_MODELS


def randomise_batchnorm(net: torch.nn.Module) -> None:
    """Non-trivial BN statistics and affine parameters so that eval-mode BN is not an identity."""
    generator = torch.Generator().manual_seed(1)
    for module in net.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            c = module.num_features
            module.running_mean.copy_(torch.randn(c, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(c, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(c, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(c, generator=generator) * 0.1 + 0.05)


@torch.no_grad()
def zero_channels(unit: ChannelUnit, remove: list[int]) -> None:
    """Make unit channels ``remove`` exactly zero after every producer's BN + ReLU."""
    drop = set(remove)
    for member in unit.producers:
        rows = [i for i, root in zip(member.idxs, member.root_idxs, strict=True) if root in drop]
        weight = member.module.weight
        if getattr(member.module, "transposed", False):
            weight[:, rows] = 0
        else:
            weight[rows] = 0
        if member.module.bias is not None:
            member.module.bias[rows] = 0
    for member in unit.norms:
        rows = [i for i, root in zip(member.idxs, member.root_idxs, strict=True) if root in drop]
        member.module.bias[rows] = 0
        member.module.running_mean[rows] = 0


# every network, and VGG-16 with the hidden FC layer (its Linear units are removed too)
CASES = {**{name: (name, kwargs) for name, kwargs in TINY_MODELS.items()},
         "vgg16_cifar_fc": ("vgg16", TINY_MODELS["vgg16"] | {"head": "cifar_fc"})}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_removing_zeroed_channels_keeps_output(case: str) -> None:
    name, kwargs = CASES[case]
    torch.manual_seed(0)
    net = build_model(name, **kwargs).eval()
    randomise_batchnorm(net)
    x = torch.randn(2, 3, 32, 32)
    plan = plan_pruning(
        net, PruningOptions(method="random", ratio=0.4, scope="local", method_options={"seed": 3}), x
    )
    assert sum(len(r) for r in plan.removal.values()) > 0
    if case == "vgg16_cifar_fc":
        assert plan.removal["classifier.0"]
    if name == "segnet":  # the unpool ties are exercised: tied units lose channels in both layers
        tied = [u for u in plan.units if len(u.roots) == 2]
        assert len(tied) == 4 and all(plan.removal[u.name] for u in tied)
    for unit in plan.units:
        zero_channels(unit, plan.removal[unit.name])
    with torch.no_grad():
        reference = net(x)
    params_before = sum(p.numel() for p in net.parameters())
    for unit in plan.units:
        prune_unit(plan.graph, unit, plan.removal[unit.name])
    with torch.no_grad():
        pruned = net(x)
    assert sum(p.numel() for p in net.parameters()) < params_before
    assert pruned.shape == reference.shape
    torch.testing.assert_close(pruned, reference, atol=1e-5, rtol=1e-5)


def test_segnet_without_tie_merging_would_differ() -> None:
    """Control: removing different channels in a tied decoder conv changes the output (the test can fail)."""
    torch.manual_seed(0)
    net = build_model("segnet", **TINY_MODELS["segnet"]).eval()
    randomise_batchnorm(net)
    x = torch.randn(2, 3, 32, 32)
    plan = plan_pruning(net, PruningOptions(method="random", ratio=0.0), x)
    unit = next(u for u in plan.units if len(u.roots) == 2)
    zero_channels(unit, [0])
    with torch.no_grad():
        reference = net(x)
    encoder_root, decoder_root = unit.roots
    graph = plan.graph
    for (_, module), idxs in ((encoder_root, [0]), (decoder_root, [1])):  # mismatched indices
        graph.get_pruning_group(module, graph.get_pruner_of_module(module).prune_out_channels, idxs).prune()
    with torch.no_grad():
        assert not torch.allclose(net(x), reference, atol=1e-3)


def test_prune_l1_removes_exactly_the_zeroed_filters() -> None:
    """End to end through ``prune``: zeroed filters have the lowest L1 norm, so local L1 removes them."""
    torch.manual_seed(0)
    net = build_model("unet", **TINY_MODELS["unet"]).eval()
    randomise_batchnorm(net)
    x = torch.randn(2, 3, 32, 32)
    plan = plan_pruning(
        net, PruningOptions(method="random", ratio=0.5, scope="local", method_options={"seed": 0}), x
    )
    for unit in plan.units:
        zero_channels(unit, plan.removal[unit.name])
    expected_kept, _ = plan.per_layer()
    with torch.no_grad():
        reference = net(x)
    result = prune(net, PruningOptions(method="l1", ratio=0.5, scope="local"), x)
    assert result.kept == expected_kept
    for layer, kept in result.kept.items():
        module = net.get_submodule(layer)
        weight = module.weight.transpose(0, 1) if module.transposed else module.weight
        assert weight.shape[0] == len(kept)
    with torch.no_grad():
        torch.testing.assert_close(net(x), reference, atol=1e-5, rtol=1e-5)
