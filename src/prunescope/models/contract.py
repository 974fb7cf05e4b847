"""What every PruneScope network offers the pruning, CAM and report code: the :class:`Network` protocol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from torch import nn


@runtime_checkable
class Network(Protocol):
    """A network PruneScope can prune, explain and report on.

    Attributes:
        task: ``"segmentation"`` (logits ``(B, K, H, W)``) or ``"classification"`` (logits ``(B, K)``).
        cam_target_layer: dotted module path of the CAM layer, resolvable with ``net.get_submodule``.
        output_layer_names: modules whose output channels are never pruned (the heads).
    """

    task: str
    cam_target_layer: str
    output_layer_names: Sequence[str]

    def channel_ties(self) -> list[tuple[str, str]]:
        """Pairs of conv names whose output channels must be pruned with the same indices (empty: none)."""
        ...


CONTRACT = (
    *Network.__annotations__,
    *(name for name, value in vars(Network).items() if callable(value) and not name.startswith("_")),
)
"""The members of :class:`Network` (its attributes, then its methods), read from the protocol itself."""


class NetworkContractError(TypeError):
    """A network without a member of :class:`Network`; the message names what is missing."""


def check_network(net: nn.Module) -> None:
    """Raise :class:`NetworkContractError` naming every member of :class:`Network` that ``net`` lacks.

    Checked once where a network is built (:func:`prunescope.models.build_model`, a run's module).
    """
    missing = [name for name in CONTRACT if not hasattr(net, name)]
    if missing or not callable(net.channel_ties):
        missing = missing or ["channel_ties()"]
        raise NetworkContractError(
            f"{type(net).__name__} is not a PruneScope network: it has no {', '.join(missing)} "
            "(see prunescope.models.contract.Network)"
        )
