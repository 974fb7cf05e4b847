"""How closely an exported model reproduces PyTorch's output."""

from __future__ import annotations

import numpy as np
import torch


def max_relative_error(actual: torch.Tensor | np.ndarray, expected: torch.Tensor | np.ndarray) -> float:
    """``max |actual - expected| / max |expected|`` (the max-norm relative error of the whole output).

    Relative to the output's largest magnitude rather than element by element, so that logits near zero do not
    turn float32 round-off into a large ratio.

    Raises:
        ValueError: The shapes differ.
    """
    a = np.asarray(actual.detach().cpu() if isinstance(actual, torch.Tensor) else actual, dtype=np.float64)
    e = np.asarray(
        expected.detach().cpu() if isinstance(expected, torch.Tensor) else expected, dtype=np.float64
    )
    if a.shape != e.shape:
        raise ValueError(f"output shapes differ: {a.shape} vs {e.shape}")
    scale = float(np.abs(e).max()) if e.size else 0.0
    error = float(np.abs(a - e).max()) if e.size else 0.0
    return error / scale if scale > 0 else error
