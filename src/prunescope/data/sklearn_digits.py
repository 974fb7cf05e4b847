"""scikit-learn's bundled 8×8 handwritten digits, split into disjoint train/val/test images."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

DIGIT_SPLITS: dict[str, slice] = {
    "train": slice(0, 1197),
    "val": slice(1197, 1497),
    "test": slice(1497, 1797),
}
"""Index ranges into sklearn's 1797 digits; the three splits share no digit image."""


def load_digit_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Digit images of one split with intensities in [0, 1] and their labels.

    Args:
        split: ``"train"`` (1197 digits), ``"val"`` (300) or ``"test"`` (300).

    Returns:
        ``(images float32 (N, 8, 8) in [0, 1], labels int64 (N,) in 0..9)``; sklearn stores 0..16, divided by 16.
    """
    if split not in DIGIT_SPLITS:
        raise ValueError(f"unknown digit split {split!r}; valid: {sorted(DIGIT_SPLITS)}")
    bunch = load_digits()
    part = DIGIT_SPLITS[split]
    images = (bunch.images[part] / 16.0).astype(np.float32)
    labels = bunch.target[part].astype(np.int64)
    return images, labels
