"""Peak heap memory of a call: glibc's count of bytes in use, sampled by a background thread (Linux).

PyTorch's CPU allocator has no peak counter and ``tracemalloc`` does not see it, and the resident set size does
not fall when memory is freed (a second call reuses the pages of the first). glibc's ``mallinfo2`` counts the
bytes currently handed out (``uordblks`` from the heap + ``hblkhd`` in mmap'd chunks), which rises and falls with
every tensor. The sampler reads it every ``interval`` seconds while the call runs (PyTorch releases the GIL
inside operators), so a peak shorter than the interval can be missed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
from collections.abc import Callable


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
            "keepcost",
        )
    ]  # fmt: skip


def _mallinfo2() -> Callable[[], _MallInfo2] | None:
    path = ctypes.util.find_library("c")
    if path is None:
        return None
    function = getattr(ctypes.CDLL(path), "mallinfo2", None)
    if function is None:
        return None
    function.restype = _MallInfo2
    return function


_MALLINFO2 = _mallinfo2()


def heap_bytes_in_use() -> int:
    """Bytes currently allocated through malloc (heap + mmap'd chunks).

    Raises:
        OSError: The C library has no ``mallinfo2`` (not glibc >= 2.33).
    """
    if _MALLINFO2 is None:
        raise OSError("peak memory needs glibc's mallinfo2 (Linux, glibc >= 2.33)")
    info = _MALLINFO2()
    return int(info.uordblks + info.hblkhd)


def peak_increase_mb(call: Callable[[], object], interval: float = 0.0005) -> float:
    """Highest heap use during ``call()`` minus the heap use before it, in MiB (>= 0)."""
    before = heap_bytes_in_use()
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, heap_bytes_in_use())
            time.sleep(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        call()
    finally:
        done.set()
        sampler.join()
    return max(0, peak - before) / 2**20
