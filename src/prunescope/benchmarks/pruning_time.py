"""Seconds per :func:`prunescope.pruning.prune` call, per model and criterion (fresh copy of the baseline each call)."""

from __future__ import annotations

import copy
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from prunescope.metrics.efficiency import time_interleaved
from prunescope.models.stand_ins import randomise_batch_norm
from prunescope.pruning import CRITERIA, PruningOptions, prune


def calibration_data(
    net: nn.Module, input_shape: Sequence[int], num_classes: int, batch_size: int, batches: int, seed: int = 0
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Random images and targets (masks for segmentation networks, labels otherwise)."""
    generator = torch.Generator().manual_seed(seed)
    target_shape = (batch_size, *input_shape[1:]) if net.task == "segmentation" else (batch_size,)
    return [
        (
            torch.randn(batch_size, *input_shape, generator=generator),
            torch.randint(0, num_classes, target_shape, generator=generator),
        )
        for _ in range(batches)
    ]


def pruning_time(
    name: str,
    make_net: Callable[[], nn.Module],
    input_shape: Sequence[int],
    num_classes: int,
    criteria: Sequence[str] = tuple(CRITERIA),
    ratio: float = 0.5,
    scope: str = "global",
    batch_size: int = 4,
    calibration_batches: int = 2,
    warmup: int = 0,
    repeats: int = 3,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per criterion: ``model``, ``method``, ``seconds`` (median per ``prune`` call), ``macs_ratio``.

    Criteria take turns (interleaved); every call prunes its own copy of the baseline, made outside the timing.

    Raises:
        ValueError: Unknown criterion.
    """
    unknown = sorted(set(criteria) - set(CRITERIA))
    if unknown:
        raise ValueError(f"unknown criteria {unknown}; valid: {', '.join(CRITERIA)}")
    torch.manual_seed(seed)
    baseline = randomise_batch_norm(make_net(), seed=seed)
    sample = torch.zeros(1, *input_shape)
    data = calibration_data(baseline, input_shape, num_classes, batch_size, calibration_batches, seed)
    copies = {method: [copy.deepcopy(baseline) for _ in range(warmup + repeats)] for method in criteria}
    results: dict[str, Any] = {}

    def call(method: str) -> None:
        options = PruningOptions(
            method=method, ratio=ratio, scope=scope, calibration_batches=calibration_batches
        )
        results[method] = prune(copies[method].pop(), options, sample, data)

    times = time_interleaved({m: (lambda m=m: call(m)) for m in criteria}, warmup=warmup, repeats=repeats)
    return [
        {
            "model": name,
            "method": method,
            "seconds": statistics.median(seconds),
            "mac_ratio": results[method].macs_before / results[method].macs_after,
        }
        for method, seconds in times.items()
    ]
