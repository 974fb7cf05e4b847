"""``results.csv`` (one row per job, every key) and ``summary.csv`` (mean ± std over seeds per group)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from prunescope.reporting.collect import SOURCE_KEY
from prunescope.reporting.summary import GROUP_KEYS

LEADING_RESULT_COLUMNS: tuple[str, ...] = (
    "run.name",
    "run.status",
    *GROUP_KEYS,
    "run.seed",
    "run.schedule",
    "quality.metric",
)
LEADING_SUMMARY_COLUMNS: tuple[str, ...] = (*GROUP_KEYS, "n", "quality.metric")


def ordered_columns(
    rows: Iterable[Mapping[str, Any]], leading: Sequence[str], trailing: Sequence[str] = ()
) -> list[str]:
    """Every key found in ``rows``: ``leading`` first (in that order), then the rest sorted, then ``trailing``."""
    seen = {key for row in rows for key in row}
    middle = sorted(seen.difference(leading, trailing))
    return [k for k in leading if k in seen] + middle + [k for k in trailing if k in seen]


def csv_cell(value: Any) -> str:
    """CSV text of one value: None → empty, lists/dicts → JSON, bools → true/false, floats round-trip exactly."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Path:
    """Write ``rows`` with a header of ``columns`` (missing keys as empty cells) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([csv_cell(row.get(column)) for column in columns])
    return path


def write_results_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """One line per job (failed ones included) with every key found in any metrics.json."""
    columns = ordered_columns(rows, LEADING_RESULT_COLUMNS, trailing=("run.error", SOURCE_KEY))
    return write_csv(path, rows, columns)


def write_summary_csv(path: Path, summary: Sequence[Mapping[str, Any]]) -> Path:
    """One line per (model, data, method, scope, ratio) group: ``n`` and ``<key>.mean`` / ``<key>.std``."""
    return write_csv(
        path, summary, ordered_columns(summary, LEADING_SUMMARY_COLUMNS) or list(LEADING_SUMMARY_COLUMNS)
    )
