"""``results.csv`` (one row per job, every key) and ``summary.csv`` (mean ± std over seeds per group); reading a
``results.csv`` back into the rows it was written from."""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from prunescope.reporting.collect import SOURCE_KEY, STATUS_KEY
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
TEXT_COLUMNS = frozenset({"run.name"})
"""Columns read back as text whatever they look like: Hydra names a sweep's jobs ``0``, ``1``, ..."""
INTEGER = re.compile(r"[-+]?\d+")
FLOAT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan")


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


def csv_value(text: str) -> Any:
    """The value :func:`csv_cell` wrote as ``text``: empty → None, true/false → bool, JSON lists and objects,
    integers, floats (``str(float)`` round-trips exactly, ``nan`` and ``inf`` included), anything else as text."""
    if text == "":
        return None
    if text in ("true", "false"):
        return text == "true"
    if text[0] in "[{":
        try:
            return json.loads(text)
        except ValueError:  # text that starts like JSON, e.g. an error "[Errno 2] ..."
            return text
    if INTEGER.fullmatch(text):
        return int(text)
    if FLOAT.fullmatch(text):
        return float(text)
    return text


def read_results_csv(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The job rows a ``results.csv`` was written from (:func:`write_results_csv`), typed again by
    :func:`csv_value`; an empty cell is a key the job did not have, and is left out of its row.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file has no ``run.status`` column, so it is no ``results.csv`` of ``prunescope-report``.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if STATUS_KEY not in (reader.fieldnames or ()):
            raise ValueError(f"{path} has no {STATUS_KEY} column: not a results.csv of prunescope-report")
        return [
            {key: text if key in TEXT_COLUMNS else csv_value(text) for key, text in row.items() if text != ""}
            for row in reader
        ]


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
