"""``report.html`` rebuilt from a committed report folder: the rows of its ``results.csv``, CAM grids from ``cams/``.

A study commits ``experiments/<study>/report/`` (``results.csv``, ``summary.csv``, plots, ``cams/*.jpg``) but not its
run folders. The page is built from ``results.csv`` alone: every table, plot and heat map is computed from its
rows, as ``prunescope-report`` computes them from the runs' ``metrics.json``. A run's CAM grid is
``cams/<cam_grid_name(row)>`` when that file exists; config overrides are not in ``results.csv`` and are left out,
with a note at the top of the page saying so.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prunescope.data import DATAMODULES
from prunescope.reporting.html import REPORT_FILENAME, write_html_report
from prunescope.reporting.summary import as_number, summarize, summarize_baselines

CAMS_DIR_NAME = "cams"
CAM_GRID_SUFFIX = ".jpg"
DEFAULT_SCOPE = "global"
GRID_NAME_PATTERN = f"[levels<L>_]<method>[_<scope>]_<ratio %>_seed<seed>{CAM_GRID_SUFFIX}"


def cam_grid_name(row: Mapping[str, Any]) -> str | None:
    """The file name of a run's CAM grid in ``cams/``: ``[levels<L>_]<method>[_<scope>]_<ratio %>_seed<seed>.jpg``
    (:data:`GRID_NAME_PATTERN`).

    The scope is named when it is not ``global``; a run that removed U-Net levels (``run.layers``) and no filters
    is ``levels<L>_seed<seed>.jpg``. Examples: ``pca_nci_local_72.4_seed0.jpg``, ``levels2_pca_nci_78.5_seed0.jpg``.
    None for a row without method, ratio or seed (a job that failed before it wrote them).
    """
    method, ratio, seed = row.get("run.method"), as_number(row.get("run.ratio")), row.get("run.seed")
    if method is None or ratio is None or seed is None:
        return None
    parts = [] if row.get("run.layers") is None else [f"levels{row['run.layers']}"]
    if not parts or ratio:
        scope = row.get("run.scope") or DEFAULT_SCOPE
        parts += [str(method), *([] if scope == DEFAULT_SCOPE else [str(scope)]), f"{ratio * 100:g}"]
    return "_".join([*parts, f"seed{seed}"]) + CAM_GRID_SUFFIX


class CommittedReport:
    """A committed report folder as the :class:`~prunescope.reporting.run_files.RunFiles` of ``report.html``.

    Args:
        results_csv: the folder's ``results.csv`` (its path as the page names it).
        rows: the rows read from it.
    """

    def __init__(self, results_csv: Path, rows: Sequence[Mapping[str, Any]]) -> None:
        self.results_csv = results_csv
        self.cams_dir = results_csv.parent / CAMS_DIR_NAME
        names = Counter(name for row in rows if (name := cam_grid_name(row)) is not None)
        self.shared_names = sorted(name for name, count in names.items() if count > 1)
        self.unique_names = {name for name, count in names.items() if count == 1}

    def overrides(self, row: Mapping[str, Any]) -> list[str] | None:
        """The overrides of a job that wrote no metrics.json (``run.overrides``); None for the others."""
        listed = row.get("run.overrides")
        return [str(item) for item in listed] if isinstance(listed, list) else None

    def class_names(self, row: Mapping[str, Any]) -> list[str] | None:
        """``class_names`` of the datamodule registered as ``run.data`` (``prunescope.data.DATAMODULES``)."""
        datamodule = DATAMODULES.get(str(row.get("run.data")))
        names = getattr(datamodule, "class_names", None)
        return [str(name) for name in names] if isinstance(names, list | tuple) else None

    def cam_grid(self, row: Mapping[str, Any]) -> Path | None:
        """``cams/<cam_grid_name(row)>`` if it exists and names this run alone."""
        name = cam_grid_name(row)
        if name is None or name not in self.unique_names:
            return None
        path = self.cams_dir / name
        return path if path.is_file() else None

    def notes(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """Where the numbers come from; overrides and CAM grids: what is shown, what is left out and why."""
        lines = [
            f"Built from {self.results_csv} alone (prunescope-report <results.csv>): every number, table and plot "
            "below is computed from its rows; the runs' folders are not read."
        ]
        if any(self.overrides(row) is None for row in rows):
            lines.append(
                "Config overrides: left out; results.csv does not hold them (each run kept them in its .hydra/ "
                "folder)."
            )
        with_grid = sum(self.cam_grid(row) is not None for row in rows)
        lines.append(
            f"CAM grids: shown for the {with_grid} of {len(rows)} runs whose grid is in {CAMS_DIR_NAME}/ beside "
            f"results.csv, as {GRID_NAME_PATTERN}; the other runs' grids are not there."
        )
        files = sorted(path.name for path in self.cams_dir.glob(f"*{CAM_GRID_SUFFIX}"))
        if unmatched := [name for name in files if name not in self.unique_names]:
            lines.append(
                f"Not shown, as they name no single run: {', '.join(f'{CAMS_DIR_NAME}/{n}' for n in unmatched)}."
            )
        return lines


def write_committed_html(
    results_csv: str | os.PathLike[str],
    rows: Sequence[Mapping[str, Any]],
    out_dir: str | os.PathLike[str],
) -> Path:
    """Write ``report.html`` into ``out_dir`` (nothing else) from the rows of a committed ``results.csv`` and the
    ``cams/`` folder beside it; returns the page's path.

    Args:
        results_csv: the ``results.csv`` the rows were read from (:func:`read_results_csv`), named on the page.
        rows: its rows.
        out_dir: output folder (created).
    """
    return write_html_report(
        rows,
        summarize(rows),
        summarize_baselines(rows),
        Path(out_dir) / REPORT_FILENAME,
        files=CommittedReport(Path(results_csv), rows),
    )
