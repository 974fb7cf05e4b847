"""What a run returns to a Hydra sweeper: the ``objectives`` of the run config, read from its metrics.json values.

``quality`` names the run's main quality metric (``pruned.<metric>`` for a pruning run, else ``baseline.<metric>``);
any other name is a metrics.json key, e.g. ``pruned.macs``, ``sp2ps.score``, ``drop.params_pct``. One objective is
returned as a float (what Hydra's Optuna sweeper expects for one direction), several as a list in their order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

QUALITY = "quality"
PREFIXES = ("baseline.", "pruned.", "drop.", "delta.", "sp2ps.", "prune.", "time.")
SINGLE_KEYS = ("speedup", "quality.before_finetune")


def configured_objectives(names: Sequence[str] | None) -> list[str]:
    """The run config's ``objectives`` as a list; ``None`` (key absent) means ``[quality]``."""
    return [QUALITY] if names is None else [str(name) for name in names]


def check_objectives(names: Sequence[str]) -> None:
    """Raise ``ValueError`` (one line naming the valid forms) for an empty list or a name no metrics.json has."""
    if not names:
        raise ValueError("objectives is empty; give at least one, e.g. objectives=[quality,pruned.macs]")
    for name in names:
        if name != QUALITY and name not in SINGLE_KEYS and not str(name).startswith(PREFIXES):
            raise ValueError(
                f"objectives: {name!r} is not a metrics.json value; valid: quality, speedup or a key starting "
                f"with {', '.join(PREFIXES)} (e.g. pruned.macs, sp2ps.score)"
            )


def objective_values(values: Mapping[str, Any], names: Sequence[str]) -> float | list[float] | None:
    """The objectives ``names`` read from a run's metrics.json ``values``.

    Returns:
        A float for one objective, a list of floats for several; None when any is missing or not a number (the
        sweeper then records the trial as failed).
    """
    metric = values.get("quality.metric")
    found = []
    for name in names:
        if name == QUALITY:
            value = values.get(f"pruned.{metric}", values.get(f"baseline.{metric}"))
        else:
            value = values.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        found.append(float(value))
    return found[0] if len(found) == 1 else found
