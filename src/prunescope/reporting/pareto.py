"""Non-dominated runs of a sweep or search: the Pareto front of pruned quality (higher is better) against MACs
(lower is better), per (model, data), over single runs (not seed means).

A run dominates another when its quality is at least as high and its MACs at most as many, one of them strictly.
``results.csv`` gets the column ``pareto.front`` (true / false; empty for a failed run or one without both values),
``results.md`` a "Pareto front" section listing the non-dominated runs, and ``pareto_runs.png``
(:mod:`prunescope.reporting.plots`) draws every run with the front.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prunescope.reporting.collect import is_completed
from prunescope.reporting.summary import TABLE_KEYS, as_number, group_by, quality_metric

FRONT_KEY = "pareto.front"
COST_KEY = "pruned.macs"


def objectives(row: Mapping[str, Any], metric: str) -> tuple[float, float] | None:
    """``(quality, macs)`` of a completed pruned run, or None when it failed or lacks either value."""
    if not is_completed(row):
        return None
    quality, cost = as_number(row.get(f"pruned.{metric}")), as_number(row.get(COST_KEY))
    return None if quality is None or cost is None else (quality, cost)


def non_dominated(points: Sequence[tuple[float, float] | None]) -> list[bool | None]:
    """For each ``(quality, cost)`` point: True when no other point dominates it; None stays None.

    Sorting by cost (then quality, best first) lets one pass find the front: a point is on it when its quality is
    at least the best quality of every strictly cheaper point and it is not beaten at equal cost.
    """
    order = sorted(
        (i for i, point in enumerate(points) if point is not None),
        key=lambda i: (points[i][1], -points[i][0]),  # type: ignore[index]
    )
    flags: list[bool | None] = [None] * len(points)
    best_cheaper = float("-inf")  # best quality among points of lower cost
    start = 0
    while start < len(order):
        cost = points[order[start]][1]  # type: ignore[index]
        end = start
        while end < len(order) and points[order[end]][1] == cost:  # type: ignore[index]
            end += 1
        top = points[order[start]][0]  # type: ignore[index]
        for i in order[start:end]:
            quality = points[i][0]  # type: ignore[index]
            flags[i] = quality == top and quality > best_cheaper
        best_cheaper = max(best_cheaper, top)
        start = end
    return flags


def mark_front(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``rows`` with ``pareto.front`` set per (model, data) table (None where a run has no point)."""
    marked = [dict(row) for row in rows]
    tables: dict[tuple, list[int]] = {}
    for i, row in enumerate(rows):
        tables.setdefault(tuple(row.get(key) for key in TABLE_KEYS), []).append(i)
    for indices in tables.values():
        metric = quality_metric(rows[i] for i in indices)
        flags = non_dominated([objectives(rows[i], metric) for i in indices])
        for i, flag in zip(indices, flags, strict=True):
            marked[i][FRONT_KEY] = flag
    return marked


def front_rows(rows: Sequence[Mapping[str, Any]]) -> dict[tuple, list[Mapping[str, Any]]]:
    """The non-dominated runs of rows marked by :func:`mark_front`, per (model, data), by increasing MACs."""
    fronts = {}
    for table, group in group_by(rows, TABLE_KEYS).items():
        on_front = [row for row in group if row.get(FRONT_KEY) is True]
        if on_front:
            fronts[table] = sorted(on_front, key=lambda row: (row[COST_KEY], str(row.get("run.name"))))
    return fronts
