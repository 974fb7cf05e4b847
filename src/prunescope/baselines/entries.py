"""Reading the baseline cache as a user does: entries with their provenance, leftover builds, removal under the lock.

``provenance.json`` (written by the pipeline beside ``baseline.ckpt``) records where an entry came from::

    {"key", "created" (ISO date), "package_version", "git_commit", "git_dirty", "epochs_done", "max_epochs",
     "train_seconds", "model", "data", "quality_metric", "quality", "run_dir"}
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import filelock

from prunescope.baselines.cache import (
    CKPT_NAME,
    CONFIG_NAME,
    FAILED_NAME,
    MARKER_NAME,
    METRICS_NAME,
    PROVENANCE_NAME,
    BaselineCache,
)
from prunescope.baselines.locks import make_lock


class CacheEntryError(ValueError):
    """A cache command asked for an entry that does not exist or cannot be changed now; the message says which."""


def code_version(root: str | Path) -> dict[str, Any]:
    """``package_version`` and, when ``root`` is a git checkout, ``git_commit`` and ``git_dirty``."""
    try:
        version = metadata.version("prunescope")
    except metadata.PackageNotFoundError:
        version = None
    info: dict[str, Any] = {"package_version": version, "git_commit": None, "git_dirty": None}
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return info
    return {**info, "git_commit": commit, "git_dirty": bool(status.strip())}


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class EntryInfo:
    """One folder of the cache: a complete entry, a failed one, or a build in progress / left by a killed job."""

    key: str
    path: Path
    status: str
    """``complete``, ``failed`` (trained, test failed), ``trained`` (build folder with a trained checkpoint),
    ``partial`` (build folder with a resumable fit) or ``empty``."""
    config: dict[str, Any]
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    size_bytes: int

    @property
    def model(self) -> str:
        return _short_target((self.config.get("model") or {}).get("net", {}).get("_target_"))

    @property
    def data(self) -> str:
        return _short_target((self.config.get("data") or {}).get("_target_"))

    @property
    def epochs(self) -> Any:
        return self.provenance.get("epochs_done", (self.config.get("trainer") or {}).get("max_epochs"))

    @property
    def quality(self) -> tuple[str, float] | None:
        """``(metric, value)`` of the recorded test quality: ``test/miou`` or ``test/acc``."""
        for name in ("miou", "acc"):
            for key in (f"test/{name}", name):
                if isinstance(self.metrics.get(key), int | float):
                    return name, float(self.metrics[key])
        return None

    @property
    def created(self) -> str | None:
        return self.provenance.get("created")


def _short_target(target: Any) -> str:
    return str(target).rsplit(".", 1)[-1] if target else "?"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def read_provenance(folder: Path) -> dict[str, Any]:
    """``folder/provenance.json`` as a dict; empty when it is missing or unreadable."""
    return _read_json(folder / PROVENANCE_NAME)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _info(key: str, path: Path, building: bool) -> EntryInfo:
    if building:
        if (path / CKPT_NAME).is_file():
            status = "trained"
        elif (path / "checkpoints").is_dir():
            status = "partial"
        else:
            status = "empty"
    else:
        status = (
            "complete"
            if (path / MARKER_NAME).is_file()
            else "failed"
            if (path / FAILED_NAME).is_file()
            else "empty"
        )
    return EntryInfo(
        key=key,
        path=path,
        status=status,
        config=_read_json(path / CONFIG_NAME),
        metrics=_read_json(path / METRICS_NAME),
        provenance=read_provenance(path),
        size_bytes=_size(path),
    )


def list_entries(cache: BaselineCache) -> list[EntryInfo]:
    """Every entry and build folder under the cache root, newest first."""
    if not cache.root.is_dir():
        return []
    infos = []
    for path in cache.root.iterdir():
        if not path.is_dir():
            continue
        if path.name.startswith("."):
            key = path.name[1:].split(".building", 1)[0]
            infos.append(_info(key, path, building=True))
        else:
            infos.append(_info(path.name, path, building=False))
    return sorted(infos, key=lambda info: (info.path.stat().st_mtime, info.key), reverse=True)


def find_entry(cache: BaselineCache, key: str) -> EntryInfo:
    """The complete or failed entry whose key starts with ``key`` (a unique prefix is enough).

    Raises:
        CacheEntryError: no entry, or several, match ``key``.
    """
    matches = [
        info
        for info in list_entries(cache)
        if info.key.startswith(key) and not info.path.name.startswith(".")
    ]
    if len(matches) != 1:
        known = ", ".join(sorted(info.key for info in list_entries(cache))) or "none"
        what = "no entry matches" if not matches else f"{len(matches)} entries match"
        raise CacheEntryError(f"{what} key {key!r} in the baseline cache {cache.root}; keys: {known}")
    return matches[0]


def remove_entry(cache: BaselineCache, key: str) -> list[Path]:
    """Remove the entry ``key`` and its build folders, under the entry's lock (not while a live run holds it).

    Returns:
        The folders removed.

    Raises:
        CacheEntryError: no such entry, or a live run holds its lock (it is building or reading it).
    """
    matches = [info for info in list_entries(cache) if info.key.startswith(key)]
    keys = {info.key for info in matches}
    if len(keys) != 1:
        known = ", ".join(sorted({info.key for info in list_entries(cache)})) or "none"
        raise CacheEntryError(
            f"no single entry of the baseline cache {cache.root} matches key {key!r}; keys: {known}"
        )
    (full_key,) = keys
    try:
        with make_lock(cache.root / full_key, cache.lock, timeout_s=0.0, stale_after_s=cache.lock_stale_s):
            removed = [info.path for info in matches]
            for path in removed:
                shutil.rmtree(path)
    except filelock.Timeout as error:
        raise CacheEntryError(
            f"baseline cache entry {full_key} is in use by a live run (lock {cache.lock_path(full_key)}); "
            "remove it when that run has ended"
        ) from error
    return removed
