"""Embedded classification data: sklearn digits upscaled to 3×32×32 images (10 classes)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import TensorDataset

from prunescope.data.digit_scenes import SCENE_MEAN, SCENE_STD, scaled_digit
from prunescope.data.seeded_datamodule import SeededDataModule
from prunescope.data.sklearn_digits import load_digit_split

BACKGROUNDS = ("random", "plain")
_SPLIT_CODES = {"train": 0, "val": 1, "test": 2}


def render_digit_images(
    digits: np.ndarray, size: int, background: str, rng: np.random.Generator
) -> np.ndarray:
    """Scale each 8×8 digit bilinearly to ``size`` and draw it dark on a light background.

    ``x = (1 - d) * b + d * c`` with scaled intensity ``d``, background colour ``b`` (``"plain"``: white;
    ``"random"``: per image and channel in [0.7, 1] plus N(0, 0.02) pixel noise) and stroke colour ``c``
    (``"plain"``: black; ``"random"``: per channel in [0, 0.3]).

    Returns:
        float32 ``(N, 3, size, size)`` in [0, 1].
    """
    if background not in BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; valid: {list(BACKGROUNDS)}")
    images = np.empty((len(digits), 3, size, size), dtype=np.float32)
    for index, digit in enumerate(digits):
        intensity = np.clip(scaled_digit(digit, size), 0.0, 1.0)[None]
        if background == "plain":
            images[index] = 1.0 - intensity
            continue
        paper = rng.uniform(0.7, 1.0, size=(3, 1, 1)) + rng.normal(0.0, 0.02, size=(3, size, size))
        ink = rng.uniform(0.0, 0.3, size=(3, 1, 1))
        images[index] = np.clip((1.0 - intensity) * paper + intensity * ink, 0.0, 1.0)
    return images


class DigitsDataModule(SeededDataModule):
    """Classification of sklearn digits drawn as 3×``image_size``² images, generated in memory.

    Every digit image of a split is used once (train 1197, val 300, test 300; disjoint). Normalised as
    ``(x - 0.5) / 0.25``. The same seed gives identical tensors.

    Args:
        batch_size: samples per batch.
        num_workers: loader worker processes.
        seed: seed of the background colours and of the training-loader order.
        pin_memory: pin host memory.
        image_size: side of the square images.
        background: ``"random"`` (light random colour + noise, coloured ink) or ``"plain"`` (black on white).
        limit_train: use only the first N training digits (sklearn order, classes interleaved), ``None`` for all.
        limit_val: same for validation.
        limit_test: same for test.
        num_classes: declared by the config; must be 10 when given.
        task: declared by the config; must be ``"classification"`` when given.
        ignore_index: declared by the config; must be ``None``.
    """

    num_classes = 10
    ignore_index = None
    task = "classification"
    class_names = [str(d) for d in range(10)]
    input_mean = (SCENE_MEAN,) * 3
    input_std = (SCENE_STD,) * 3

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int | None = 0,
        pin_memory: bool = False,
        image_size: int = 32,
        background: str = "random",
        limit_train: int | None = None,
        limit_val: int | None = None,
        limit_test: int | None = None,
        num_classes: int | None = 10,
        task: str | None = "classification",
        ignore_index: int | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed, pin_memory=pin_memory)
        self.check_declared(num_classes, task, ignore_index)
        if image_size < 8:
            raise ValueError(f"image_size must be >= 8, got {image_size}")
        if background not in BACKGROUNDS:
            raise ValueError(f"unknown background {background!r}; valid: {list(BACKGROUNDS)}")
        self.image_size = image_size
        self.background = background
        self.limits = self.split_limits(limit_train, limit_val, limit_test)

    def build_split(self, split: str) -> TensorDataset:
        """One split: ``TensorDataset(images float32 (N,3,S,S) normalised, labels int64 (N,))``."""
        digits, labels = load_digit_split(split)
        digits, labels = digits[: self.limits[split]], labels[: self.limits[split]]
        rng = np.random.default_rng([self.seed, _SPLIT_CODES[split]])
        images = render_digit_images(digits, self.image_size, self.background, rng)
        return TensorDataset((torch.from_numpy(images) - SCENE_MEAN) / SCENE_STD, torch.from_numpy(labels))

    def setup(self, stage: str | None = None) -> None:
        """Generate all three splits (once; later calls keep them)."""
        if self.train_dataset is None:
            self.train_dataset = self.build_split("train")
            self.val_dataset = self.build_split("val")
            self.test_dataset = self.build_split("test")
