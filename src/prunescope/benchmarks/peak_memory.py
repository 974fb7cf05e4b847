"""Peak resident memory of a call, sampled from ``/proc/self/statm`` by a background thread (Linux).

PyTorch's CPU allocator has no peak counter and ``tracemalloc`` does not see it; the resident set size does.
The sampler reads it every ``interval`` seconds while the call runs (PyTorch releases the GIL inside operators),
so a peak shorter than the interval can be missed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """Current resident set size of this process in bytes.

    Raises:
        OSError: ``/proc/self/statm`` is not available (not Linux).
    """
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE_BYTES


def peak_increase_mb(call: Callable[[], object], interval: float = 0.001) -> float:
    """Highest resident memory during ``call()`` minus the resident memory before it, in MiB (>= 0)."""
    before = resident_bytes()
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, resident_bytes())
            time.sleep(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        call()
    finally:
        done.set()
        sampler.join()
    peak = max(peak, resident_bytes())
    return max(0, peak - before) / 2**20
