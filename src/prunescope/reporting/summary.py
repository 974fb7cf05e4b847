"""Mean ± standard deviation over seeds of every numeric metric, per (model, data, method, scope, target, ratio,
U-Net levels)."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prunescope.reporting.collect import is_completed

GROUP_KEYS: tuple[str, ...] = (
    "run.model",
    "run.data",
    "run.method",
    "run.scope",
    "run.target",
    "run.ratio",
    "run.layers",
)
TABLE_KEYS: tuple[str, ...] = ("run.model", "run.data")
NOT_AVERAGED = frozenset({"run.seed", *GROUP_KEYS})
QUALITY_METRICS: tuple[str, ...] = ("miou", "acc")


def as_number(value: Any) -> float | None:
    """``value`` as a finite float, or None for missing, non-numeric (str, bool, list) and NaN/inf values."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def mixes_scopes(rows: Iterable[Mapping[str, Any]]) -> bool:
    """Whether ``rows`` hold more than one ``run.scope``: then tables and plots name the scope beside the method."""
    return len({row.get("run.scope") for row in rows}) > 1


def method_label(row: Mapping[str, Any], show_scope: bool = False) -> str:
    """The method as tables and plots name it: ``l1``, ``l1 (local)`` with ``show_scope``; a run that removed U-Net
    levels first (``run.layers``) reads ``levels 2 + l1``, or ``levels 2`` when no filters were asked for."""
    label = str(row.get("run.method") or "–")
    if show_scope:
        label += f" ({row.get('run.scope') or '–'})"
    layers = row.get("run.layers")
    if layers is None:
        return label
    return f"levels {layers} + {label}" if as_number(row.get("run.ratio")) else f"levels {layers}"


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation ``sqrt(sum((x - mean)^2) / (n - 1))``; std is None when n < 2."""
    if not values:
        raise ValueError("mean_std needs at least one value")
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else None)


def group_by(rows: Iterable[Mapping[str, Any]], keys: Sequence[str]) -> dict[tuple, list[Mapping[str, Any]]]:
    """Rows grouped by the values of ``keys`` (missing values group as None), in first-seen order."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(key) for key in keys), []).append(row)
    return groups


def quality_metric(rows: Iterable[Mapping[str, Any]]) -> str:
    """The quality metric of these rows: the most common ``quality.metric``, else ``miou``/``acc`` by which is present."""
    rows = list(rows)
    named = Counter(row["quality.metric"] for row in rows if row.get("quality.metric") in QUALITY_METRICS)
    if named:
        return named.most_common(1)[0][0]
    for metric in QUALITY_METRICS:
        if any(f"pruned.{metric}" in row or f"baseline.{metric}" in row for row in rows):
            return metric
    return QUALITY_METRICS[0]


def _stats(rows: Sequence[Mapping[str, Any]], keys: Iterable[str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in keys:
        values = [number for row in rows if (number := as_number(row.get(key))) is not None]
        if values:
            out[f"{key}.mean"], out[f"{key}.std"] = mean_std(values)
    return out


def summarize(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Aggregate completed jobs over seeds.

    Args:
        rows: job rows from :func:`prunescope.reporting.collect_runs` (failed jobs are ignored here).

    Returns:
        One dict per (model, data, method, scope, ratio) with those keys, ``n`` (completed jobs),
        ``quality.metric`` and ``<key>.mean`` / ``<key>.std`` for every numeric key (std None when n = 1).
    """
    completed = [row for row in rows if is_completed(row)]
    summary = []
    for values, group in group_by(completed, GROUP_KEYS).items():
        numeric_keys = sorted(
            {
                key
                for row in group
                for key, value in row.items()
                if key not in NOT_AVERAGED and as_number(value) is not None
            }
        )
        entry: dict[str, Any] = dict(zip(GROUP_KEYS, values, strict=True))
        entry["n"] = len(group)
        entry["quality.metric"] = quality_metric(group)
        entry.update(_stats(group, numeric_keys))
        summary.append(entry)
    return summary


def summarize_baselines(rows: Iterable[Mapping[str, Any]]) -> dict[tuple, dict[str, Any]]:
    """Baseline metrics per (model, data): one value per seed (first completed job of each seed), then mean ± std.

    Returns:
        ``{(model, data): {"n": seeds, "quality.metric": ..., "baseline.<k>.mean": ..., "baseline.<k>.std": ...}}``.
    """
    completed = [row for row in rows if is_completed(row)]
    out: dict[tuple, dict[str, Any]] = {}
    for table, group in group_by(completed, TABLE_KEYS).items():
        per_seed = [seed_rows[0] for seed_rows in group_by(group, ("run.seed",)).values()]
        keys = sorted(
            {
                key
                for row in per_seed
                for key, value in row.items()
                if key.startswith("baseline.") and as_number(value) is not None
            }
        )
        entry: dict[str, Any] = {"n": len(per_seed), "quality.metric": quality_metric(group)}
        entry.update(_stats(per_seed, keys))
        out[table] = entry
    return out
