"""The model registry: :data:`MODELS` (name -> network class), filled by :func:`register_model` where each network
is defined, and :func:`build_model`, which builds one by name and checks the network contract."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import nn

from prunescope.models.contract import check_network

M = TypeVar("M", bound=type[nn.Module])

MODELS: dict[str, type[nn.Module]] = {}
"""Every network by name (``conf/model/<name>.yaml``, whose ``net._target_`` is the class), in registration order."""


def register_model(name: str) -> Callable[[M], M]:
    """Class decorator: register a network class (a :class:`~prunescope.models.contract.Network`) as ``name``.

    Raises:
        ValueError: ``name`` is registered already by another class.
    """

    def register(cls: M) -> M:
        taken = MODELS.get(name)
        if taken is not None and (taken.__module__, taken.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"model {name!r} is registered already ({taken.__qualname__})")
        MODELS[name] = cls
        return cls

    return register


def build_model(name: str, **kwargs: object) -> nn.Module:
    """Build the network registered as ``name`` with constructor keyword arguments ``kwargs``.

    Raises:
        ValueError: If ``name`` is not in ``MODELS``.
        NetworkContractError: The network lacks a member of :class:`~prunescope.models.contract.Network`.
    """
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; valid names: {', '.join(sorted(MODELS))}")
    net = MODELS[name](**kwargs)
    check_network(net)
    return net


def models_for(task: str) -> list[str]:
    """The registered models of ``task`` (``"segmentation"`` | ``"classification"``, the classes' ``task``)."""
    return [name for name, cls in MODELS.items() if getattr(cls, "task", None) == task]
