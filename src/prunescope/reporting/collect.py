"""Find and load the ``metrics.json`` of every job of one or more sweeps into flat rows."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from prunescope.reporting.sweep_jobs import MULTIRUN_FILE, job_identity, sweep_config, sweep_jobs

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

    A sweep folder's ``multirun.yaml`` lists the jobs Hydra was to run: a job that left no ``metrics.json`` is a
    failed row too (:func:`missing_job_rows`).

    Args:
        paths: sweep folders (e.g. ``outputs/``; ``baselines/`` below them is skipped) or metrics.json files.

    Returns:
        One flat dict per job (dotted keys as in metrics.json, plus ``source.path``), failed and missing jobs
        included, sorted by model, data, method, scope, ratio, seed.
    """
    paths = list(paths)
    files: dict[Path, None] = {}
    for root in paths:
        for path in find_metrics_files(root):
            files.setdefault(path.resolve(), None)
    rows = [load_run(path) for path in files]
    return sorted(rows + missing_job_rows(paths, rows), key=_sort_key)


def _sweep_dirs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Folders holding a ``multirun.yaml`` at or below the folders in ``paths`` (``baselines/`` skipped)."""
    found: dict[Path, None] = {}
    for root in map(Path, paths):
        if not root.is_dir():
            continue
        for path in root.rglob(MULTIRUN_FILE):
            if not SKIPPED_DIR_NAMES.intersection(path.relative_to(root).parts[:-1]):
                found.setdefault(path.parent.resolve(), None)
    return list(found)


def _recorded_overrides(folder: Path) -> tuple[str, ...] | None:
    """The overrides a job folder's ``.hydra/overrides.yaml`` records, or None."""
    try:
        loaded = OmegaConf.load(folder / ".hydra" / "overrides.yaml")
    except Exception:
        return None
    return tuple(str(item) for item in loaded) if OmegaConf.is_list(loaded) else None


def missing_job_rows(
    paths: Iterable[str | os.PathLike[str]], rows: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """A failed row for every job of a sweep under ``paths`` that left no ``metrics.json`` among ``rows``.

    The jobs are those of the sweep's ``multirun.yaml`` (:func:`prunescope.reporting.sweep_jobs.sweep_jobs`); a job
    is found when a row's ``metrics.json`` lies in its folder (``<sweep>/<job number>``) or, for another
    ``hydra.sweep.subdir``, when a row's folder records the job's overrides. A missing job's row holds its number as
    ``run.name``, ``run.overrides``, an error naming both, and what its overrides tell of ``run.*``.
    """
    folders = {Path(row[SOURCE_KEY]).resolve().parent for row in rows if row.get(SOURCE_KEY)}
    missing: list[dict[str, Any]] = []
    for sweep_dir in _sweep_dirs(paths):
        jobs = sweep_jobs(sweep_dir)
        if not jobs:
            continue
        inside = [folder for folder in folders if folder.is_relative_to(sweep_dir)]
        recorded = {_recorded_overrides(folder) for folder in inside} if jobs[0].folder is None else set()
        config = sweep_config(sweep_dir)
        for job in jobs:
            found = job.folder.resolve() in folders if job.folder is not None else job.overrides in recorded
            if found:
                continue
            identity = {key: value for key, value in job_identity(job, config).items() if value is not None}
            missing.append(
                {
                    "run.name": str(job.num),
                    **identity,
                    STATUS_KEY: FAILED,
                    "run.error": (
                        f"no {METRICS_FILE}: job {job.num} of {job.total} in sweep {sweep_dir} never wrote one (not "
                        "started, stopped before its first write, or its folder is gone); overrides: "
                        + " ".join(job.overrides)
                    ),
                    "run.overrides": list(job.overrides),
                    SOURCE_KEY: str((job.folder or sweep_dir) / METRICS_FILE),
                }
            )
    return missing


def is_completed(row: Mapping[str, Any]) -> bool:
    """True for a job whose ``run.status`` is ``"completed"``."""
    return row.get(STATUS_KEY) == COMPLETED
