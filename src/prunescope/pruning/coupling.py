"""Merging of dependency groups tied by the network but invisible to Torch-Pruning.

SegNet's max-unpool reuses the pooling indices of an encoder stage: the decoder conv feeding that unpool must keep
exactly the channels the encoder stage keeps. Indices are not part of the autograd graph, so the network declares
the pairs (``net.channel_ties()``) and the groups holding them are merged into one :class:`ChannelUnit`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch_pruning as tp
from torch import nn

from prunescope.pruning.groups import PRODUCER_FNS, ChannelUnit, layer_members, unit_from_groups


def declared_ties(model: nn.Module) -> list[tuple[str, str]]:
    """The model's ``channel_ties()`` pairs (empty when it declares none), checked to name real modules."""
    ties = list(model.channel_ties()) if hasattr(model, "channel_ties") else []
    names = dict(model.named_modules())
    for pair in ties:
        for name in pair:
            if name not in names:
                raise ValueError(f"channel_ties() names unknown module {name!r}")
    return [(str(a), str(b)) for a, b in ties]


def tie_closure(ties: Sequence[tuple[str, str]], names: set[str]) -> set[str]:
    """All layers tied (directly or transitively) to any layer in ``names``."""
    closure = set(names)
    changed = True
    while changed:
        changed = False
        for a, b in ties:
            if (a in closure) != (b in closure):
                closure |= {a, b}
                changed = True
    return closure


def merge_tied_groups(
    graph: tp.DependencyGraph,
    groups: list[tuple[str, nn.Module, tp.dependency.Group]],
    ties: Sequence[tuple[str, str]],
) -> list[ChannelUnit]:
    """Turn dependency groups into units, merging the groups that hold the two layers of a tie.

    Args:
        graph: Dependency graph the groups come from.
        groups: ``(root name, root module, full group)`` of every prunable group.
        ties: Pairs of conv names whose output channels must share removed indices.

    Returns:
        One unit per set of tied groups (a single group when untied), in the order of the groups. A group tied
        to a layer that is not prunable is left out (both sides stay intact).
    """
    owner: dict[str, int] = {}
    for index, (_, _, group) in enumerate(groups):
        for member in layer_members(graph, group, PRODUCER_FNS):
            owner[member.name] = index
    dropped: set[int] = set()
    changed = True
    while changed:  # a tie with one side not prunable makes the other side not prunable either
        changed = False
        for a, b in ties:
            sides = [owner.get(name) for name in (a, b)]
            live = [i for i in sides if i is not None and i not in dropped]
            if len(live) == 1:
                dropped.add(live[0])
                changed = True
    parent = list(range(len(groups)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in ties:
        if a in owner and owner[a] not in dropped:
            parent[find(owner[a])] = find(owner[b])
    merged: dict[int, list[tuple[str, nn.Module, tp.dependency.Group]]] = {}
    for index, item in enumerate(groups):
        if index in dropped:
            continue
        merged.setdefault(find(index), []).append(item)
    return [unit_from_groups(graph, members) for members in merged.values()]
