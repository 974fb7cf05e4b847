"""Statistics observe every unit exactly as the layers reading it receive it, on every registered network.

Ground truth comes from the network itself, not from the dependency graph: with leaky activations (so that nothing
is zero by chance), every channel of a unit gets a number; for each bit, the channels whose number has that bit
are zeroed (producer filters and biases, BN shift and running mean); a layer's input channel that turns all-zero
in exactly the runs spelling a channel's number carries that channel; a layer reads the unit when every unit channel has such input positions. The statistics gathered by :func:`collect_unit_statistics` must then equal the statistics
of those input channels, for every layer that reads the unit and for no other layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from prunescope.models import build_model
from prunescope.pruning import prunable_units
from prunescope.pruning.groups import ChannelUnit
from prunescope.pruning.statistics import FeatureStatistics, collect_unit_statistics, unit_readers
from support import TINY_MODELS

LAYERS = (nn.modules.conv._ConvNd, nn.Linear)


def leaky_activations(net: nn.Module) -> None:
    """Swap every ReLU for a leaky one (slope 0.1): a map is then all-zero only where zeros were put in."""
    for name, module in list(net.named_modules()):
        if isinstance(module, nn.ReLU):
            parent, _, attribute = name.rpartition(".")
            setattr(net.get_submodule(parent) if parent else net, attribute, nn.LeakyReLU(0.1))


@contextlib.contextmanager
def zeroed(unit: ChannelUnit, channels: set[int]) -> Iterator[None]:
    """Within the block, unit ``channels`` are exactly zero at the output of every producer (after its BN)."""
    saved = []
    with torch.no_grad():
        for member in (*unit.producers, *unit.norms):
            rows = [i for i, root in zip(member.idxs, member.root_idxs, strict=True) if root in channels]
            module = member.module
            is_norm = isinstance(module, nn.BatchNorm2d)
            for tensor in (module.bias, module.running_mean) if is_norm else (module.weight, module.bias):
                if tensor is None:
                    continue
                saved.append((tensor, tensor.clone()))
                if getattr(module, "transposed", False) and tensor is module.weight:
                    tensor[:, rows] = 0
                else:
                    tensor[rows] = 0
    try:
        yield
    finally:
        with torch.no_grad():
            for tensor, value in saved:
                tensor.copy_(value)


@torch.no_grad()
def layer_inputs(net: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Input of every conv / linear of ``net`` on ``x`` (eval mode)."""
    captured: dict[str, torch.Tensor] = {}
    handles = [
        module.register_forward_pre_hook(lambda _m, inputs, name=name: captured.setdefault(name, inputs[0]))
        for name, module in net.named_modules()
        if isinstance(module, LAYERS)
    ]
    try:
        net(x)
    finally:
        for handle in handles:
            handle.remove()
    return captured


def channel_positions(net: nn.Module, x: torch.Tensor, unit: ChannelUnit) -> dict[str, list[list[int]]]:
    """Layer name -> input positions of each channel of ``unit``, found by zeroing (see module docstring)."""
    bits = (unit.channels + 1).bit_length() + 1  # channel c has the number c + 1; all bits set is no channel
    baseline = layer_inputs(net, x)
    patterns = {name: torch.zeros(t.shape[1], dtype=torch.long) for name, t in baseline.items()}
    for bit in range(bits):
        with zeroed(unit, {c for c in range(unit.channels) if ((c + 1) >> bit) & 1}):
            inputs = layer_inputs(net, x)
        for name, tensor in inputs.items():
            patterns[name] += _all_zero(tensor).long() << bit
    found: dict[str, list[list[int]]] = {}
    for name, pattern in patterns.items():
        pattern[_all_zero(baseline[name])] = 0
        slots: list[list[int]] = [[] for _ in range(unit.channels)]
        for position, code in enumerate(pattern.tolist()):
            if 1 <= code <= unit.channels:
                slots[code - 1].append(position)
        if all(slots):  # the layer reads every channel of the unit
            found[name] = slots
    return found


def _all_zero(inputs: torch.Tensor) -> torch.Tensor:
    """Per input channel (feature): whether it is zero for every image and pixel."""
    return inputs.transpose(0, 1).reshape(inputs.shape[1], -1).abs().amax(dim=1) == 0


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [*TINY_MODELS.items(), ("vgg16", TINY_MODELS["vgg16"] | {"head": "cifar_fc"})],  # + hidden Linear units
    ids=[*TINY_MODELS, "vgg16_cifar_fc"],
)
def test_statistics_equal_those_of_each_readers_input_slice(name: str, kwargs: dict) -> None:
    torch.manual_seed(0)
    net = build_model(name, **kwargs).eval()
    leaky_activations(net)
    x = torch.randn(2, 3, 32, 32)
    _, units = prunable_units(net, x)
    inputs = layer_inputs(net, x)
    stats = collect_unit_statistics(net, units, [(x, None)], batches=1)
    for unit in units:
        expected_positions = channel_positions(net, x, unit)
        readers = [reader.name for reader in unit_readers(unit)]
        assert sorted(readers) == sorted(expected_positions), unit.name
        for reader, observed in zip(readers, stats[unit.name], strict=True):
            slots = expected_positions[reader]
            assert len({len(s) for s in slots}) == 1, (unit.name, reader)
            maps = torch.stack([inputs[reader][:, s] for s in slots], dim=1)  # (B, C, H, W) or (B, C, k)
            expected = FeatureStatistics(unit.channels)
            expected.update(maps)
            assert observed.pixels == expected.pixels and observed.images == expected.images
            torch.testing.assert_close(observed.total, expected.total, rtol=1e-12, atol=1e-9)
            torch.testing.assert_close(observed.outer, expected.outer, rtol=1e-12, atol=1e-9)
            torch.testing.assert_close(
                observed.spatial_std_total, expected.spatial_std_total, rtol=1e-12, atol=1e-9
            )
