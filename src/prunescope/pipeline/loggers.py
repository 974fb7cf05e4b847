"""The run's loggers: a CSV logger that survives resumption, final metrics, and closing W&B so the next job of a
multirun starts its own."""

from __future__ import annotations

import csv
import os
import sys
from typing import Any

from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter

from prunescope.dashboards import final_metrics


def log_final_metrics(loggers: list[Any], values: dict[str, Any]) -> None:
    """Log every numeric ``metrics.json`` value except ``run.*`` as ``final/<key>`` to each logger."""
    numeric = final_metrics(values)
    for logger in loggers:
        logger.log_metrics(numeric)
        logger.save()


def finish_wandb() -> None:
    """End the W&B run, if any, so that the next job of a multirun starts its own."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an existing ``metrics.csv`` is continued instead of deleted."""

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as handle:
                self.metrics_keys = sorted(next(csv.reader(handle), []))


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` whose ``metrics.csv`` keeps the rows of earlier attempts: a run resumed in its run dir has
    every epoch in one file (an epoch logged both before a kill and after the resume appears twice).

    Defaults: ``<save_dir>/csv/metrics.csv`` (``name="csv"``, ``version=""``: one fixed folder per run dir).
    """

    def __init__(
        self, save_dir: str, name: str = "csv", version: int | str | None = "", **kwargs: Any
    ) -> None:
        super().__init__(save_dir, name=name, version=version, **kwargs)

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment
