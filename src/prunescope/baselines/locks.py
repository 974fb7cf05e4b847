"""The per-entry lock of the baseline cache: ``file`` (``flock``) or ``soft`` (exclusive-create marker file).

``file`` is :class:`filelock.FileLock`: an OS lock that ends with its process, the right choice on one machine or a
filesystem whose ``flock`` works across hosts. ``soft`` is :class:`filelock.SoftFileLease`, for network filesystems
where ``flock`` may be missing or local to a host: the lock is a marker file created with ``O_CREAT | O_EXCL`` that
records the holder's host, pid, process start and a claim token. A waiting job treats the marker as stale, and
takes it over, when it names a process of the waiter's own host that is no longer running, or when the holder's
heartbeat (a refresh every third of ``stale_after_s``) has left it unchanged for ``stale_after_s`` seconds — a job
that died on another host.
"""

from __future__ import annotations

import os
from pathlib import Path

from filelock import BaseFileLock, FileLock, SoftFileLease

LOCK_KINDS = ("file", "soft")
DEFAULT_STALE_AFTER_S = 300.0


def check_lock_options(kind: str, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> None:
    """Raise ``ValueError`` (one line naming the valid choices) for an unknown kind or a non-positive stale age."""
    if kind not in LOCK_KINDS:
        raise ValueError(f"baseline.lock={kind!r} is not a lock kind; valid: {' | '.join(LOCK_KINDS)}")
    if not float(stale_after_s) > 0:
        raise ValueError(f"baseline.lock_stale_s must be > 0 seconds, got {stale_after_s!r}")


def lock_path(base: str | os.PathLike[str], kind: str) -> Path:
    """Lock file of kind ``kind`` for ``base`` (``<base>.lock`` or ``<base>.softlock``: the two never share a file)."""
    check_lock_options(kind)
    return Path(f"{os.fspath(base)}.{'lock' if kind == 'file' else 'softlock'}")


def make_lock(
    base: str | os.PathLike[str],
    kind: str,
    timeout_s: float,
    stale_after_s: float = DEFAULT_STALE_AFTER_S,
) -> BaseFileLock:
    """A lock of kind ``kind`` guarding ``base``.

    Args:
        base: path the lock file name is derived from (see :func:`lock_path`).
        kind: ``"file"`` or ``"soft"``.
        timeout_s: how long ``acquire`` waits; ``inf`` or a negative value waits forever.
        stale_after_s: ``soft`` only: seconds without a heartbeat after which a holder counts as dead.

    Returns:
        An unacquired lock, usable as a context manager.

    Raises:
        ValueError: unknown ``kind`` or a non-positive ``stale_after_s``.
    """
    check_lock_options(kind, stale_after_s)
    path = lock_path(base, kind)
    timeout = -1.0 if timeout_s == float("inf") else float(timeout_s)
    if kind == "file":
        return FileLock(path, timeout=timeout)
    return SoftFileLease(path, timeout=timeout, lease_duration=float(stale_after_s))
