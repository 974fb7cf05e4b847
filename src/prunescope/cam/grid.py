"""PNG grid of CAM overlays: one row per pair, columns image | baseline CAM | pruned CAM."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imsave
from torch import Tensor


def displayable_image(image: Tensor) -> np.ndarray:
    """A (C, H, W) normalised image as (H, W, 3) floats in [0, 1] (per-image min–max; 1 channel → grey)."""
    image = image.detach().float().cpu()
    image = (image - image.min()) / (image.max() - image.min()).clamp_min(1e-12)
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    return image[:3].permute(1, 2, 0).numpy()


def render_cam_grid(
    images: Tensor,
    h0: Tensor,
    h1: Tensor,
    scores: Tensor,
    class_ids: Tensor,
    class_names: Sequence[str] | None = None,
    alpha: float = 0.5,
) -> np.ndarray:
    """Draw the grid and return it as an (H, W, 3) uint8 RGB array.

    Args:
        images: (N, C, H, W) inputs of the pairs.
        h0: (N, H, W) baseline CAMs in [0, 1].
        h1: (N, H, W) pruned-model CAMs in [0, 1].
        scores: (N,) Sp2PS score of each pair (shown in the pruned column's title).
        class_ids: (N,) target class of each pair.
        class_names: names indexed by class id (default: the id).
        alpha: opacity of the CAM (jet colour map) over the image.
    """
    count = images.shape[0]
    if not count == h0.shape[0] == h1.shape[0] == scores.numel() == class_ids.numel():
        raise ValueError("render_cam_grid needs the same number of images, CAM pairs, scores and class ids")
    if count == 0:
        raise ValueError("render_cam_grid needs at least one pair")
    figure = Figure(figsize=(9, 3 * count), dpi=80)
    canvas = FigureCanvasAgg(figure)
    axes = np.asarray(figure.subplots(count, 3, squeeze=False))
    for row in range(count):
        picture = displayable_image(images[row])
        class_id = int(class_ids[row])
        name = (
            class_names[class_id]
            if class_names is not None and class_id < len(class_names)
            else str(class_id)
        )
        titles = (f"image (class {name})", "baseline CAM", f"pruned CAM, Sp2PS {float(scores[row]):.3f}")
        for column, (title, cam) in enumerate(zip(titles, (None, h0[row], h1[row]), strict=True)):
            axis = axes[row, column]
            axis.imshow(picture)
            if cam is not None:
                axis.imshow(cam.detach().float().cpu().numpy(), cmap="jet", alpha=alpha, vmin=0.0, vmax=1.0)
            axis.set_title(title, fontsize=9)
            axis.axis("off")
    figure.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_cam_grid(path: str | Path, grid: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 grid as PNG (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    imsave(path, grid)
    return path


def first_pairs_per_sample(sample_ids: Tensor, limit: int) -> Tensor:
    """Indices of at most ``limit`` pairs, one per sample in sample order: each sample's last pair (highest class)."""
    chosen: dict[int, int] = {}
    for index, sample in enumerate(sample_ids.tolist()):
        chosen[sample] = index
    return torch.tensor([chosen[s] for s in sorted(chosen)][:limit], dtype=torch.long)
