"""``round_channels_down``: an already pruned network pruned on to channel multiples through the engine."""

from __future__ import annotations

import copy

import pytest
import torch

from prunescope.models import build_model
from prunescope.pruning import PruningOptions, prunable_units, prune, replay, round_channels_down
from support import TINY_MODELS


def pruned_tiny(name: str) -> tuple[torch.nn.Module, torch.Tensor, list[dict]]:
    torch.manual_seed(0)
    net = build_model(name, **TINY_MODELS[name]).eval()
    x = torch.randn(2, 3, 32, 32)
    record = prune(net, PruningOptions(method="l1", ratio=0.3, scope="global"), x).record
    return net, x, record


@pytest.mark.parametrize("name", ["segnet", "smp_unet", "vgg16"])
def test_every_unit_ends_on_the_multiple_below(name: str) -> None:
    net, x, _ = pruned_tiny(name)
    before = {u.name: u.channels for u in prunable_units(net, x)[1]}
    assert any(c % 4 for c in before.values() if c >= 4), (
        "the l1 step should leave some counts off the multiple"
    )
    result = round_channels_down(net, PruningOptions(method="l1"), x, 4)
    after = {u.name: u.channels for u in prunable_units(net, x)[1]}
    expected = {name: c - c % 4 if c >= 4 else c for name, c in before.items()}
    assert sorted(after.values()) == sorted(expected.values())
    assert result.macs_after < result.macs_before and 0 < result.ratio < 0.25
    assert net(x).shape[0] == 2


def test_the_lowest_l1_filters_of_a_unit_go() -> None:
    net, x, _ = pruned_tiny("vgg16")
    conv = net.features[0]
    norms = conv.weight.detach().abs().flatten(1).sum(dim=1)
    surplus = conv.out_channels % 4
    result = round_channels_down(net, PruningOptions(method="l1"), x, 4)
    assert sorted(result.removed["features.0"]) == sorted(torch.argsort(norms)[:surplus].tolist())


def test_rounding_record_replays_after_the_pruning_record() -> None:
    net, x, record = pruned_tiny("segnet")
    rounding = round_channels_down(net, PruningOptions(method="l1"), x, 4).record
    fresh = build_model("segnet", **TINY_MODELS["segnet"])
    replay(fresh, record + rounding)
    shapes = {k: tuple(v.shape) for k, v in fresh.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in net.state_dict().items()}


def test_units_below_the_multiple_and_multiple_one_are_left_alone() -> None:
    net, x, _ = pruned_tiny("vgg16")
    state = copy.deepcopy(net.state_dict())
    result = round_channels_down(net, PruningOptions(method="l1"), x, 1)
    assert result.record == [] and result.params_after == result.params_before
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())


@pytest.mark.parametrize(
    ("multiple", "method", "message"),
    [(0, "l1", "multiple"), (None, "l1", "multiple"), (4, "x", "unknown")],
)
def test_bad_arguments_name_the_problem(multiple: int | None, method: str, message: str) -> None:
    net, x, _ = pruned_tiny("vgg16")
    with pytest.raises(ValueError, match=message):
        round_channels_down(net, PruningOptions(method=method), x, multiple)
