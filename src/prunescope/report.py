"""``prunescope-report``: aggregate a sweep's metrics.json files into tables, plots and (optionally) a W&B run;
or rebuild report.html from a committed report folder's results.csv."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from prunescope.cli_errors import run_plain
from prunescope.reporting import (
    collect_runs,
    log_report_to_wandb,
    read_results_csv,
    summarize,
    write_committed_html,
    write_report,
)
from prunescope.reporting.tables import failed_job_lines

DEFAULT_INPUT = "outputs"
REPORT_DIR_NAME = "report"
CSV_SUFFIX = ".csv"


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface of ``prunescope-report``."""
    parser = argparse.ArgumentParser(
        prog="prunescope-report",
        description="Collect every metrics.json under the given sweep folders (skipping baselines/) and write "
        "results.csv, summary.csv, results.md, results.tex, report.html, PNG plots and, where pruning runs recorded "
        "figures before fine-tuning, correlations.csv. Given one results.csv instead (a report folder's, e.g. "
        "experiments/<study>/report/results.csv, whose run folders are gone), write report.html only: its tables "
        "and plots computed from the CSV's rows, CAM grids from the cams/ folder beside it; results.csv, "
        "summary.csv and the plots are not touched.",
    )
    parser.add_argument(
        "dirs",
        nargs="*",
        default=[DEFAULT_INPUT],
        help="sweep folders or metrics.json files; or one results.csv (then only report.html is written)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: <first dir>/report; for a results.csv, the folder it is in)",
    )
    parser.add_argument(
        "--wandb", action="store_true", help="also log tables and plots to W&B (mode: $WANDB_MODE)"
    )
    parser.add_argument("--wandb-project", default="prunescope", help="W&B project (default: prunescope)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the report; returns the exit status (0 ok, 1 no metrics.json found or a results.csv without rows). A
    report folder that cannot be written ends with one line and exit status 2 (:mod:`prunescope.cli_errors`)."""
    return run_plain(lambda: report(argv), ("--out", "report folder"))


def report(argv: Sequence[str] | None = None) -> int:
    """``prunescope-report`` without the error handling of :func:`main`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if any(Path(path).suffix == CSV_SUFFIX for path in args.dirs):
        return report_from_csv(parser, args)
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


def report_from_csv(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Write report.html alone from one results.csv (``args.dirs``) into ``args.out`` or the CSV's folder."""
    if len(args.dirs) != 1:
        parser.error(f"a results.csv is read alone, not with other inputs: {' '.join(args.dirs)}")
    if args.wandb:
        parser.error("--wandb logs a sweep's report; from a results.csv only report.html is written")
    results_csv = Path(args.dirs[0])
    try:
        rows = read_results_csv(results_csv)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    if not rows:
        print(f"prunescope-report: no runs in {results_csv}", file=sys.stderr)
        return 1
    out_dir = args.out if args.out is not None else results_csv.parent
    page = write_committed_html(results_csv, rows, out_dir)
    failed = sum(row.get("run.status") != "completed" for row in rows)
    print(f"{len(rows)} jobs ({failed} failed) from {results_csv} -> {out_dir}")
    print(f"  html: {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
