"""Markdown tables of a study's RESULTS.md, computed from its runs' metrics.json files.

Usage: ``python experiments/study_tables.py outputs/segnet_camvid [--classes camvid]`` prints

1. the baseline: test quality, pixel accuracy and per-class IoU (all runs share one cached baseline);
2. one row per (method, target, ratio): achieved params / FLOPs drop, quality and its change, Sp2PS, speed-up, as
   mean ± spread over seeds, where the spread is half the range (max − min) / 2 and ``n`` counts the seeds.
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from prunescope.data.camvid import CAMVID_CLASSES
from prunescope.reporting import collect_runs, is_completed

CLASS_NAMES = {"camvid": list(CAMVID_CLASSES)}
COLUMNS = (
    ("drop.params_pct", "params ↓%", 1.0, 1),
    ("drop.macs_pct", "FLOPs ↓%", 1.0, 1),
    ("pruned.{q}", "{Q} %", 100.0, 1),
    ("delta.{q}", "Δ{Q} (points)", 100.0, 1),
    ("sp2ps.score", "Sp2PS", 1.0, 3),
    ("speedup", "speed-up ×", 1.0, 2),
)


def mean_spread(values: Sequence[float], scale: float, digits: int) -> str:
    """``mean ± (max − min)/2`` of ``values`` times ``scale`` (just the mean for one value)."""
    scaled = [v * scale for v in values]
    mean = statistics.fmean(scaled)
    if len(scaled) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {(max(scaled) - min(scaled)) / 2:.{digits}f}"


def baseline_table(rows: Sequence[Mapping[str, Any]], classes: Sequence[str] | None) -> str:
    """The shared baseline's test metrics (first completed row; all rows of a study share it)."""
    row = rows[0]
    q = row["quality.metric"]
    lines = [
        f"Baseline (test): {q} {100 * row[f'baseline.{q}']:.1f} %"
        + (f", pixel accuracy {100 * row['baseline.pixel_acc']:.1f} %" if "baseline.pixel_acc" in row else "")
        + f", {row['baseline.params'] / 1e6:.2f} M params, {2 * row['baseline.macs'] / 1e9:.3f} GFLOPs",
    ]
    per_class = row.get("baseline.iou_per_class")
    if per_class:
        names = list(classes) if classes else [str(i) for i in range(len(per_class))]
        lines += [
            "",
            "| " + " | ".join(names) + " |",
            "|" + "---:|" * len(per_class),
            "| " + " | ".join(f"{100 * v:.1f}" for v in per_class) + " |",
        ]
    return "\n".join(lines)


def method_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line per (method, target, ratio), mean ± spread over seeds."""
    q = rows[0]["quality.metric"]
    groups: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["run.method"], row.get("run.target"), row["run.ratio"])].append(row)
    header = ["method", "target", "asked", *(title.format(Q=q) for _, title, _, _ in COLUMNS), "n (seeds)"]
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    for (method, target, ratio), group in sorted(groups.items(), key=lambda item: (item[0][2], item[0][0])):
        cells = [method, str(target), f"{100 * ratio:.1f} %"]
        for key, _, scale, digits in COLUMNS:
            values = [float(r[key.format(q=q)]) for r in group if r.get(key.format(q=q)) is not None]
            cells.append(mean_spread(values, scale, digits) if values else "–")
        seeds = sorted(r.get("run.seed") for r in group)
        cells.append(f"{len(group)} ({', '.join(str(s) for s in seeds)})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the study's tables; returns 1 when no completed run is found."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", help="the study's sweep folders")
    parser.add_argument("--classes", choices=sorted(CLASS_NAMES), default=None, help="per-class IoU names")
    args = parser.parse_args(argv)
    rows = collect_runs(args.dirs)
    completed = [row for row in rows if is_completed(row)]
    if not completed:
        print(f"no completed run under {', '.join(args.dirs)}")
        return 1
    print(baseline_table(completed, CLASS_NAMES.get(args.classes)))
    print()
    print(method_table(completed))
    for row in (row for row in rows if not is_completed(row)):  # running or failed
        print(f"\n{row.get('run.status')}: {row.get('run.method')} ratio {row.get('run.ratio')} "
              f"seed {row.get('run.seed')}: {row.get('run.error') or ''}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
