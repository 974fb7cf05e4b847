"""Atomic file writes: write a temporary file in the target's folder, then ``os.replace`` it onto the target.

A reader sees the old file or the new one, never a half-written one; a failed write leaves the target untouched.
The file gets the mode an ordinary ``open(path, "w")`` would give it (``0o666`` minus the umask: 0644 under 022,
0664 under 002), not ``mkstemp``'s private 0600, so group members on shared storage can read results and reuse
baselines.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch


def current_umask() -> int:
    """The process's umask, read without changing it (``/proc/self/status`` on Linux; elsewhere set and put back)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def replace_atomically(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a fresh temporary path beside ``path``, fsync it, then rename it onto ``path``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    finally:
        os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | os.PathLike[str], data: Mapping[str, Any], **dump_options: Any) -> Path:
    """Write ``data`` as indented, key-sorted JSON to ``path`` atomically (``dump_options`` go to ``json.dumps``)."""
    options = {"indent": 2, "sort_keys": True, **dump_options}
    return write_text_atomic(path, json.dumps(dict(data), **options) + "\n")


def torch_save_atomic(path: str | os.PathLike[str], payload: Any) -> Path:
    """``torch.save(payload)`` to ``path`` atomically."""
    return replace_atomically(path, lambda tmp: torch.save(payload, tmp))
