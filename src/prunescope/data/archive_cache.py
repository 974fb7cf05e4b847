"""Unpack tar archives once into a cache folder, safely across concurrent jobs."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Sequence
from pathlib import Path

from filelock import FileLock

from prunescope.atomic_write import write_text_atomic

MARKER_NAME = ".unpacked.json"
LOCK_NAME = ".unpack.lock"


def _signature(archives: Sequence[Path]) -> str:
    return json.dumps([[archive.name, archive.stat().st_size] for archive in archives])


def is_unpacked(archives: Sequence[str | Path], cache_dir: str | Path) -> bool:
    """Whether ``cache_dir`` holds a completed unpack of exactly these archives (by name and size)."""
    marker = Path(cache_dir).expanduser() / MARKER_NAME
    return marker.is_file() and marker.read_text() == _signature([Path(a) for a in archives])


def unpack_once(archives: Sequence[str | Path], cache_dir: str | Path) -> Path:
    """Extract ``archives`` into ``cache_dir`` unless a previous run already completed it.

    Holds a ``filelock`` on ``cache_dir/.unpack.lock`` while extracting and writes the completion marker
    ``cache_dir/.unpacked.json`` (archive names and sizes) last, atomically: a concurrent job waits for the
    lock and then sees the marker, and a job killed mid-way leaves no marker, so the next run extracts again.
    Members are extracted with tarfile's ``"data"`` filter (no absolute paths, links out of the folder, etc.).

    Returns:
        ``cache_dir`` as an expanded ``Path``.
    """
    paths = [Path(a).expanduser() for a in archives]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"archives to unpack not found: {', '.join(missing)}")
    cache_dir = Path(cache_dir).expanduser()
    if is_unpacked(paths, cache_dir):
        return cache_dir
    cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_dir / LOCK_NAME)):
        if is_unpacked(paths, cache_dir):
            return cache_dir
        (cache_dir / MARKER_NAME).unlink(missing_ok=True)
        for path in paths:
            with tarfile.open(path) as archive:
                archive.extractall(cache_dir, filter="data")
        write_text_atomic(cache_dir / MARKER_NAME, _signature(paths))
    return cache_dir
