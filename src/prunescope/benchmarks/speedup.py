"""Speed-up vs MAC ratio: baseline and pruned networks timed interleaved in every runtime, at every batch size."""

from __future__ import annotations

import copy
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from prunescope.benchmarks.runtimes import RUNTIMES, prepare_runtime
from prunescope.metrics.efficiency import count_macs, count_params, time_interleaved
from prunescope.models.stand_ins import randomise_batch_norm
from prunescope.pruning import PruningOptions, prune

BASELINE = 0.0


@dataclass
class ModelVariants:
    """A baseline network and its pruned copies (ratio -> network; ratio 0 is the baseline) with their costs."""

    name: str
    input_shape: tuple[int, ...]
    nets: dict[float, nn.Module]
    macs: dict[float, int]
    params: dict[float, int]


def build_variants(
    name: str,
    make_net: Callable[[], nn.Module],
    input_shape: Sequence[int],
    ratios: Sequence[float],
    method: str = "l1",
    scope: str = "local",
    round_to: int | None = None,
    seed: int = 0,
) -> ModelVariants:
    """The baseline (random weights, BatchNorm statistics randomised) and one copy pruned at each ratio."""
    torch.manual_seed(seed)
    baseline = randomise_batch_norm(make_net(), seed=seed)
    sample = torch.zeros(1, *input_shape)
    nets = {BASELINE: baseline}
    for ratio in ratios:
        pruned = copy.deepcopy(baseline)
        options = PruningOptions(method=method, ratio=float(ratio), scope=scope, round_to=round_to)
        prune(pruned, options, sample)
        nets[float(ratio)] = pruned.eval()
    return ModelVariants(
        name=name,
        input_shape=tuple(int(s) for s in input_shape),
        nets=nets,
        macs={ratio: count_macs(net, sample) for ratio, net in nets.items()},
        params={ratio: count_params(net) for ratio, net in nets.items()},
    )


def time_variants(
    variants: ModelVariants,
    batches: Sequence[int],
    runtimes: Sequence[str],
    workdir: Path,
    threads: int,
    warmup: int,
    repeats: int,
    seed: int = 0,
) -> dict[tuple[int, str, float], float]:
    """Median forward ms of every (batch, runtime, ratio); all runtimes and ratios of one batch interleaved."""
    unknown = sorted(set(runtimes) - set(RUNTIMES))
    if unknown:
        raise ValueError(f"unknown runtime(s) {unknown}; valid: {', '.join(RUNTIMES)}")
    factories = {
        (runtime, ratio): prepare_runtime(
            net, runtime, variants.input_shape, workdir / variants.name, threads
        )
        for runtime in runtimes
        for ratio, net in variants.nets.items()
    }
    medians = {}
    generator = torch.Generator().manual_seed(seed)
    for batch in batches:
        images = torch.randn(batch, *variants.input_shape, generator=generator)
        runs = {key: factory(images) for key, factory in factories.items()}
        times = time_interleaved(runs, warmup=warmup, repeats=repeats)
        for (runtime, ratio), seconds in times.items():
            medians[(batch, runtime, ratio)] = 1e3 * statistics.median(seconds)
    return medians


def speedup_rows(
    variants: ModelVariants, medians: Mapping[tuple[int, str, float], float]
) -> list[dict[str, Any]]:
    """One row per (ratio, batch, runtime): MAC ratio, speed-up in the same runtime, and vs baseline in eager.

    Row keys: ``model``, ``ratio``, ``batch``, ``runtime``, ``params``, ``macs``, ``mac_ratio`` (baseline MACs /
    pruned MACs), ``baseline_ms``, ``pruned_ms``, ``speedup`` (same runtime), ``speedup_over_mac_ratio``,
    ``speedup_vs_eager_baseline`` (baseline in eager / pruned in this runtime: what a user gains in total).
    """
    rows = []
    for (batch, runtime, ratio), pruned_ms in sorted(medians.items()):
        if ratio == BASELINE:
            continue
        baseline_ms = medians[(batch, runtime, BASELINE)]
        mac_ratio = variants.macs[BASELINE] / variants.macs[ratio]
        speedup = baseline_ms / pruned_ms
        eager_baseline = medians.get((batch, "eager", BASELINE))
        rows.append(
            {
                "model": variants.name,
                "ratio": ratio,
                "batch": batch,
                "runtime": runtime,
                "params": variants.params[ratio],
                "macs": variants.macs[ratio],
                "mac_ratio": mac_ratio,
                "baseline_ms": baseline_ms,
                "pruned_ms": pruned_ms,
                "speedup": speedup,
                "speedup_over_mac_ratio": speedup / mac_ratio,
                "speedup_vs_eager_baseline": None if eager_baseline is None else eager_baseline / pruned_ms,
            }
        )
    return rows
