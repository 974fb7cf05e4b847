"""Write every report file for a set of job rows into one folder."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prunescope.reporting.correlations import (
    CORRELATIONS_FILENAME,
    early_correlations,
    write_correlations_csv,
)
from prunescope.reporting.csv_files import write_results_csv, write_summary_csv
from prunescope.reporting.html import REPORT_FILENAME, write_html_report
from prunescope.reporting.pareto import mark_front
from prunescope.reporting.plots import write_pareto_runs_plot, write_plots
from prunescope.reporting.summary import summarize, summarize_baselines
from prunescope.reporting.tables import render_latex, render_markdown


def write_report(rows: Sequence[Mapping[str, Any]], out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write results.csv, summary.csv, results.md, results.tex, report.html and the PNG plots into ``out_dir``;
    each job row is marked on or off the Pareto front of quality vs. MACs (``pareto.front``). Where pruning runs
    recorded figures before fine-tuning, ``correlations.csv`` holds their Spearman ρ with the final quality
    (:mod:`prunescope.reporting.correlations`).

    Args:
        rows: job rows from :func:`prunescope.reporting.collect_runs` (failed jobs included).
        out_dir: output folder (created).

    Returns:
        ``{"results_csv", "summary_csv", "markdown", "latex", "html", <plot name>...: path}`` and
        ``"correlations_csv"``; a plot or correlations file with no data (e.g. Sp2PS disabled everywhere) is left
        out.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = mark_front(rows)
    summary = summarize(rows)
    baselines = summarize_baselines(rows)
    files = {
        "results_csv": write_results_csv(out / "results.csv", rows),
        "summary_csv": write_summary_csv(out / "summary.csv", summary),
        "markdown": out / "results.md",
        "latex": out / "results.tex",
    }
    files["markdown"].write_text(render_markdown(rows, summary, baselines), encoding="utf-8")
    files["latex"].write_text(render_latex(rows, summary, baselines), encoding="utf-8")
    if correlations := early_correlations(rows):
        files["correlations_csv"] = write_correlations_csv(out / CORRELATIONS_FILENAME, correlations)
    files["html"] = write_html_report(rows, summary, baselines, out / REPORT_FILENAME)
    files.update(write_plots(summary, out, baselines))
    files.update(write_pareto_runs_plot(rows, out))
    return files
