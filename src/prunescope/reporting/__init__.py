"""Sweep reports: collect every job's metrics.json, write CSV/Markdown/LaTeX tables and plots, log to W&B; rebuild
report.html from a committed results.csv."""

from prunescope.reporting.collect import collect_runs, is_completed
from prunescope.reporting.committed_report import write_committed_html
from prunescope.reporting.csv_files import read_results_csv
from prunescope.reporting.summary import summarize, summarize_baselines
from prunescope.reporting.wandb_table import log_report_to_wandb
from prunescope.reporting.writer import write_report

__all__ = [
    "collect_runs",
    "is_completed",
    "log_report_to_wandb",
    "read_results_csv",
    "summarize",
    "summarize_baselines",
    "write_committed_html",
    "write_report",
]
