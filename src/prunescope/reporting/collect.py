"""Find and load the ``metrics.json`` of every job of one or more sweeps into flat rows."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.json"
SKIPPED_DIR_NAMES = frozenset({"baselines"})
SOURCE_KEY = "source.path"
STATUS_KEY = "run.status"
COMPLETED = "completed"
FAILED = "failed"


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into dotted keys: ``{"a": {"b": 1}} -> {"a.b": 1}``; lists are kept as values."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def find_metrics_files(root: str | os.PathLike[str]) -> list[Path]:
    """All ``metrics.json`` under ``root`` (or ``root`` itself if it is one), skipping ``baselines/`` folders below root."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"report input {root} is neither a folder nor a metrics.json file")
    found = []
    for path in root.rglob(METRICS_FILE):
        if SKIPPED_DIR_NAMES.intersection(path.relative_to(root).parts[:-1]):
            continue
        found.append(path)
    return sorted(found)


def load_run(path: Path) -> dict[str, Any]:
    """One flat row from one ``metrics.json``; an unreadable file becomes a failed row that names the problem.

    A row without ``run.status`` counts as completed. ``source.path`` holds the file's path.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, Mapping):
            raise ValueError(f"top level is {type(data).__name__}, expected an object")
        row = flatten(data)
    except (OSError, ValueError) as error:
        row = {
            "run.name": path.parent.name,
            STATUS_KEY: FAILED,
            "run.error": f"unreadable {METRICS_FILE}: {error}",
        }
    row.setdefault(STATUS_KEY, COMPLETED)
    row[SOURCE_KEY] = str(path)
    return row


def _sort_key(row: Mapping[str, Any]) -> tuple:
    def part(key: str) -> tuple:
        value = row.get(key)
        if value is None:
            return (2, 0.0, "")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return (0, float(value), "")
        return (1, 0.0, str(value))

    keys = ("run.model", "run.data", "run.method", "run.scope", "run.ratio", "run.seed", SOURCE_KEY)
    return tuple(part(key) for key in keys)


def collect_runs(paths: Iterable[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """Load every job's metrics found under ``paths`` (folders searched recursively, or metrics.json files).

    Args:
        paths: sweep folders (e.g. ``outputs/``; ``baselines/`` below them is skipped) or metrics.json files.

    Returns:
        One flat dict per job (dotted keys as in metrics.json, plus ``source.path``), failed jobs included,
        sorted by model, data, method, scope, ratio, seed.
    """
    files: dict[Path, None] = {}
    for root in paths:
        for path in find_metrics_files(root):
            files.setdefault(path.resolve(), None)
    return sorted((load_run(path) for path in files), key=_sort_key)


def is_completed(row: Mapping[str, Any]) -> bool:
    """True for a job whose ``run.status`` is ``"completed"``."""
    return row.get(STATUS_KEY) == COMPLETED
