"""Copy chosen runs' CAM grids into a study's committed ``report/cams/``, as the JPEGs ``report.html`` looks for.

Each pruning run writes ``sp2ps_cams.png`` beside its ``metrics.json`` (the test samples with the lowest, median and
highest Sp2PS and one per class). A study commits a few of them, named
:func:`prunescope.reporting.committed_report.cam_grid_name` (e.g. ``pca_nci_80_seed0.jpg``,
``levels2_pca_nci_78.5_seed0.jpg``), which ``prunescope-report <report>/results.csv`` puts on the page. This finds the
run of each asked name under the sweep folders and writes its grid as a JPEG (quality 85) into ``CAMS_DIR``. A name
no run has, or two runs share, is an error, and nothing is written.

Usage: ``python experiments/cam_grids.py experiments/unet_camvid_layers/report/cams outputs/unet_camvid_layers
pca_nci_80_seed0.jpg l1_80_seed0.jpg``
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from prunescope.reporting.collect import find_metrics_files, load_run
from prunescope.reporting.committed_report import cam_grid_name

GRID_FILE = "sp2ps_cams.png"
JPEG_QUALITY = 85


def grids_by_name(sweeps: Sequence[Path]) -> dict[str, list[Path]]:
    """Every run's ``sp2ps_cams.png`` under ``sweeps``, by the name its committed JPEG gets."""
    found: dict[str, list[Path]] = defaultdict(list)
    for sweep in sweeps:
        for metrics_file in find_metrics_files(sweep):
            grid = metrics_file.parent / GRID_FILE
            if grid.exists() and (name := cam_grid_name(load_run(metrics_file))) is not None:
                found[name].append(grid)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cams_dir", type=Path, help="the study's report/cams folder (created)")
    parser.add_argument("sweep", type=Path, help="the folder holding the study's sweeps")
    parser.add_argument("names", nargs="+", help="JPEG names to write, e.g. pca_nci_80_seed0.jpg")
    args = parser.parse_args(argv)
    found = grids_by_name([args.sweep])
    for name in args.names:
        if len(found.get(name, [])) != 1:
            print(
                f"error: {len(found.get(name, []))} runs under {args.sweep} have a CAM grid named {name}, need "
                f"exactly 1; names there: {', '.join(sorted(found)) or 'none'}; nothing written",
                file=sys.stderr,
            )
            return 1
    args.cams_dir.mkdir(parents=True, exist_ok=True)
    for name in args.names:
        Image.open(found[name][0]).convert("RGB").save(args.cams_dir / name, quality=JPEG_QUALITY)
    print(f"{len(args.names)} CAM grids -> {args.cams_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
