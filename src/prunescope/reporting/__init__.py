"""Sweep reports: collect every job's metrics.json, write CSV/Markdown/LaTeX tables and plots, log to W&B."""

from prunescope.reporting.collect import collect_runs, is_completed
from prunescope.reporting.summary import summarize, summarize_baselines
from prunescope.reporting.wandb_table import log_report_to_wandb
from prunescope.reporting.writer import write_report

__all__ = [
    "collect_runs",
    "is_completed",
    "log_report_to_wandb",
    "summarize",
    "summarize_baselines",
    "write_report",
]
