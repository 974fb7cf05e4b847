"""Embedded segmentation data: scenes of scaled-up sklearn digits on textured colour backgrounds.

No download: every scene is composed from scikit-learn's bundled 8×8 digits, generated up front from
``numpy.random.default_rng([seed, split])``, so a seed fixes every pixel. Mask value = digit class + 1 on
the digit's strokes (scaled intensity > 0.5), 0 elsewhere → 11 classes, nothing ignored.

Learnability on a CPU (U-Net depth 5, width 8, 500 Adam steps of 16 scenes of 64×64, 1–3 digits of 24 px,
textured backgrounds, background weight 0.2): test mIoU 0.55 with light digits on dark backgrounds, 0.27 with
mixed polarity (the network must then also learn contrast-invariant shapes); with mixed polarity an unweighted
loss gives 0.14 against 0.31 (background pixels dominate it and digit identity is learned last).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from prunescope.data.seeded_datamodule import SeededDataModule
from prunescope.data.sklearn_digits import load_digit_split

SCENE_MEAN = 0.5
SCENE_STD = 0.25
"""Images are normalised as ``(x - 0.5) / 0.25`` per channel (x in [0, 1])."""

_SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
POLARITIES = ("light_on_dark", "dark_on_light", "mixed")
"""Digit/background contrast: light digits on dark backgrounds, the reverse, or either per scene."""


def as_height_width(size: int | Sequence[int], name: str = "image_size") -> tuple[int, int]:
    """``int`` → ``(size, size)``; a pair ``(H, W)`` is returned as a tuple of ints."""
    if isinstance(size, int):
        pair = (size, size)
    elif isinstance(size, Sequence) and len(size) == 2:
        pair = (int(size[0]), int(size[1]))
    else:
        raise ValueError(f"{name} must be an int or a pair (H, W), got {size!r}")
    if min(pair) < 1:
        raise ValueError(f"{name} must be positive, got {size!r}")
    return pair


def textured_background(rng: np.random.Generator, height: int, width: int, dark: bool) -> np.ndarray:
    """Smooth random colour gradient + low-frequency texture + pixel noise, ``(3, H, W)`` in [0, 1].

    Both gradient end colours are drawn per channel from [0, 0.35] (``dark``) or [0.65, 1] (light).
    """
    low, high = (0.0, 0.35) if dark else (0.65, 1.0)
    start, end = rng.uniform(low, high, size=(2, 3, 1, 1))
    angle = rng.uniform(0.0, 2.0 * np.pi)
    ys, xs = np.meshgrid(np.linspace(0.0, 1.0, height), np.linspace(0.0, 1.0, width), indexing="ij")
    ramp = np.cos(angle) * xs + np.sin(angle) * ys
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    image = start + (end - start) * ramp[None]
    coarse = torch.from_numpy(rng.normal(0.0, 0.06, size=(1, 3, 4, 4)))
    texture = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=True)[0].numpy()
    noise = rng.normal(0.0, 0.03, size=(3, height, width))
    return np.clip(image + texture + noise, 0.0, 1.0)


def scaled_digit(digit: np.ndarray, size: int) -> np.ndarray:
    """An 8×8 digit in [0, 1] scaled bilinearly to ``(size, size)``."""
    tensor = torch.from_numpy(np.ascontiguousarray(digit, dtype=np.float32))[None, None]
    return F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False)[0, 0].numpy()


def compose_digit_scenes(
    digits: np.ndarray,
    labels: np.ndarray,
    num_scenes: int,
    image_size: tuple[int, int],
    digits_per_scene: tuple[int, int],
    digit_size: tuple[int, int],
    rng: np.random.Generator,
    polarity: str = "light_on_dark",
) -> tuple[np.ndarray, np.ndarray]:
    """Compose scenes of scaled digits on textured backgrounds.

    Each scene gets ``n ~ U{min..max}`` digits drawn from ``digits``, each scaled to ``s ~ U{min..max}`` px
    and placed at a random position (up to 20 tries to avoid overlapping an earlier digit's box; the first
    digit is always fully visible). Drawing: ``x = (1 - a) * background + a * colour`` with
    ``a = clip((d - 0.3) / 0.4, 0, 1)`` for scaled intensity ``d``; the mask is ``label + 1`` where ``d > 0.5``.
    The digit colour is drawn per channel from [0.6, 1] on a dark background and [0, 0.4] on a light one;
    ``polarity`` (one of ``POLARITIES``) picks the background: dark, light, or either with probability ½.

    Returns:
        ``(images float32 (N, 3, H, W) in [0, 1], masks int64 (N, H, W) in 0..10)``.
    """
    if polarity not in POLARITIES:
        raise ValueError(f"unknown polarity {polarity!r}; valid: {', '.join(POLARITIES)}")
    height, width = image_size
    min_size, max_size = min(digit_size[0], height, width), min(digit_size[1], height, width)
    images = np.empty((num_scenes, 3, height, width), dtype=np.float32)
    masks = np.zeros((num_scenes, height, width), dtype=np.int64)
    for scene in range(num_scenes):
        dark = bool(rng.integers(2)) if polarity == "mixed" else polarity == "light_on_dark"
        image = textured_background(rng, height, width, dark)
        boxes: list[tuple[int, int, int, int]] = []
        for _ in range(int(rng.integers(digits_per_scene[0], digits_per_scene[1] + 1))):
            pick = int(rng.integers(len(digits)))
            size = int(rng.integers(min_size, max_size + 1))
            for _try in range(20):
                top, left = int(rng.integers(height - size + 1)), int(rng.integers(width - size + 1))
                if not any(
                    top < b + s and b < top + size and left < a + s and a < left + size
                    for b, a, s, _ in boxes
                ):
                    break
            boxes.append((top, left, size, pick))
            intensity = scaled_digit(digits[pick], size)
            alpha = np.clip((intensity - 0.3) / 0.4, 0.0, 1.0)[None]
            colour = rng.uniform(0.6, 1.0, size=(3, 1, 1)) if dark else rng.uniform(0.0, 0.4, size=(3, 1, 1))
            window = image[:, top : top + size, left : left + size]
            image[:, top : top + size, left : left + size] = (1.0 - alpha) * window + alpha * colour
            region = masks[scene, top : top + size, left : left + size]
            region[intensity > 0.5] = int(labels[pick]) + 1
        images[scene] = image
    return images, masks


class DigitScenesDataModule(SeededDataModule):
    """Segmentation scenes of sklearn digits (11 classes: background + digits 0–9), generated in memory.

    Splits draw from disjoint digit images (train 1197, val 300, test 300 of sklearn's 1797) and from
    independent generators ``default_rng([seed, split])``; the same seed gives identical tensors.

    Args:
        batch_size: samples per batch.
        num_workers: loader worker processes.
        seed: seed of scene generation and of the training-loader order.
        pin_memory: pin host memory.
        image_size: scene size, int or ``(H, W)``.
        num_train: number of training scenes.
        num_val: number of validation scenes.
        num_test: number of test scenes.
        min_digits: fewest digits per scene (>= 1).
        max_digits: most digits per scene.
        digit_size: ``(min, max)`` side of a scaled digit in px (clipped to the scene size).
        polarity: ``"light_on_dark"``, ``"dark_on_light"`` or ``"mixed"`` (see ``POLARITIES``).
        background_weight: loss weight of the background class (digits weigh 1), exposed as
            ``class_weights``; ``None`` or 1.0 = unweighted (``class_weights`` is then ``None``).
        num_classes: declared by the config; must be 11 when given.
        task: declared by the config; must be ``"segmentation"`` when given.
        ignore_index: declared by the config; must be ``None``.
    """

    num_classes = 11
    ignore_index = None
    task = "segmentation"
    class_names = ["background", *[str(d) for d in range(10)]]
    input_mean = (SCENE_MEAN,) * 3
    input_std = (SCENE_STD,) * 3

    def __init__(
        self,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int | None = 0,
        pin_memory: bool = False,
        image_size: int | Sequence[int] = 40,
        num_train: int = 2048,
        num_val: int = 128,
        num_test: int = 256,
        min_digits: int = 3,
        max_digits: int = 5,
        digit_size: Sequence[int] = (10, 16),
        polarity: str = "light_on_dark",
        background_weight: float | None = 0.2,
        num_classes: int | None = 11,
        task: str | None = "segmentation",
        ignore_index: int | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed, pin_memory=pin_memory)
        self.check_declared(num_classes, task, ignore_index)
        self.image_size = as_height_width(image_size)
        if not 1 <= min_digits <= max_digits:
            raise ValueError(
                f"need 1 <= min_digits <= max_digits, got min_digits={min_digits}, max_digits={max_digits}"
            )
        smallest, largest = as_height_width(digit_size, "digit_size")
        if not 4 <= smallest <= largest:
            raise ValueError(f"digit_size must be (min, max) with 4 <= min <= max, got {digit_size!r}")
        for name, count in {"num_train": num_train, "num_val": num_val, "num_test": num_test}.items():
            if count < 1:
                raise ValueError(f"{name} must be >= 1, got {count}")
        self.num_scenes = {"train": num_train, "val": num_val, "test": num_test}
        if polarity not in POLARITIES:
            raise ValueError(f"unknown polarity {polarity!r}; valid: {', '.join(POLARITIES)}")
        if background_weight is not None and not background_weight > 0:
            raise ValueError(f"background_weight must be > 0 or null, got {background_weight!r}")
        self.digits_per_scene = (min_digits, max_digits)
        self.digit_size = (smallest, largest)
        self.polarity = polarity
        self.class_weights: torch.Tensor | None = None
        if background_weight is not None and background_weight != 1.0:
            self.class_weights = torch.ones(self.num_classes)
            self.class_weights[0] = float(background_weight)

    def build_split(self, split: str) -> TensorDataset:
        """Generate one split: ``TensorDataset(images float32 (N,3,H,W) normalised, masks int64 (N,H,W))``."""
        digits, labels = load_digit_split(split)
        rng = np.random.default_rng([self.seed, _SPLIT_CODES[split]])
        images, masks = compose_digit_scenes(
            digits,
            labels,
            self.num_scenes[split],
            self.image_size,
            self.digits_per_scene,
            self.digit_size,
            rng,
            self.polarity,
        )
        normalised = (torch.from_numpy(images) - SCENE_MEAN) / SCENE_STD
        return TensorDataset(normalised, torch.from_numpy(masks))

    def setup(self, stage: str | None = None) -> None:
        """Generate all three splits (once; later calls keep them)."""
        if self.train_dataset is None:
            self.train_dataset = self.build_split("train")
            self.val_dataset = self.build_split("val")
            self.test_dataset = self.build_split("test")
