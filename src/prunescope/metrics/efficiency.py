"""Cost of a network: parameters, multiply-accumulates, size on disk and measured latency.

Latency is the median of ``repeats`` (default 20) timed forwards after ``warmup`` (default 5) untimed ones, in
eager PyTorch; :class:`Latency` carries the runtime, batch and thread count with the figure, and
:func:`compare_latency` times several networks interleaved so that a speed-up compares like with like.
:func:`time_interleaved` is the timing loop the benchmarks (``prunescope-bench``) share.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from prunescope.fp32 import as_fp32, full_precision


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
        with torch.no_grad(), full_precision(), counter:
            output = net(as_fp32(example_input))
    finally:
        net.train(was_training)
    return int(counter.get_total_flops()) // 2, tuple(output.shape)


def model_size_mb(net: nn.Module) -> float:
    """Size of the serialised ``state_dict`` (``torch.save`` into memory), in MiB (bytes / 2**20)."""
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return buffer.getbuffer().nbytes / 2**20


LATENCY_RUNTIME = "eager"
"""Runtime of :func:`measure_latency`: eager PyTorch, eval mode, ``torch.no_grad()``."""


@dataclass(frozen=True)
class Latency:
    """A median forward time and the conditions it was measured under.

    Attributes:
        ms: Median wall-clock time of one forward of the whole batch, in milliseconds.
        runtime: Runtime that executed the forwards (``"eager"`` for :func:`measure_latency`).
        batch: Batch size of the timed input.
        threads: Intra-op threads (``torch.get_num_threads()``) during the measurement.
        warmup: Untimed forwards before the timed ones.
        repeats: Timed forwards the median is taken over.
    """

    ms: float
    runtime: str
    batch: int
    threads: int
    warmup: int
    repeats: int

    def fields(self) -> dict[str, Any]:
        """``{"latency_ms", "latency_runtime", "latency_batch", "latency_threads"}`` for ``metrics.json``."""
        return {
            "latency_ms": self.ms,
            "latency_runtime": self.runtime,
            "latency_batch": self.batch,
            "latency_threads": self.threads,
        }


def time_interleaved(
    runs: Mapping[str, Callable[[], object]],
    warmup: int = 5,
    repeats: int = 20,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Seconds of every call of each run (wall clock by default), the runs taking turns.

    ``warmup`` untimed rounds come first; then ``repeats`` timed rounds call every run once, starting each round
    one run later (round-robin), so slow drifts of a shared machine (load, frequency) hit all runs alike.

    Args:
        runs: Name -> zero-argument callable (it must finish its work before returning, e.g. synchronise CUDA).
        warmup: Untimed rounds (>= 0).
        repeats: Timed rounds (>= 1).
        clock: Seconds counter read around each call (``time.process_time`` for CPU time).

    Returns:
        Name -> ``repeats`` durations in seconds, in call order.

    Raises:
        ValueError: ``warmup < 0``, ``repeats < 1`` or no runs.
    """
    if warmup < 0 or repeats < 1:
        raise ValueError(f"need warmup >= 0 and repeats >= 1, got warmup={warmup}, repeats={repeats}")
    if not runs:
        raise ValueError("time_interleaved needs at least one run")
    names = list(runs)
    for _ in range(warmup):
        for name in names:
            runs[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = clock()
            runs[name]()
            times[name].append(clock() - start)
    return times


def _forward(net: nn.Module, example_input: torch.Tensor) -> Callable[[], object]:
    """One no-grad fp32 forward (autocast off) of ``example_input``, CUDA synchronised after it (the caller sets
    eval mode)."""
    device = example_input.device

    def run() -> object:
        with torch.no_grad(), full_precision():
            output = net(example_input)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return output

    return run


def compare_latency(
    nets: Mapping[str, nn.Module],
    example_input: torch.Tensor,
    warmup: int = 5,
    repeats: int = 20,
    memory_format: torch.memory_format | None = None,
) -> dict[str, Latency]:
    """Median eager forward time of several networks on the same input, measured interleaved.

    Eval mode and ``torch.no_grad()`` on the device of ``example_input``; every network's training mode is
    restored afterwards. Timing as in :func:`time_interleaved`; use the result of one call for a speed-up, so
    that both figures come from the same runtime, batch, threads and moment.

    ``memory_format`` (e.g. ``torch.channels_last``) times every network with its 4-D weights, and a 4-D input, in
    that layout, and gives each weight its own layout back afterwards. ``None`` times each network as it is: a
    channels-last copy of a network runs faster than the same network in NCHW on CPUs with oneDNN, so a speed-up
    between networks in different layouts is partly the layout's.

    Raises:
        ValueError: ``warmup < 0`` or ``repeats < 1``.
    """
    modes = {name: net.training for name, net in nets.items()}
    layouts: dict[nn.Parameter, torch.Tensor] = {}  # each parameter's own tensor, given back after the timing
    if memory_format is not None:
        layouts = {param: param.data for net in nets.values() for param in net.parameters()}
        if example_input.dim() == 4:
            example_input = example_input.contiguous(memory_format=memory_format)
    try:
        for net in nets.values():
            net.eval()
            if memory_format is not None:
                net.to(memory_format=memory_format)
        if example_input.is_cuda:
            torch.cuda.synchronize(example_input.device)
        times = time_interleaved(
            {name: _forward(net, example_input) for name, net in nets.items()}, warmup, repeats
        )
    finally:
        for name, net in nets.items():
            net.train(modes[name])
        for param, data in layouts.items():
            param.data = data
    threads = torch.get_num_threads()
    return {
        name: Latency(
            ms=statistics.median(seconds) * 1000.0,
            runtime=LATENCY_RUNTIME,
            batch=int(example_input.shape[0]),
            threads=threads,
            warmup=warmup,
            repeats=repeats,
        )
        for name, seconds in times.items()
    }


def measure_latency(
    net: nn.Module, example_input: torch.Tensor, warmup: int = 5, repeats: int = 20
) -> Latency:
    """Median eager forward time of ``net`` on ``example_input`` (batch = its first dimension).

    Eval mode, ``torch.no_grad()``, on the device of ``example_input`` (CUDA synchronised after each pass);
    ``warmup`` untimed passes first. Restores ``net.training``.

    Raises:
        ValueError: ``warmup < 0`` or ``repeats < 1``.
    """
    return compare_latency({"net": net}, example_input, warmup=warmup, repeats=repeats)["net"]


def measure_latency_ms(
    net: nn.Module, example_input: torch.Tensor, warmup: int = 5, repeats: int = 20
) -> float:
    """:func:`measure_latency` in milliseconds (median of ``repeats`` timed passes after ``warmup``)."""
    return measure_latency(net, example_input, warmup=warmup, repeats=repeats).ms


def profile_counts(net: nn.Module, example_input: torch.Tensor) -> dict[str, Any]:
    """``params``, ``macs`` and ``size_mb`` of ``net`` on ``example_input`` (no timing)."""
    return {
        "params": count_params(net),
        "macs": count_macs(net, example_input),
        "size_mb": model_size_mb(net),
    }


def profile_model(
    net: nn.Module, example_input: torch.Tensor, warmup: int = 5, repeats: int = 20
) -> dict[str, Any]:
    """:func:`profile_counts` and the :meth:`Latency.fields` (``latency_ms``, ``latency_runtime``,
    ``latency_batch``, ``latency_threads``) of ``net`` on ``example_input``."""
    return {
        **profile_counts(net, example_input),
        **measure_latency(net, example_input, warmup=warmup, repeats=repeats).fields(),
    }
