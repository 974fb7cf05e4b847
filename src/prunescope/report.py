"""``prunescope-report``: aggregate a sweep's metrics.json files into tables, plots and (optionally) a W&B run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from prunescope.cli_errors import run_plain
from prunescope.reporting import collect_runs, log_report_to_wandb, summarize, write_report
from prunescope.reporting.tables import failed_job_lines

DEFAULT_INPUT = "outputs"
REPORT_DIR_NAME = "report"


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface of ``prunescope-report``."""
    parser = argparse.ArgumentParser(
        prog="prunescope-report",
        description="Collect every metrics.json under the given sweep folders (skipping baselines/) and write "
        "results.csv, summary.csv, results.md, results.tex, report.html, PNG plots and, where pruning runs recorded "
        "figures before fine-tuning, correlations.csv.",
    )
    parser.add_argument(
        "dirs", nargs="*", default=[DEFAULT_INPUT], help="sweep folders or metrics.json files"
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <first dir>/report)")
    parser.add_argument(
        "--wandb", action="store_true", help="also log tables and plots to W&B (mode: $WANDB_MODE)"
    )
    parser.add_argument("--wandb-project", default="prunescope", help="W&B project (default: prunescope)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the report; returns the exit status (0 ok, 1 no metrics.json found). A report folder that cannot be
    written ends with one line and exit status 2 (:mod:`prunescope.cli_errors`)."""
    return run_plain(lambda: report(argv), ("--out", "report folder"))


def report(argv: Sequence[str] | None = None) -> int:
    """``prunescope-report`` without the error handling of :func:`main`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    first = Path(args.dirs[0])
    out_dir = (
        args.out if args.out is not None else (first.parent if first.is_file() else first) / REPORT_DIR_NAME
    )
    try:
        rows = collect_runs(args.dirs)
    except FileNotFoundError as error:
        parser.error(str(error))
    if not rows:
        print(f"prunescope-report: no metrics.json found under {', '.join(args.dirs)}", file=sys.stderr)
        return 1
    files = write_report(rows, out_dir)
    failed = sum(row.get("run.status") != "completed" for row in rows)
    print(f"{len(rows)} jobs ({failed} failed) -> {out_dir}")
    for line in failed_job_lines(rows):  # with the jobs of a sweep's multirun.yaml that wrote no metrics.json
        print(f"  {line}")
    for name, path in files.items():
        print(f"  {name}: {path}")
    if args.wandb:
        plots = {name: path for name, path in files.items() if path.suffix == ".png"}
        run_dir = log_report_to_wandb(
            rows,
            plots,
            project=args.wandb_project,
            summary_rows=summarize(rows),
            html_report=files["html"],
        )
        print(f"  wandb: {run_dir if run_dir is not None else 'disabled'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
