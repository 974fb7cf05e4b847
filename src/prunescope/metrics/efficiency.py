"""Cost of a network: parameters, multiply-accumulates, size on disk and measured latency."""

from __future__ import annotations

import io
import statistics
import time
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(net: nn.Module) -> int:
    """Number of parameter elements (trainable or not; buffers such as BatchNorm running stats excluded)."""
    return sum(p.numel() for p in net.parameters())


def count_macs(net: nn.Module, example_input: torch.Tensor) -> int:
    """Multiply-accumulates (MACs) of one forward pass on ``example_input`` (whole batch); see
    :func:`count_macs_and_shape`."""
    return count_macs_and_shape(net, example_input)[0]


def count_macs_and_shape(net: nn.Module, example_input: torch.Tensor) -> tuple[int, tuple[int, ...]]:
    """``(MACs, output shape)`` of one forward pass on ``example_input`` (whole batch).

    Counted with :class:`torch.utils.flop_counter.FlopCounterMode`, which counts ``2`` FLOPs per multiply-accumulate
    of convolutions (incl. transposed), matrix products and linear layers; MACs = FLOPs / 2. For a convolution
    ``MACs = B · C_out · H_out · W_out · (C_in / groups) · k_h · k_w``. Bias additions, normalisation, activations,
    pooling and interpolation are not counted. Runs in eval mode without gradients; restores ``net.training``.
    """
    was_training = net.training
    net.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            output = net(example_input)
    finally:
        net.train(was_training)
    return int(counter.get_total_flops()) // 2, tuple(output.shape)


def model_size_mb(net: nn.Module) -> float:
    """Size of the serialised ``state_dict`` (``torch.save`` into memory), in MiB (bytes / 2**20)."""
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return buffer.getbuffer().nbytes / 2**20


def measure_latency_ms(
    net: nn.Module, example_input: torch.Tensor, warmup: int = 3, repeats: int = 10
) -> float:
    """Median wall-clock time of one forward pass on ``example_input``, in milliseconds.

    Eval mode, ``torch.no_grad()``, on the device of ``example_input`` (CUDA is synchronised before and after each
    pass). ``warmup`` untimed passes come first. Restores ``net.training``.

    Raises:
        ValueError: ``warmup < 0`` or ``repeats < 1``.
    """
    if warmup < 0 or repeats < 1:
        raise ValueError(f"need warmup >= 0 and repeats >= 1, got warmup={warmup}, repeats={repeats}")
    on_cuda = example_input.is_cuda
    was_training = net.training
    net.eval()
    times: list[float] = []
    try:
        with torch.no_grad():
            for _ in range(warmup):
                net(example_input)
            for _ in range(repeats):
                if on_cuda:
                    torch.cuda.synchronize(example_input.device)
                start = time.perf_counter()
                net(example_input)
                if on_cuda:
                    torch.cuda.synchronize(example_input.device)
                times.append(time.perf_counter() - start)
    finally:
        net.train(was_training)
    return statistics.median(times) * 1000.0


def profile_model(
    net: nn.Module, example_input: torch.Tensor, warmup: int = 3, repeats: int = 10
) -> dict[str, Any]:
    """``{"params", "macs", "size_mb", "latency_ms"}`` of ``net`` on ``example_input`` (see the single functions)."""
    return {
        "params": count_params(net),
        "macs": count_macs(net, example_input),
        "size_mb": model_size_mb(net),
        "latency_ms": measure_latency_ms(net, example_input, warmup=warmup, repeats=repeats),
    }
