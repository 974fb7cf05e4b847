"""Cost of the calibration statistics the data-driven criteria gather (PCA covariance for pca_nci, MSD for isd).

Both run the network once over the calibration batches with forward hooks on every prunable layer
(:func:`prunescope.pruning.statistics.collect_unit_statistics`); the goal is at most 1.5× one plain no-grad
forward over the same batches, with a peak memory that does not grow with the number of batches (statistics
are streamed sums, maps are never kept).
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from prunescope.benchmarks.peak_memory import peak_increase_mb
from prunescope.metrics.efficiency import time_interleaved
from prunescope.models.stand_ins import randomise_batch_norm
from prunescope.pruning import prunable_units
from prunescope.pruning.statistics import collect_unit_statistics

KINDS = ("forward", "pca_covariance", "msd")


def random_batches(count: int, batch_size: int, input_shape: Sequence[int], seed: int = 0) -> Iterator:
    """``count`` batches ``(images, None)`` drawn one at a time (none is kept after it is used)."""
    generator = torch.Generator().manual_seed(seed)
    for _ in range(count):
        yield torch.randn(batch_size, *input_shape, generator=generator), None


def calibration_cost(
    make_net: Callable[[], nn.Module],
    input_shape: Sequence[int],
    batch_size: int = 4,
    batches: int = 2,
    memory_batches: Sequence[int] = (4, 32),
    warmup: int = 3,
    repeats: int = 20,
    seed: int = 0,
) -> dict[str, Any]:
    """Time ratios of statistics vs plain forwards over ``batches`` batches, and peak memory at each count.

    Returns:
        ``{"forward_ms", "pca_covariance_ms", "msd_ms"}`` (median per pass over the batches),
        ``pca_covariance_over_forward`` and ``msd_over_forward`` (goal <= 1.5), and ``peak_mb``: kind ->
        {batches: peak resident increase in MiB} (goal: flat in the number of batches).
    """
    torch.manual_seed(seed)
    net = randomise_batch_norm(make_net(), seed=seed)
    _, units = prunable_units(net, torch.zeros(1, *input_shape))
    fixed = list(random_batches(batches, batch_size, input_shape, seed))

    def forward(data) -> None:
        with torch.no_grad():
            for images, _ in data:
                net(images)

    def pca(data) -> None:
        collect_unit_statistics(net, units, data, len(data), with_covariance=True)

    def msd(data) -> None:
        collect_unit_statistics(net, units, data, len(data), with_covariance=False)

    kinds = {"forward": forward, "pca_covariance": pca, "msd": msd}
    times = time_interleaved({k: (lambda f=f: f(fixed)) for k, f in kinds.items()}, warmup, repeats)
    medians = {kind: 1e3 * statistics.median(seconds) for kind, seconds in times.items()}
    peaks: dict[str, dict[int, float]] = {kind: {} for kind in kinds}
    for count in memory_batches:
        for kind, run in kinds.items():
            gc.collect()
            peaks[kind][int(count)] = peak_increase_mb(
                lambda run=run, count=count: run(LazyBatches(count, batch_size, input_shape, seed))
            )
    return {
        "batches": batches,
        "batch_size": batch_size,
        **{f"{kind}_ms": medians[kind] for kind in kinds},
        "pca_covariance_over_forward": medians["pca_covariance"] / medians["forward"],
        "msd_over_forward": medians["msd"] / medians["forward"],
        "peak_mb": peaks,
    }


class LazyBatches:
    """A sized, re-iterable stand-in for a list of batches that draws each batch when it is reached."""

    def __init__(self, count: int, batch_size: int, input_shape: Sequence[int], seed: int) -> None:
        self.count, self.batch_size, self.input_shape, self.seed = count, batch_size, tuple(input_shape), seed

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator:
        return random_batches(self.count, self.batch_size, self.input_shape, self.seed)
