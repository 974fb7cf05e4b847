"""Parameters and MACs a pruning plan would leave, counted from layer shapes without removing anything.

A plan removes, per unit, a set of unit channels; through the unit's members this is a number of output channels
of its producers and BatchNorms and of input channels of its consumers. Per layer, with ``o`` / ``i`` the output /
input channels before and ``o'`` / ``i'`` after (``K`` = kernel elements, ``g`` = groups):

    conv / transposed conv   params = o' i' K / g + o' (bias)      MACs' = MACs · o' i' / (o i)
    depthwise conv (g = i = o)   params = o' K + o'                 MACs' = MACs · o' / o
    linear                   params = o' i' + o'                   MACs' = MACs · o' i' / (o i)
    BatchNorm (affine)       params = 2 o'

A hidden Linear pruned on its output features (a unit of its own, e.g. VGG-16 ``cifar_fc``) loses ``o`` like a conv
producer, its BatchNorm1d ``o`` like a norm, and the Linear reading it ``i``.

Layer MACs are measured once by forward hooks (``B · o · H_out W_out · i / g · K`` for convs, input elements
``· o / g · K`` for transposed convs, output elements ``· i`` for linears); their sum is checked against
:func:`prunescope.metrics.efficiency.count_macs` (``FlopCounterMode``), so a network whose MACs come from elsewhere is
refused rather than miscounted. ``tests/pruning/test_target.py`` checks both counts against real removal on every
registered network.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from prunescope.metrics.efficiency import count_macs, count_params
from prunescope.pruning.groups import ChannelUnit, Member

COUNTED_TYPES = (nn.modules.conv._ConvNd, nn.Linear, nn.modules.batchnorm._BatchNorm)


@dataclass(frozen=True)
class Layer:
    """Shape of one counted layer before pruning.

    Attributes:
        module: The layer.
        outputs: Output channels (features) ``o``.
        inputs: Input channels (features) ``i``.
        macs: Its MACs on the example input (0 for BatchNorm).
    """

    module: nn.Module
    outputs: int
    inputs: int
    macs: int

    @property
    def depthwise(self) -> bool:
        """A conv with one filter per input channel (its input and output channels are removed together)."""
        groups = getattr(self.module, "groups", 1)
        return groups > 1 and groups == self.inputs == self.outputs

    def params(self, outputs: int, inputs: int) -> int:
        """Parameters of the layer with ``outputs`` / ``inputs`` channels left."""
        module = self.module
        bias = outputs if getattr(module, "bias", None) is not None else 0
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            return 2 * outputs if module.affine else 0
        if isinstance(module, nn.Linear):
            return outputs * inputs + bias
        kernel = int(torch.Size(module.kernel_size).numel())
        if self.depthwise:
            return outputs * kernel + bias
        return outputs * inputs * kernel // module.groups + bias

    def macs_after(self, outputs: int, inputs: int) -> int:
        """MACs with ``outputs`` / ``inputs`` channels left."""
        if self.macs == 0:
            return 0
        if self.depthwise:
            return self.macs // self.outputs * outputs
        return self.macs // (self.outputs * self.inputs) * outputs * inputs


def _shape(module: nn.Module) -> tuple[int, int]:
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return module.num_features, module.num_features
    if isinstance(module, nn.Linear):
        return module.out_features, module.in_features
    return module.out_channels, module.in_channels


def _layer_macs(module: nn.Module, inputs: torch.Tensor, output: torch.Tensor) -> int:
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    if isinstance(module, nn.modules.conv._ConvNd):
        kernel = int(torch.Size(module.kernel_size).numel())
        if module.transposed:
            return inputs.numel() * (module.out_channels // module.groups) * kernel
        return output.numel() * (module.in_channels // module.groups) * kernel
    return 0


def _count(member: Member, drop: set[int]) -> int:
    """Distinct channels of ``member`` whose unit channel is in ``drop``."""
    return len({i for i, root in zip(member.idxs, member.root_idxs, strict=True) if root in drop})


class PlanCost:
    """Counts the parameters and MACs left by a removal plan on ``model`` (which is not modified).

    Args:
        model: Network the plan's units were taken from.
        example_inputs: Input of the MAC count (as for :func:`prunescope.metrics.efficiency.count_macs`).
        units: The plan's units.

    Raises:
        ValueError: A layer type the formulas do not cover holds parameters on the units' channels, or the layer
            MACs do not add up to the measured total.
    """

    def __init__(self, model: nn.Module, example_inputs: torch.Tensor, units: Sequence[ChannelUnit]) -> None:
        self.units = list(units)
        self.params = count_params(model)
        self.macs = count_macs(model, example_inputs)
        touched = {m.module for u in self.units for m in (*u.producers, *u.consumers, *u.norms)}
        for unit in self.units:
            for module in unit.roots:
                touched.add(module[1])
        unknown = sorted({type(m).__name__ for m in touched if not isinstance(m, COUNTED_TYPES)})
        if unknown:
            raise ValueError(f"cannot count parameters of pruned layer type(s) {unknown}")
        macs = self._measure_layer_macs(model, example_inputs, touched)
        self.layers = {module: Layer(module, *_shape(module), macs.get(module, 0)) for module in touched}
        counted = sum(macs.values())
        if counted != self.macs:
            raise ValueError(
                f"layer MACs add up to {counted} but the network counts {self.macs}: MACs outside "
                "conv/linear layers cannot be matched by target=macs"
            )

    @staticmethod
    def _measure_layer_macs(
        model: nn.Module, example_inputs: torch.Tensor, touched: set[nn.Module]
    ) -> dict[nn.Module, int]:
        """MACs of every conv/linear layer of ``model`` on ``example_inputs`` (summed over calls)."""
        macs: Counter = Counter()
        handles = []

        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            macs[module] += _layer_macs(module, inputs[0], output)

        for module in model.modules():
            if isinstance(module, nn.modules.conv._ConvNd | nn.Linear):
                handles.append(module.register_forward_hook(hook))
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                model(example_inputs)
        finally:
            for handle in handles:
                handle.remove()
            model.train(was_training)
        return dict(macs)

    def counts(self, removal: Mapping[str, Sequence[int]]) -> tuple[int, int]:
        """``(params, MACs)`` after removing unit channels ``removal`` (unit name -> indices)."""
        out_removed: Counter = Counter()
        in_removed: Counter = Counter()
        for unit in self.units:
            drop = set(removal.get(unit.name, ()))
            if not drop:
                continue
            for member in (*unit.producers, *unit.norms):
                out_removed[member.module] += _count(member, drop)
            for member in unit.consumers:
                in_removed[member.module] += _count(member, drop)
        params, macs = self.params, self.macs
        for module in out_removed.keys() | in_removed.keys():
            layer = self.layers[module]
            outputs = layer.outputs - out_removed[module]
            inputs = outputs if layer.depthwise else layer.inputs - in_removed[module]
            params += layer.params(outputs, inputs) - layer.params(layer.outputs, layer.inputs)
            macs += layer.macs_after(outputs, inputs) - layer.macs
        return params, macs

    def drop(self, removal: Mapping[str, Sequence[int]], target: str) -> float:
        """Fraction of the ``target`` count (``"params"`` or ``"macs"``) that ``removal`` removes."""
        params, macs = self.counts(removal)
        if target == "params":
            return 1.0 - params / self.params
        if target == "macs":
            return 1.0 - macs / self.macs if self.macs else 0.0
        raise ValueError(f"unknown cost {target!r}; valid: params, macs")
