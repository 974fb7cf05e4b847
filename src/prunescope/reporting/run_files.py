"""What a job folder holds beside ``metrics.json``, read for the HTML report: overrides, class names, CAM files.

Every reader returns None (or an empty value) when the file is missing or unreadable: a report over folders that
were copied without them still renders. :class:`RunFiles` is what ``report.html`` asks of a run's files;
:class:`JobFolders` answers from the job folders (a sweep's output), ``prunescope.reporting.committed_report``
from a committed report folder.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from omegaconf import OmegaConf

from prunescope.cam.grid import GRID_FILENAME
from prunescope.cam.pair_records import PAIRS_FILENAME
from prunescope.reporting.collect import SOURCE_KEY

OVERRIDES_FILE = Path(".hydra") / "overrides.yaml"
CONFIG_FILE = Path(".hydra") / "config.yaml"


def run_folder(row: Mapping[str, Any]) -> Path | None:
    """The job folder of a row (the folder of its ``metrics.json``)."""
    source = row.get(SOURCE_KEY)
    return Path(source).parent if source else None


def overrides(folder: Path | None) -> list[str]:
    """The command-line overrides of the job (``.hydra/overrides.yaml``), empty when absent."""
    if folder is None or not (folder / OVERRIDES_FILE).is_file():
        return []
    try:
        loaded = OmegaConf.load(folder / OVERRIDES_FILE)
    except (OSError, ValueError):
        return []
    return [str(item) for item in loaded] if OmegaConf.is_list(loaded) else []


def class_names(folder: Path | None) -> list[str] | None:
    """Class names of the job's dataset: ``class_names`` of the datamodule class named in ``.hydra/config.yaml``.

    The class is imported, not instantiated (no data is read). None when the config or the attribute is missing.
    """
    if folder is None or not (folder / CONFIG_FILE).is_file():
        return None
    try:
        target = OmegaConf.load(folder / CONFIG_FILE).data["_target_"]
        module_name, _, class_name = str(target).rpartition(".")
        names = getattr(getattr(importlib.import_module(module_name), class_name), "class_names", None)
    except (OSError, ValueError, KeyError, ImportError, AttributeError):
        return None
    return [str(name) for name in names] if isinstance(names, list | tuple) else None


def cam_grid(folder: Path | None) -> Path | None:
    """The job's ``sp2ps_cams.png``, if it exists."""
    path = folder / GRID_FILENAME if folder is not None else None
    return path if path is not None and path.is_file() else None


def pairs_csv(folder: Path | None) -> Path | None:
    """The job's ``sp2ps_pairs.csv``, if it exists."""
    path = folder / PAIRS_FILENAME if folder is not None else None
    return path if path is not None and path.is_file() else None


class RunFiles(Protocol):
    """Where ``report.html`` finds what a run left beside its numbers."""

    def overrides(self, row: Mapping[str, Any]) -> list[str] | None:
        """The run's config overrides; None when this source cannot tell (the page then leaves them out)."""
        ...

    def class_names(self, row: Mapping[str, Any]) -> list[str] | None:
        """Class names of the run's dataset, None when unknown (classes are then numbered)."""
        ...

    def cam_grid(self, row: Mapping[str, Any]) -> Path | None:
        """The run's CAM grid image, None when there is none."""
        ...

    def notes(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """Lines for the top of the page: where the runs were read from and what is left out, and why."""
        ...


class JobFolders:
    """A run's files in its job folder, the folder of its ``metrics.json`` (a sweep's output)."""

    def overrides(self, row: Mapping[str, Any]) -> list[str]:
        """``.hydra/overrides.yaml``, else the overrides a job that wrote no metrics.json was to run with."""
        return overrides(run_folder(row)) or [str(item) for item in row.get("run.overrides") or []]

    def class_names(self, row: Mapping[str, Any]) -> list[str] | None:
        """:func:`class_names` of the job folder."""
        return class_names(run_folder(row))

    def cam_grid(self, row: Mapping[str, Any]) -> Path | None:
        """The job folder's ``sp2ps_cams.png``."""
        return cam_grid(run_folder(row))

    def notes(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """None: every run's folder was read."""
        return []
