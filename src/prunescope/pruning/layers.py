"""U-Net layer (level) pruning: remove a network's deepest levels, recorded for replay.

Only networks with ``remove_deepest_levels(k)`` and ``depth`` (the classic :class:`prunescope.models.unet.UNet`)
support it; the operation is recorded as ``{"op": "unet_levels", "levels": k}`` and replayed by
``prunescope.pruning.replay``. How many levels a fit can lose is searched by
:func:`prunescope.fitting.level_search.choose_unet_levels`.
"""

from __future__ import annotations

from typing import Any

from torch import nn

UNET_LEVELS_OP = "unet_levels"


def supports_level_pruning(net: nn.Module) -> bool:
    """Whether ``net`` can lose its deepest levels (has ``remove_deepest_levels`` and ``depth``)."""
    return callable(getattr(net, "remove_deepest_levels", None)) and hasattr(net, "depth")


def require_level_pruning(net: nn.Module) -> None:
    """Raise ``ValueError`` naming the network when it does not support level pruning."""
    if not supports_level_pruning(net):
        raise ValueError(
            f"layer pruning (layers.levels) needs a network with remove_deepest_levels(k) and depth, such as the "
            f"classic UNet (model=unet); {type(net).__name__} has none; set layers.levels=0"
        )


def remove_unet_levels(net: nn.Module, levels: int) -> dict[str, Any]:
    """Remove the ``levels`` deepest levels of ``net`` in place, keeping every other weight.

    Returns:
        The record operation ``{"op": "unet_levels", "levels": levels}``.

    Raises:
        ValueError: ``net`` has no ``remove_deepest_levels``, or ``levels`` is not in ``[0, depth - 1]``.
    """
    require_level_pruning(net)
    net.remove_deepest_levels(int(levels))
    return {"op": UNET_LEVELS_OP, "levels": int(levels)}
