"""Channel units: the sets of coupled channels that are removed together.

A *unit* wraps one or more Torch-Pruning dependency groups whose output channels share indices: one group
normally, several when the network ties groups invisibly to autograd (SegNet max-unpool indices, see
`prunescope.pruning.coupling`). Channel ``c`` of a unit is the root-index ``c`` of each of its groups.

A group's root is a conv (its output channels) or a hidden Linear (its output features, e.g. VGG-16's
``cifar_fc`` head): a Linear's feature plays the part of a channel, its weight row the part of a filter.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch_pruning as tp
from torch import nn
from torch_pruning.pruner import function

ROOT_TYPES = (nn.modules.conv._ConvNd, nn.Linear)  # layers whose output channels (features) start a unit
PRODUCER_FNS = {
    function.prune_conv_out_channels,
    function.prune_depthwise_conv_out_channels,
    function.prune_linear_out_channels,
}
CONSUMER_FNS = {function.prune_conv_in_channels, function.prune_linear_in_channels}
NORM_FNS = {function.prune_batchnorm_out_channels}


@dataclass(frozen=True)
class Member:
    """One layer of a unit and the channel indices it holds.

    Attributes:
        name: Module name in the model.
        module: The module (Conv2d, ConvTranspose2d, Linear or BatchNorm).
        idxs: Indices along the pruned dimension of this layer.
        root_idxs: Unit channel of every entry in ``idxs`` (same length).
    """

    name: str
    module: nn.Module
    idxs: list[int]
    root_idxs: list[int]

    def filters(self) -> torch.Tensor:
        """Output filters of a producer, one flattened row per entry of ``idxs``."""
        weight = self.module.weight.detach()
        if getattr(self.module, "transposed", False):
            weight = weight.transpose(0, 1)
        return weight[self.idxs].flatten(1)

    def filter_grads(self, grad: torch.Tensor) -> torch.Tensor:
        """Rows of ``grad`` (shaped like the weight) matching :meth:`filters`."""
        if getattr(self.module, "transposed", False):
            grad = grad.transpose(0, 1)
        return grad[self.idxs].flatten(1)

    def input_slices(self) -> torch.Tensor:
        """Input slices ``W[:, c]`` of a consumer, one flattened row per entry of ``idxs``."""
        weight = self.module.weight.detach()
        if not getattr(self.module, "transposed", False):
            weight = weight.transpose(0, 1)
        return weight[self.idxs].flatten(1)


@dataclass
class ChannelUnit:
    """Coupled channels removed with the same indices.

    Attributes:
        name: Name of the first root layer (used as the unit's layer name).
        channels: Number of channels C of the unit.
        roots: ``(module name, module)`` of each merged dependency group's root conv or Linear.
        producers: Layers whose output channels are the unit's channels (conv filters, Linear weight rows).
        consumers: Layers whose input channels read the unit's channels.
        norms: BatchNorm layers on the unit's channels.
    """

    name: str
    channels: int
    roots: list[tuple[str, nn.Module]]
    producers: list[Member] = field(default_factory=list)
    consumers: list[Member] = field(default_factory=list)
    norms: list[Member] = field(default_factory=list)

    @property
    def weight(self) -> int:
        """Filters removed per removed channel (number of producer layers; a Linear's weight row counts as one)."""
        return max(1, len(self.producers))

    @property
    def layer_names(self) -> list[str]:
        """Names of the producer layers."""
        return [member.name for member in self.producers]

    def scatter(self, members: Sequence[Member], values: Sequence[torch.Tensor]) -> torch.Tensor:
        """Sum per-entry ``values`` of ``members`` into one float64 vector of length C (by root index)."""
        total = torch.zeros(self.channels, dtype=torch.float64)
        for member, value in zip(members, values, strict=True):
            index = torch.tensor(member.root_idxs, dtype=torch.long)
            total.scatter_add_(0, index, value.detach().to("cpu", torch.float64))
        return total


def build_graph(model: nn.Module, example_inputs: torch.Tensor) -> tp.DependencyGraph:
    """Trace ``model`` into a Torch-Pruning dependency graph (eval mode, so BN statistics stay untouched)."""
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            return tp.DependencyGraph().build_dependency(model, example_inputs=example_inputs, verbose=False)
    finally:
        model.train(was_training)


def layer_members(graph: tp.DependencyGraph, group: tp.dependency.Group, fns: set) -> list[Member]:
    """Members of ``group`` whose pruning function is in ``fns`` (one per layer, indices merged)."""
    names = graph._module2name  # Torch-Pruning's module -> name map (also used for its pruning history)
    members: dict[str, Member] = {}
    for item in group:
        dep, idxs = item.dep, item.idxs
        module = dep.target.module
        if dep.handler not in fns or module not in names:
            continue
        name = names[module]
        if name in members:  # the same layer reached twice: merge
            old = members[name]
            idxs_more, roots_more = [int(i) for i in idxs], [int(i) for i in item.root_idxs]
            members[name] = Member(name, module, old.idxs + idxs_more, old.root_idxs + roots_more)
        else:
            members[name] = Member(name, module, [int(i) for i in idxs], [int(i) for i in item.root_idxs])
    return list(members.values())


def iter_groups(
    graph: tp.DependencyGraph, model: nn.Module, excluded: Sequence[str]
) -> Iterator[tuple[str, nn.Module, tp.dependency.Group]]:
    """Yield ``(root name, root module, full group)`` of every prunable conv or Linear group (``ROOT_TYPES``).

    Groups whose output channels include an excluded layer (output layers, ignored layers) are skipped.
    """
    excluded_modules = [model.get_submodule(name) for name in excluded]
    names = graph._module2name
    for group in graph.get_all_groups(ignored_layers=excluded_modules, root_module_types=ROOT_TYPES):
        root = group[0].dep.target.module
        yield names[root], root, group


def unit_from_groups(
    graph: tp.DependencyGraph, roots: list[tuple[str, nn.Module, tp.dependency.Group]]
) -> ChannelUnit:
    """Build one unit from dependency groups sharing channel indices."""
    channels = {len(group[0].idxs) for _, _, group in roots}
    if len(channels) != 1:
        raise ValueError(
            f"tied layers {[n for n, _, _ in roots]} have different channel counts {sorted(channels)}"
        )
    unit = ChannelUnit(name=roots[0][0], channels=channels.pop(), roots=[(n, m) for n, m, _ in roots])
    for _, _, group in roots:
        unit.producers += layer_members(graph, group, PRODUCER_FNS)
        unit.consumers += layer_members(graph, group, CONSUMER_FNS)
        unit.norms += layer_members(graph, group, NORM_FNS)
    return unit


def prune_unit(graph: tp.DependencyGraph, unit: ChannelUnit, remove: Sequence[int]) -> None:
    """Physically remove unit channels ``remove`` from every merged group (history recorded in ``graph``)."""
    if len(remove) == 0:
        return
    idxs = sorted(int(i) for i in remove)
    for _, module in unit.roots:
        pruner = graph.get_pruner_of_module(module)
        group = graph.get_pruning_group(module, pruner.prune_out_channels, idxs)
        group.prune()
