"""PNG grid of CAM overlays: one row per pair, columns label | image | baseline CAM | pruned CAM.

Every CAM is drawn with the same colour map on the same fixed scale [0, 1] (the maps are min–max normalised per
map by the extractor), shown once by a colour bar under the grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imsave
from torch import Tensor

from prunescope.cam.pair_records import PairRecord, class_label
from prunescope.cam.selection import GridRow

GRID_FILENAME = "sp2ps_cams.png"
CAM_COLOUR_MAP = "jet"
LABEL_WIDTH_IN = 1.7
PANEL_IN = 1.6
COLOUR_BAR_IN = 0.8
TITLE_IN = 0.3
DPI = 80
HEADING_LINE_FRACTION = 0.09
"""Height of one 8 pt line as a fraction of a row's height."""


@dataclass(frozen=True)
class GridLabel:
    """Text of one grid row.

    Attributes:
        heading: bold first line (e.g. ``"lowest Sp2PS"``), or the block title on a block's first row.
        lines: further lines (class, sample, Sp2PS, spatial, spectral).
    """

    heading: str
    lines: tuple[str, ...]


BLOCK_TITLES = {
    "lowest": "Spread of this run",
    "class": "Fixed, same in every run",
}


def grid_labels(
    rows: Sequence[GridRow], records: Sequence[PairRecord], class_names: Sequence[str] | None = None
) -> list[GridLabel]:
    """Row texts: role (or block title on a block's first row), class, test sample, Sp2PS and its two terms."""
    labels = []
    previous_role = None
    for row in rows:
        record = records[row.record]
        heading = "one per class" if row.role == "class" else f"{row.role} Sp2PS"
        if row.role in BLOCK_TITLES and row.role != previous_role:
            heading = f"{BLOCK_TITLES[row.role]}:\n{heading}"
        previous_role = row.role
        lines = [f"class {class_label(record.class_id, class_names)}", f"test sample {record.sample}"]
        if record.skipped:
            lines.append("skipped: both CAMs constant")
        else:
            lines += [
                f"Sp2PS {record.score:.3f}",
                f"spatial {record.spatial:.3f}",
                f"spectral {record.spectral:.3f}",
            ]
        labels.append(GridLabel(heading, tuple(lines)))
    return labels


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
    labels: Sequence[GridLabel],
    alpha: float = 0.5,
) -> np.ndarray:
    """Draw the grid and return it as an (H, W, 3) uint8 RGB array.

    Args:
        images: (N, C, H, W) inputs of the pairs.
        h0: (N, H, W) baseline CAMs in [0, 1].
        h1: (N, H, W) pruned-model CAMs in [0, 1].
        labels: the text of each row.
        alpha: opacity of the CAM over the image.
    """
    count = images.shape[0]
    if not count == h0.shape[0] == h1.shape[0] == len(labels):
        raise ValueError("render_cam_grid needs the same number of images, CAM pairs and labels")
    if count == 0:
        raise ValueError("render_cam_grid needs at least one pair")
    width = LABEL_WIDTH_IN + 3 * PANEL_IN
    height = TITLE_IN + PANEL_IN * count + COLOUR_BAR_IN
    figure = Figure(figsize=(width, height), dpi=DPI)
    canvas = FigureCanvasAgg(figure)
    figure.subplots_adjust(
        left=0.01,
        right=0.99,
        top=1 - TITLE_IN / height,
        bottom=COLOUR_BAR_IN / height,
        wspace=0.04,
        hspace=0.06,
    )
    axes = np.asarray(
        figure.subplots(count, 4, squeeze=False, width_ratios=[LABEL_WIDTH_IN, PANEL_IN, PANEL_IN, PANEL_IN])
    )
    mappable = None
    for row in range(count):
        text_axis = axes[row, 0]
        text_axis.axis("off")
        heading_lines = labels[row].heading.count("\n") + 1
        text_axis.text(0.0, 1.0, labels[row].heading, fontsize=8, fontweight="bold", va="top")
        body_top = 1.0 - HEADING_LINE_FRACTION * heading_lines - 0.03
        text_axis.text(0.0, body_top, "\n".join(labels[row].lines), fontsize=8, va="top", linespacing=1.3)
        picture = displayable_image(images[row])
        for column, cam in ((1, None), (2, h0[row]), (3, h1[row])):
            axis = axes[row, column]
            axis.imshow(picture)
            if cam is not None:
                mappable = axis.imshow(
                    cam.detach().float().cpu().numpy(),
                    cmap=CAM_COLOUR_MAP,
                    alpha=alpha,
                    vmin=0.0,
                    vmax=1.0,
                )
            axis.set_xticks([])
            axis.set_yticks([])
    for column, title in ((1, "image"), (2, "baseline CAM"), (3, "pruned CAM")):
        axes[0, column].set_title(title, fontsize=9)
    bar_axis = figure.add_axes(
        (
            (LABEL_WIDTH_IN + 0.2 * PANEL_IN) / width,
            0.55 * COLOUR_BAR_IN / height,
            2.6 * PANEL_IN / width,
            0.15 * COLOUR_BAR_IN / height,
        )
    )
    colour_bar = figure.colorbar(mappable, cax=bar_axis, orientation="horizontal")
    colour_bar.set_label("CAM value, one scale for every panel", fontsize=8)
    colour_bar.ax.tick_params(labelsize=7)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_cam_grid(path: str | Path, grid: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 grid as PNG (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    imsave(path, grid)
    return path
