"""The parts that always run in fp32 (pruning statistics, CAMs / Sp2PS, latency, export), whatever the trainer's
precision: :func:`full_precision` switches autocast off on every device and :func:`as_fp32` casts low-precision
float inputs up. Torch only, so that the pruning library and the metrics can use it without the framework."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def full_precision() -> Iterator[None]:
    """Autocast off on CPU and CUDA (also inside a Lightning step where ``bf16-mixed`` switched it on)."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.autocast(device_type="cpu", enabled=False))
        if torch.cuda.is_available():
            stack.enter_context(torch.autocast(device_type="cuda", enabled=False))
        yield


def as_fp32(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` as float32 when it holds low-precision floats (bf16/fp16); other dtypes unchanged."""
    if tensor.is_floating_point() and tensor.dtype in (torch.bfloat16, torch.float16):
        return tensor.float()
    return tensor
