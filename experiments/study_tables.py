"""Markdown tables of a study's RESULTS.md, computed from its runs' metrics.json files.

Usage: ``python experiments/study_tables.py outputs/segnet_camvid [--classes camvid]`` prints

1. the baseline: test quality, pixel accuracy and per-class IoU (all runs share one cached baseline);
2. one row per (method, target, ratio): achieved params / FLOPs drop, quality and its change, Sp2PS, speed-up, as
   mean ± std over seeds (sample standard deviation, n − 1; the one spread convention of every study table) and
   ``n`` counts the seeds;
3. with ``--sp2ps-variants``: Sp2PS per (method, ratio) for the run's own score and each re-scored variant
   (``<run dir>/sp2ps_<name>/sp2ps.json``, written by ``prunescope-sp2ps``), the share of pairs each variant left
   out (both CAMs constant), and with ``--plot PATH`` a figure of quality and every Sp2PS variant against the
   ratio, one line per method.

The baseline and method tables are the same code as the RESULTS tables that ``experiments/check_results.py``
re-derives from a study's committed ``report/results.csv`` (``check_results.py --write`` writes them into RESULTS.md);
this script builds them from the runs' metrics.json files instead.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from check_results import (  # experiments/, beside this script
    baseline_table,
    method_table,
    variant_cells,
)

from prunescope.data.camvid import CAMVID_CLASSES
from prunescope.reporting import collect_runs, is_completed
from prunescope.reporting.markdown import markdown_table

CLASS_NAMES = {"camvid": list(CAMVID_CLASSES)}


def variant_scores(
    row: Mapping[str, Any], names: Sequence[str], key: str = "sp2ps"
) -> dict[str, float | None]:
    """The run's own Sp2PS (``run``) and each re-scored variant's (``None`` where not scored); ``key="skipped"``:
    the share of pairs left out (both CAMs constant) instead."""

    def value(result: Mapping[str, Any]) -> float:
        if key == "skipped":
            return result["skipped"] / (result["skipped"] + result["pairs"])
        return result[key]

    own = {k.removeprefix("sp2ps."): v for k, v in row.items() if k.startswith("sp2ps.")}
    scores: dict[str, float | None] = {"run": value({**own, "sp2ps": own.get("score")}) if own else None}
    for name in names:
        path = Path(row["run.output_dir"]) / f"sp2ps_{name}" / "sp2ps.json"
        scores[name] = value(json.loads(path.read_text())) if path.is_file() else None
    return scores


def skipped_table(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> str:
    """Per Sp2PS variant: the share of test images whose two CAMs were both constant (left out), mean and range
    over all runs: a CAM layer too coarse to explain the class leaves many out."""
    shares = [variant_scores(row, names, key="skipped") for row in rows]
    body = []
    for name in ("run", *names):
        values = [100 * s[name] for s in shares if s[name] is not None]
        if values:
            body.append([name, f"{statistics.fmean(values):.1f}", f"{min(values):.1f}–{max(values):.1f}"])
    return markdown_table(["Sp2PS variant", "pairs left out, mean %", "min–max %"], body)


def variant_table(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> str:
    """One line per (method, ratio): quality and the Sp2PS of every variant, mean ± std over seeds."""
    return markdown_table(*variant_cells(rows, names, lambda row: variant_scores(row, names)))


def variant_plot(rows: Sequence[Mapping[str, Any]], names: Sequence[str], path: Path) -> None:
    """Quality and every Sp2PS variant against the ratio (one panel each, one line per method; seed means)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    q = rows[0]["quality.metric"]
    panels = [(f"test {q}", None), *((f"Sp2PS {n}", n) for n in ("run", *names))]
    figure, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), squeeze=False)
    methods = sorted({r["run.method"] for r in rows})
    for axis, (title, variant) in zip(axes[0], panels, strict=True):
        for method in methods:
            points: dict[float, list[float]] = defaultdict(list)
            for row in (r for r in rows if r["run.method"] == method):
                value = row[f"pruned.{q}"] if variant is None else variant_scores(row, names)[variant]
                if value is not None:
                    points[row["run.ratio"]].append(float(value))
            ratios = sorted(points)
            axis.plot(ratios, [statistics.fmean(points[r]) for r in ratios], marker="o", label=method)
        if variant is None:
            axis.axhline(float(rows[0][f"baseline.{q}"]), color="grey", linestyle="--", label="baseline")
        axis.set_title(title)
        axis.set_xlabel("pruning ratio")
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the study's tables; returns 1 when no completed run is found."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", help="the study's sweep folders")
    parser.add_argument("--classes", choices=sorted(CLASS_NAMES), default=None, help="per-class IoU names")
    parser.add_argument(
        "--sp2ps-variants",
        nargs="*",
        default=[],
        metavar="NAME",
        help="re-scored Sp2PS: <run>/sp2ps_NAME/sp2ps.json",
    )
    parser.add_argument(
        "--plot", type=Path, default=None, help="write quality and Sp2PS vs ratio to this PNG"
    )
    args = parser.parse_args(argv)
    rows = collect_runs(args.dirs)
    completed = [row for row in rows if is_completed(row)]
    if not completed:
        print(f"no completed run under {', '.join(args.dirs)}")
        return 1
    line, per_class = baseline_table(completed, CLASS_NAMES.get(args.classes))
    print(line if per_class is None else f"{line}\n\n{per_class}")
    print()
    print(method_table(completed))
    if args.sp2ps_variants:
        print()
        print(variant_table(completed, args.sp2ps_variants))
        print()
        print(skipped_table(completed, args.sp2ps_variants))
    if args.plot is not None:
        variant_plot(completed, args.sp2ps_variants, args.plot)
    for row in (row for row in rows if not is_completed(row)):  # running or failed
        print(f"\n{row.get('run.status')}: {row.get('run.method')} ratio {row.get('run.ratio')} "
              f"seed {row.get('run.seed')}: {row.get('run.error') or ''}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
