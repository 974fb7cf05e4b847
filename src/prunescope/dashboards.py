"""What a finished run shows in TensorBoard and W&B, beyond its per-epoch curves and the CAM grid.

- W&B: per-class IoU (baseline and pruned) and per-class Sp2PS as tables, every final metric in the run summary.
- TensorBoard: the run's hyper-parameters with its final metrics (the HParams dashboard compares runs by them).

The CAM grid image and the per-pair table are logged by ``Sp2PSCallback`` when it draws them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import Logger, TensorBoardLogger, WandbLogger

from prunescope.cam.pair_records import class_label

FINAL_PREFIX = "final/"


def final_metrics(values: Mapping[str, Any]) -> dict[str, float]:
    """``final/<key>`` → float for every numeric ``metrics.json`` value outside ``run.*`` (bools left out)."""
    return {
        f"{FINAL_PREFIX}{key}": float(value)
        for key, value in values.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and not key.startswith("run.")
    }


def per_class_iou_rows(
    values: Mapping[str, Any], class_names: Sequence[str] | None = None
) -> list[list[Any]]:
    """Rows ``[class, name, baseline IoU, pruned IoU]`` from ``baseline/pruned.iou_per_class`` (None if absent)."""
    baseline = list(values.get("baseline.iou_per_class") or [])
    pruned = list(values.get("pruned.iou_per_class") or [])
    rows = []
    for class_id in range(max(len(baseline), len(pruned))):
        rows.append(
            [
                class_id,
                class_label(class_id, class_names),
                baseline[class_id] if class_id < len(baseline) else None,
                pruned[class_id] if class_id < len(pruned) else None,
            ]
        )
    return rows


def per_class_sp2ps_rows(
    values: Mapping[str, Any], class_names: Sequence[str] | None = None
) -> list[list[Any]]:
    """Rows ``[class, name, Sp2PS]`` from ``sp2ps.per_class`` (class ids as JSON keys), in class order."""
    per_class = values.get("sp2ps.per_class") or {}
    return [
        [int(class_id), class_label(int(class_id), class_names), float(score)]
        for class_id, score in sorted(per_class.items(), key=lambda item: int(item[0]))
    ]


def log_run_dashboards(
    loggers: Sequence[Logger],
    cfg: DictConfig,
    values: Mapping[str, Any],
    class_names: Sequence[str] | None = None,
) -> None:
    """Log a finished run's per-class tables and summary (W&B) and its hparams with final metrics (TensorBoard).

    Args:
        loggers: the run's Lightning loggers (others than W&B and TensorBoard are left alone).
        cfg: the run's composed config; its resolved, flattened values are the TensorBoard hparams.
        values: the run's flat ``metrics.json`` content.
        class_names: names indexed by class id (default: the id).
    """
    final = final_metrics(values)
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            iou = per_class_iou_rows(values, class_names)
            if iou:
                columns = ["class", "name", "baseline_iou", "pruned_iou"]
                logger.log_table(key="per_class/iou", columns=columns, data=iou)
            sp2ps = per_class_sp2ps_rows(values, class_names)
            if sp2ps:
                logger.log_table(key="per_class/sp2ps", columns=["class", "name", "sp2ps"], data=sp2ps)
            logger.experiment.summary.update(final)
        elif isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True), metrics=final)
            logger.experiment.flush()
