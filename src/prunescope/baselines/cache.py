"""Content-addressed cache of trained baselines, shared by every job of a sweep.

One entry per distinct *baseline-relevant* config (:mod:`prunescope.baselines.material`): the entry lives in
``root/<key>/`` with ``baseline.ckpt``, ``config.json`` (the key material), ``metrics.json`` (the baseline's test
metrics), ``provenance.json`` when the pipeline built it (package version, git commit, epochs, time, date) and the
completion marker ``COMPLETE``, written last. Entries are built in the key's build folder ``root/.<key>.building``
and moved into place with ``os.replace`` under a per-key lock (``flock`` or, for network filesystems, an
exclusive-create marker file: :mod:`prunescope.baselines.locks`), so parallel jobs never train the same baseline twice
and never read a half-written checkpoint.

Nothing trained is thrown away. The build folder has a fixed name per key, so the next job with that key continues
what a previous one left there: a fit interrupted by a signal resumes from its ``checkpoints/last.ckpt``, and a
``baseline.ckpt`` whose job was killed (``kill -9``, OOM) before the entry was completed is tested, not trained again.
A build that fails with an error before its checkpoint exists leaves nothing; one that fails after training (e.g. a
bad test file) keeps the entry with a ``FAILED`` marker, and the next job tests it again. A build that raises
:class:`NotCached` (a fit that stopped early by design) leaves nothing in the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prunescope.atomic_write import write_text_atomic
from prunescope.baselines.locks import DEFAULT_STALE_AFTER_S, check_lock_options, lock_path, make_lock

log = logging.getLogger(__name__)

CKPT_NAME = "baseline.ckpt"
CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.json"
PROVENANCE_NAME = "provenance.json"
MARKER_NAME = "COMPLETE"
FAILED_NAME = "FAILED"
KEY_LENGTH = 16
DEFAULT_LOCK_TIMEOUT_S = 7 * 24 * 3600.0


class NotCached(Exception):  # noqa: N818 - a signal to the cache, not a failure
    """Raised by a build whose baseline must not enter the cache (e.g. its fit stopped early by design).

    Attributes:
        reason: one line saying why.
        result: whatever the build wants its caller to have (e.g. the checkpoint it wrote elsewhere and its metrics).
    """

    def __init__(self, reason: str, result: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.result = result


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
    """Stable short key of a plain settings mapping: the baseline-relevant part of a resolved config (the cache's
    key), or a run's settings (``run.config_key``, :mod:`prunescope.pipeline.run_key`).

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
        lock: ``"file"`` (``flock``) or ``"soft"`` (exclusive-create marker file with stale-holder detection by
            host, pid and heartbeat age; for network filesystems without working ``flock``).
        lock_stale_s: ``soft`` only: seconds without a heartbeat after which a holder on another host counts as
            dead.

    Raises:
        ValueError: ``lock`` is not ``file`` or ``soft``, or ``lock_stale_s`` is not positive.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
        lock: str = "file",
        lock_stale_s: float = DEFAULT_STALE_AFTER_S,
    ) -> None:
        check_lock_options(lock, lock_stale_s)
        self.root = Path(root)
        self.lock_timeout_s = float(lock_timeout_s)
        self.lock = lock
        self.lock_stale_s = float(lock_stale_s)

    def entry_dir(self, key: str) -> Path:
        """Folder of the entry with key ``key`` (it may not exist)."""
        return self.root / key

    def build_dir(self, key: str) -> Path:
        """Folder in which the entry with key ``key`` is built (``.<key>.building``; resumable across jobs)."""
        return self.root / f".{key}.building"

    def lock_path(self, key: str) -> Path:
        """Lock file guarding the entry with key ``key`` (``<key>.lock``, or ``<key>.softlock`` for ``soft``)."""
        return lock_path(self.root / key, self.lock)

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
        self,
        key_material: Mapping[str, Any],
        build: Callable[[Path], Mapping[str, Any]],
        retest: Callable[[Path], Mapping[str, Any]] | None = None,
    ) -> CachedBaseline:
        """Return the complete entry for ``key_material``, building it first if needed.

        Under the entry's file lock: a complete entry is returned as is. An entry whose training finished but whose
        build failed afterwards (``FAILED`` marker beside ``baseline.ckpt``), or a build folder holding a
        ``baseline.ckpt`` whose job was killed before completing the entry, is tested with ``retest(folder)`` —
        never trained again. Otherwise ``build(build_dir)`` is called with the key's build folder (which may hold
        an interrupted fit's ``checkpoints/last.ckpt`` to resume from): it must write ``build_dir /
        "baseline.ckpt"`` as soon as training ends and return the test metrics (a JSON-safe mapping); the folder
        then replaces any incomplete leftover at ``root/<key>`` and the ``COMPLETE`` marker is written last.
        If ``build`` raises an error before writing the checkpoint, or :class:`NotCached`, its folder is removed;
        an error after keeps the folder as the entry with a ``FAILED`` marker (error text) so the trained weights
        survive; an interruption (``BaseException`` that is no ``Exception``) keeps the build folder to resume
        from. The exception propagates in every case.

        Args:
            key_material: the baseline-relevant config (see :func:`baseline_key`).
            build: trains and tests the baseline into the given folder; returns its metrics.
            retest: tests the trained baseline of a ``FAILED`` entry or a killed build in its folder; returns its
                metrics. ``None``: such an entry is built again.

        Returns:
            The entry; ``created`` tells whether this call built (or re-tested) it.

        Raises:
            filelock.Timeout: another job held the lock for longer than ``lock_timeout_s``.
        """
        material_json = canonical_json(key_material)
        key = baseline_key(key_material)
        self.root.mkdir(parents=True, exist_ok=True)
        with make_lock(self.root / key, self.lock, self.lock_timeout_s, self.lock_stale_s):
            existing = self._load(key, material_json, created=False)
            if existing is not None:
                return existing
            final_dir = self.entry_dir(key)
            if (
                retest is not None
                and (final_dir / FAILED_NAME).is_file()
                and (final_dir / CKPT_NAME).is_file()
            ):
                return self._complete(final_dir, key, material_json, retest(final_dir))
            build_dir = self._adopt_leftovers(key)
            if (
                retest is not None and (build_dir / CKPT_NAME).is_file()
            ):  # trained, then killed before completion
                log.info(
                    "baseline %s: testing the trained checkpoint a killed job left in %s", key, build_dir
                )
                metrics = retest(build_dir)
                self._replace(build_dir, final_dir)
                return self._complete(final_dir, key, material_json, metrics)
            try:
                metrics = build(build_dir)
                if not (build_dir / CKPT_NAME).is_file():
                    raise FileNotFoundError(f"baseline build did not write {CKPT_NAME} into {build_dir}")
            except NotCached:
                shutil.rmtree(build_dir, ignore_errors=True)
                raise
            except Exception as error:
                if (build_dir / CKPT_NAME).is_file():  # training finished: keep it, record what failed after
                    write_text_atomic(build_dir / CONFIG_NAME, material_json)
                    failure = {"error": f"{type(error).__name__}: {error}"}
                    write_text_atomic(build_dir / FAILED_NAME, json.dumps(failure, indent=2))
                    self._replace(build_dir, final_dir)
                else:
                    shutil.rmtree(build_dir, ignore_errors=True)
                raise
            # an interruption (a BaseException: signal, Ctrl-C, SystemExit) keeps the build folder to resume from
            self._replace(build_dir, final_dir)
            return self._complete(final_dir, key, material_json, metrics)

    def _adopt_leftovers(self, key: str) -> Path:
        """The key's build folder, created if needed. A trained ``baseline.ckpt`` left by an older version's
        per-process build folder (``.<key>.building-<pid>-<hex>``) is moved into it, so it is reused (the caller
        holds the lock, so no other job is building)."""
        build_dir = self.build_dir(key)
        if not (build_dir / CKPT_NAME).is_file():
            legacy = sorted(
                (p for p in self.root.glob(f".{key}.building-*") if (p / CKPT_NAME).is_file()),
                key=lambda p: (p / CKPT_NAME).stat().st_mtime,
            )
            if legacy:
                shutil.rmtree(build_dir, ignore_errors=True)
                os.replace(legacy[-1], build_dir)
        build_dir.mkdir(exist_ok=True)
        return build_dir

    @staticmethod
    def _replace(tmp_dir: Path, final_dir: Path) -> None:
        """Move ``tmp_dir`` onto ``final_dir`` (a leftover there is stale: the caller holds the lock)."""
        if final_dir.exists():
            shutil.rmtree(final_dir)
        os.replace(tmp_dir, final_dir)

    @staticmethod
    def _complete(
        final_dir: Path, key: str, material_json: str, metrics: Mapping[str, Any]
    ) -> CachedBaseline:
        """Write config, metrics and (last) the ``COMPLETE`` marker of an entry whose checkpoint is in place."""
        if not isinstance(metrics, Mapping):
            raise TypeError(f"baseline build must return a metrics mapping, got {type(metrics).__name__}")
        metrics_json = json.dumps(dict(metrics), sort_keys=True, indent=2, default=_json_default)
        write_text_atomic(final_dir / CONFIG_NAME, material_json)
        write_text_atomic(final_dir / METRICS_NAME, metrics_json)
        (final_dir / FAILED_NAME).unlink(missing_ok=True)
        write_text_atomic(final_dir / MARKER_NAME, json.dumps({"key": key}))
        return CachedBaseline(
            path=final_dir, ckpt_path=final_dir / CKPT_NAME, metrics=json.loads(metrics_json), created=True
        )
