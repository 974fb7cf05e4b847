"""The criterion registry: :data:`CRITERIA` (method name -> class), filled by :func:`register_criterion` where each
criterion is defined, and :func:`make_criterion`, which builds one by name."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeVar

from prunescope.pruning.criteria.base import Criterion

C = TypeVar("C", bound=type[Criterion])

CRITERIA: dict[str, type[Criterion]] = {}
"""Every pruning method by name (the ``method`` of ``conf/pruning/<name>.yaml``), in registration order."""


def register_criterion(name: str) -> Callable[[C], C]:
    """Class decorator: register a :class:`Criterion` subclass as method ``name`` (and set its ``name``).

    Raises:
        ValueError: ``name`` is registered already by another class.
    """

    def register(cls: C) -> C:
        taken = CRITERIA.get(name)
        if taken is not None and (taken.__module__, taken.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"pruning method {name!r} is registered already ({taken.__qualname__})")
        cls.name = name
        CRITERIA[name] = cls
        return cls

    return register


def make_criterion(method: str, options: dict | None = None) -> Criterion:
    """Instantiate the criterion ``method`` with its ``options``.

    Raises:
        ValueError: Unknown method or option (the message lists the valid ones).
    """
    if method not in CRITERIA:
        raise ValueError(f"unknown pruning method {method!r}; valid: {', '.join(CRITERIA)}")
    cls = CRITERIA[method]
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options or {}) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for method {method!r}; valid: {valid or 'none'}")
    return cls(**(options or {}))
