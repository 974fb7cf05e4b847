"""The heap sampler behind the calibration-memory figures sees a tensor's bytes come and go."""

from __future__ import annotations

import torch

from prunescope.benchmarks.peak_memory import heap_bytes_in_use, peak_increase_mb


def test_peak_sees_two_live_tensors_and_not_a_freed_one() -> None:
    def two_buffers() -> None:
        a = torch.ones(2000, 2000)  # 16 MB
        b = a * 2  # another 16 MB while a is alive
        del a, b

    def one_buffer_twice() -> None:
        for _ in range(2):
            a = torch.ones(2000, 2000)
            del a

    both = peak_increase_mb(two_buffers)
    single = peak_increase_mb(one_buffer_twice)
    assert 29 < both < 34  # 32e6 bytes = 30.5 MiB
    assert 14 < single < 18  # the second buffer reuses the first one's place
    assert heap_bytes_in_use() > 0
