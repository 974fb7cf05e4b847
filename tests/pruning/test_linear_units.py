"""Hidden Linear units (VGG-16 ``head="cifar_fc"``): pruned by every criterion through the dependency graph.

The hidden layer ``classifier.0`` (64 units at ``width_mult=0.125``) is a unit like a conv: its BatchNorm1d
follows it and the output layer ``classifier.4`` (never pruned) reads it. Exactness of removal and replay are
also covered in ``test_exactness.py`` and ``test_replay.py``.
"""

from __future__ import annotations

import copy
import functools
import itertools

import pytest
import torch
from torch import nn

from prunescope.metrics.efficiency import count_macs, count_params
from prunescope.models import build_model
from prunescope.pruning import (
    CRITERIA,
    PruningOptions,
    plan_pruning,
    prunable_layers,
    prunable_units,
    prune,
    replay,
)
from prunescope.pruning.groups import prune_unit
from prunescope.pruning.plan_cost import PlanCost
from support import TINY_MODELS

KWARGS = TINY_MODELS["vgg16"] | {"head": "cifar_fc"}
HIDDEN = "classifier.0"
WIDTH = 64  # round(512 * 0.125)
POINT = 0.005


@functools.cache
def calibration() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Two batches of 48 images of 32x32: 96 samples of the 64 hidden units, so their covariance has full rank."""
    generator = torch.Generator().manual_seed(0)
    return [
        (torch.randn(48, 3, 32, 32, generator=generator), torch.randint(0, 10, (48,), generator=generator))
        for _ in range(2)
    ]


@functools.cache
def _template() -> nn.Module:
    """The tiny network with random BN affine parameters and the BN statistics of the first calibration batch."""
    torch.manual_seed(0)
    net = build_model("vgg16", **KWARGS)
    generator = torch.Generator().manual_seed(1)
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            size = module.num_features
            module.momentum = None  # running statistics = those of the batch below
            module.weight.data.copy_(torch.rand(size, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(size, generator=generator) * 0.1)
    with torch.no_grad():
        net.train()(calibration()[0][0])
    return net.eval()


def fresh() -> nn.Module:
    return copy.deepcopy(_template())


def example() -> torch.Tensor:
    return calibration()[0][0][:2]


def test_hidden_linears_are_units_and_output_layers_are_not() -> None:
    net = fresh()
    _, units = prunable_units(net, example())
    hidden = next(u for u in units if u.name == HIDDEN)
    assert hidden.channels == WIDTH
    assert [m.name for m in hidden.producers] == [HIDDEN]
    assert [m.name for m in hidden.norms] == ["classifier.1"]
    assert [m.name for m in hidden.consumers] == ["classifier.4"]
    layers = prunable_layers(net, example())
    assert HIDDEN in layers and "classifier.4" not in layers
    assert len(layers) == 14  # 13 convs + the hidden Linear
    imagenet = build_model("vgg16", **(KWARGS | {"head": "imagenet"}))
    imagenet_layers = prunable_layers(imagenet, torch.zeros(1, 3, 32, 32))
    assert {"classifier.0", "classifier.3"} <= set(imagenet_layers)
    assert "classifier.6" not in imagenet_layers


def test_pruning_hidden_units_equals_the_hand_sliced_head() -> None:
    """Only the hidden layer pruned (convs ignored): the result is the original head with rows / columns cut."""
    original = fresh()
    net = fresh()
    x = calibration()[1][0]
    result = prune(net, PruningOptions(method="l1", ratio=0.5, ignored_layers=["features"]), example())
    assert list(result.removed) == [HIDDEN]
    kept = result.kept[HIDDEN]
    first, norm, last = original.classifier[0], original.classifier[1], original.classifier[4]
    lowest_l1 = first.weight.abs().sum(dim=1).argsort()[: WIDTH // 2]
    assert sorted(result.removed[HIDDEN]) == sorted(lowest_l1.tolist())

    hand = copy.deepcopy(original)
    linear = nn.Linear(first.in_features, len(kept))
    batch_norm = nn.BatchNorm1d(len(kept))
    output = nn.Linear(len(kept), last.out_features)
    with torch.no_grad():
        linear.weight.copy_(first.weight[kept])
        linear.bias.copy_(first.bias[kept])
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(batch_norm, name).copy_(getattr(norm, name)[kept])
        output.weight.copy_(last.weight[:, kept])
        output.bias.copy_(last.bias)
    hand.classifier = nn.Sequential(linear, batch_norm, nn.ReLU(), nn.Dropout(0.5), output).eval()
    with torch.no_grad():
        torch.testing.assert_close(net(x), hand(x), atol=1e-6, rtol=1e-6)
        assert not torch.allclose(net(x), original(x), atol=1e-3)  # removing live units changes the output
    assert count_params(net) == count_params(hand)


@pytest.mark.parametrize("method", list(CRITERIA))
def test_every_criterion_removes_hidden_units_at_a_global_ratio(method: str) -> None:
    net = fresh()
    result = prune(net, PruningOptions(method=method, ratio=0.5, calibration_batches=2, method_options={"seed": 0} if method == "random" else None), example(), calibration())  # fmt: skip
    removed = result.removed[HIDDEN]
    assert 0 < len(removed) < WIDTH
    assert sorted(removed + result.kept[HIDDEN]) == list(range(WIDTH))
    left = WIDTH - len(removed)
    head = net.classifier
    assert (head[0].out_features, head[1].num_features, head[4].in_features) == (left, left, left)
    assert head[4].out_features == 10
    assert result.params_after == count_params(net)
    with torch.no_grad():
        assert net(calibration()[1][0]).shape == (48, 10)


def test_replay_rebuilds_the_pruned_head_exactly() -> None:
    net = fresh()
    first = prune(
        net, PruningOptions(method="taylor", ratio=0.4, calibration_batches=1), example(), calibration()
    )
    second = prune(net, PruningOptions(method="fpgm", ratio=0.2, scope="local"), example())
    record = first.record + second.record
    assert all(any(name == HIDDEN for name, _, _ in op["history"]) for op in record)
    rebuilt = replay(build_model("vgg16", **KWARGS), record)
    rebuilt.load_state_dict(net.state_dict())
    rebuilt.eval()
    x = calibration()[1][0]
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), net(x), atol=0, rtol=0)
    assert rebuilt.classifier[0].out_features == net.classifier[0].out_features < WIDTH


@pytest.mark.parametrize("scope", ["global", "local"])
def test_plan_counts_equal_those_of_the_pruned_model(scope: str) -> None:
    net = fresh()
    x = example()
    plan = plan_pruning(
        net, PruningOptions(method="random", ratio=0.45, scope=scope, method_options={"seed": 1}), x
    )
    assert plan.removal[HIDDEN]
    predicted = PlanCost(net, x, plan.units).counts(plan.removal)
    for unit in plan.units:
        prune_unit(plan.graph, unit, plan.removal[unit.name])
    assert predicted == (count_params(net), count_macs(net, x))


@pytest.mark.slow
@pytest.mark.parametrize(("method", "fraction"), list(itertools.product(CRITERIA, [0.865])))
def test_params_target_lands_within_half_a_point(method: str, fraction: float) -> None:
    """The VGG-16 paper's parameter drop (86.5%), counted over every layer including the FC head."""
    net = fresh()
    result = prune(net, PruningOptions(method=method, ratio=fraction, target="params", calibration_batches=2, method_options={"seed": 0} if method == "random" else None), example(), calibration())  # fmt: skip
    achieved = 1.0 - result.params_after / result.params_before
    assert achieved == pytest.approx(fraction, abs=POINT)
    assert result.params_after == count_params(net)
    assert result.details["target_achieved"] == pytest.approx(achieved, abs=1e-12)
    assert result.removed[HIDDEN]
