"""Log the report to Weights & Biases: results and summary as ``wandb.Table``s, plots as images, report.html as an
artifact."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prunescope.reporting.csv_files import (
    LEADING_RESULT_COLUMNS,
    LEADING_SUMMARY_COLUMNS,
    csv_cell,
    ordered_columns,
)

WANDB_MODES = ("online", "offline", "disabled")
DEFAULT_MODE = "offline"


def resolve_mode(mode: str | None) -> str:
    """``mode``, else ``$WANDB_MODE``, else ``offline``; must be one of online, offline, disabled."""
    resolved = mode or os.environ.get("WANDB_MODE") or DEFAULT_MODE
    if resolved not in WANDB_MODES:
        raise ValueError(f"unknown W&B mode {resolved!r}; valid: {', '.join(WANDB_MODES)}")
    return resolved


def table_data(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[list[Any]]:
    """Rows as lists with one type per column: all-numeric columns as float, others as text (missing → None)."""
    numeric = {
        column: all(
            isinstance(row[column], (int, float)) and not isinstance(row[column], bool)
            for row in rows
            if row.get(column) is not None
        )
        for column in columns
    }
    return [
        [
            None
            if row.get(column) is None
            else float(row[column])
            if numeric[column]
            else csv_cell(row[column])
            for column in columns
        ]
        for row in rows
    ]


def log_report_to_wandb(
    results_rows: Sequence[Mapping[str, Any]],
    plots: Mapping[str, Path],
    project: str = "prunescope",
    mode: str | None = None,
    summary_rows: Sequence[Mapping[str, Any]] | None = None,
    name: str | None = None,
    wandb_dir: Path | None = None,
    html_report: Path | None = None,
) -> Path | None:
    """Log the results table (one row per job), optionally the summary table, the plots and report.html in one run.

    Args:
        results_rows: job rows from :func:`prunescope.reporting.collect_runs`.
        plots: ``{name: png_path}``, logged as ``plots/<name>`` images.
        project: W&B project.
        mode: online, offline or disabled; default ``$WANDB_MODE``, else offline.
        summary_rows: rows from :func:`prunescope.reporting.summarize`, logged as table ``summary``.
        name: run name.
        wandb_dir: folder for W&B's local files (default: ``$WANDB_DIR`` or the working directory).
        html_report: ``report.html``, logged as the file of an artifact named ``report`` (type ``report``).

    Returns:
        The run's local files folder, or None when mode is disabled.
    """
    import wandb

    mode = resolve_mode(mode)
    results_columns = ordered_columns(results_rows, LEADING_RESULT_COLUMNS, trailing=("run.error",))
    payload: dict[str, Any] = {
        "results": wandb.Table(columns=results_columns, data=table_data(results_rows, results_columns))
    }
    if summary_rows:
        summary_columns = ordered_columns(summary_rows, LEADING_SUMMARY_COLUMNS)
        payload["summary"] = wandb.Table(
            columns=summary_columns, data=table_data(summary_rows, summary_columns)
        )
    for plot_name, path in plots.items():
        payload[f"plots/{plot_name}"] = wandb.Image(str(path))
    init_kwargs: dict[str, Any] = {"project": project, "mode": mode, "job_type": "report", "name": name}
    if wandb_dir is not None:
        Path(wandb_dir).mkdir(parents=True, exist_ok=True)
        init_kwargs["dir"] = str(wandb_dir)
    run = wandb.init(**init_kwargs)
    try:
        run.log(payload)
        if html_report is not None:
            artifact = wandb.Artifact("report", type="report", description="prunescope-report HTML page")
            artifact.add_file(str(html_report), name=Path(html_report).name)
            run.log_artifact(artifact)
        run.summary["report/jobs"] = len(results_rows)
        run_dir = None if mode == "disabled" else Path(run.dir)
    finally:
        run.finish()  # also in disabled mode, whose context exit would leave a no-op run as ``wandb.run``
    return run_dir
