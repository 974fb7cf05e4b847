"""Images as ``data:`` URIs, so that ``report.html`` is one file that needs no network and no neighbours.

Plots are PNG (sharp lines, few colours). CAM grids are photos with colour overlays, which PNG compresses badly:
they are stored as WebP (lossy, quality 80; every current browser shows it), downscaled to at most ``max_width``
pixels. A digit-scenes grid of 14 rows (520 x 1848 px): PNG 1124 KiB, JPEG q80 156 KiB, WebP q80 about 80 KiB.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

from matplotlib.figure import Figure
from PIL import Image

PLOT_DPI = 90
GRID_MAX_WIDTH = 520
GRID_QUALITY = 80


def data_uri(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,...`` of ``data``."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def figure_uri(figure: Figure, dpi: int = PLOT_DPI) -> str:
    """A matplotlib figure as a PNG data URI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return data_uri(buffer.getvalue(), "image/png")


def grid_uri(path: Path, max_width: int = GRID_MAX_WIDTH, quality: int = GRID_QUALITY) -> str:
    """A CAM grid PNG as a WebP data URI, downscaled (aspect kept) to at most ``max_width`` pixels."""
    with Image.open(path) as image:
        picture = image.convert("RGB")
    if picture.width > max_width:
        height = round(picture.height * max_width / picture.width)
        picture = picture.resize((max_width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="WEBP", quality=quality, method=6)
    return data_uri(buffer.getvalue(), "image/webp")
