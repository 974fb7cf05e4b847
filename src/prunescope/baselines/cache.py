"""Content-addressed cache of trained baselines, shared by every job of a sweep.

One entry per distinct *baseline-relevant* config (model, data, baseline training, seed): the entry lives in
``root/<key>/`` with ``baseline.ckpt``, ``config.json`` (the key material), ``metrics.json`` (the baseline's test
metrics) and the completion marker ``COMPLETE``, written last. Entries are built in a private temporary folder and
moved into place with ``os.replace`` under a per-key ``filelock.FileLock``, so parallel jobs never train the same
baseline twice and never read a half-written checkpoint; a failed build leaves no marker and the next job retries.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from prunescope.atomic_write import write_text_atomic

CKPT_NAME = "baseline.ckpt"
CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.json"
MARKER_NAME = "COMPLETE"
KEY_LENGTH = 16
DEFAULT_LOCK_TIMEOUT_S = 7 * 24 * 3600.0


def _json_default(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(
        f"baseline key material must be JSON-safe (dict/list/str/number/bool/None/Path), got {type(value).__name__}"
    )


def canonical_json(material: Mapping[str, Any]) -> str:
    """Canonical JSON text of ``material``: sorted keys, no whitespace, tuples as lists, paths as strings."""
    if not isinstance(material, Mapping):
        raise TypeError(f"baseline key material must be a mapping, got {type(material).__name__}")
    return json.dumps(
        material, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_json_default
    )


def baseline_key(config: Mapping[str, Any]) -> str:
    """Stable short key of the baseline-relevant part of a resolved config.

    Args:
        config: plain mapping (model, data, trainer epochs, optimizer, seed, ...); key order does not matter.

    Returns:
        The first 16 hex digits of ``sha256(canonical_json(config))``.
    """
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()[:KEY_LENGTH]


@dataclass(frozen=True)
class CachedBaseline:
    """A complete cache entry.

    Attributes:
        path: the entry folder ``root/<key>``.
        ckpt_path: ``path / "baseline.ckpt"``.
        metrics: the baseline's test metrics as returned by the build.
        created: True when this call built the entry, False when it was reused.
    """

    path: Path
    ckpt_path: Path
    metrics: dict[str, Any]
    created: bool

    @property
    def key(self) -> str:
        """The entry's key (its folder name)."""
        return self.path.name


class BaselineCache:
    """Folder of trained baselines keyed by :func:`baseline_key`.

    Args:
        root: cache folder (created on first use), e.g. ``outputs/baselines``.
        lock_timeout_s: how long a job waits for another job that is building the same entry; ``inf`` or a
            negative value waits forever.
    """

    def __init__(self, root: str | os.PathLike[str], lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> None:
        self.root = Path(root)
        self.lock_timeout_s = float(lock_timeout_s)

    def entry_dir(self, key: str) -> Path:
        """Folder of the entry with key ``key`` (it may not exist)."""
        return self.root / key

    def lock_path(self, key: str) -> Path:
        """Lock file guarding the entry with key ``key``."""
        return self.root / f"{key}.lock"

    def _load(self, key: str, material_json: str, created: bool) -> CachedBaseline | None:
        path = self.entry_dir(key)
        if not (path / MARKER_NAME).is_file():
            return None
        stored = (path / CONFIG_NAME).read_text(encoding="utf-8")
        if stored != material_json:
            raise RuntimeError(
                f"baseline cache key collision in {path}: stored config.json differs from the key material"
            )
        metrics = json.loads((path / METRICS_NAME).read_text(encoding="utf-8"))
        return CachedBaseline(path=path, ckpt_path=path / CKPT_NAME, metrics=metrics, created=created)

    def lookup(self, key_material: Mapping[str, Any]) -> CachedBaseline | None:
        """The complete entry for ``key_material``, or None when there is none yet (takes no lock)."""
        material_json = canonical_json(key_material)
        return self._load(baseline_key(key_material), material_json, created=False)

    def get_or_create(
        self, key_material: Mapping[str, Any], build: Callable[[Path], Mapping[str, Any]]
    ) -> CachedBaseline:
        """Return the complete entry for ``key_material``, building it first if needed.

        Under the entry's file lock: a complete entry is returned as is; otherwise ``build(tmp_dir)`` is called, must
        write ``tmp_dir / "baseline.ckpt"`` and return the test metrics (a JSON-safe mapping); the folder then replaces
        any incomplete leftover at ``root/<key>`` and the ``COMPLETE`` marker is written last. If ``build`` raises,
        its temporary folder is removed, no entry is created and the exception propagates.

        Args:
            key_material: the baseline-relevant config (see :func:`baseline_key`).
            build: trains and tests the baseline into the given folder; returns its metrics.

        Returns:
            The entry; ``created`` tells whether this call built it.

        Raises:
            filelock.Timeout: another job held the lock for longer than ``lock_timeout_s``.
        """
        material_json = canonical_json(key_material)
        key = baseline_key(key_material)
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(self.lock_path(key), timeout=self.lock_timeout_s):
            existing = self._load(key, material_json, created=False)
            if existing is not None:
                return existing
            tmp_dir = self.root / f".{key}.building-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            tmp_dir.mkdir()
            try:
                metrics = build(tmp_dir)
                if not isinstance(metrics, Mapping):
                    raise TypeError(
                        f"baseline build must return a metrics mapping, got {type(metrics).__name__}"
                    )
                if not (tmp_dir / CKPT_NAME).is_file():
                    raise FileNotFoundError(f"baseline build did not write {CKPT_NAME} into {tmp_dir}")
                metrics_json = json.dumps(dict(metrics), sort_keys=True, indent=2, default=_json_default)
                write_text_atomic(tmp_dir / CONFIG_NAME, material_json)
                write_text_atomic(tmp_dir / METRICS_NAME, metrics_json)
                final_dir = self.entry_dir(key)
                if (
                    final_dir.exists()
                ):  # incomplete leftover of a crashed job: we hold the lock, so it is stale
                    shutil.rmtree(final_dir)
                os.replace(tmp_dir, final_dir)
            except BaseException:
                shutil.rmtree(tmp_dir, ignore_errors=True)
                raise
            write_text_atomic(final_dir / MARKER_NAME, json.dumps({"key": key}))
            return CachedBaseline(
                path=final_dir,
                ckpt_path=final_dir / CKPT_NAME,
                metrics=json.loads(metrics_json),
                created=True,
            )
