"""Re-time the speed-up of every completed run of a study, on a machine doing nothing else.

A run times its pruned model against the baseline interleaved, but a study's jobs often share the machine with
other jobs, so those figures carry the load of the moment. This loads each run's pruned checkpoint and its
baseline, times both with :func:`prunescope.metrics.efficiency.compare_latency` (eager, eval mode, ``no_grad``,
interleaved) at one batch size and thread count, and prints one line per (method, ratio): the speed-up as mean ±
std over seeds (sample standard deviation, n − 1), with the mean MAC ratio (baseline / pruned) of the same runs
beside it.

``--out CSV`` also writes one row per run (``TIMING_FIELDS``), the file a study commits in its ``report/`` and from
which ``experiments/check_results.py`` builds the speed-up table (``speedups ... timings=report/speedups.csv``).

Usage: ``python experiments/study_speedups.py outputs/vgg16_cifar10/headline outputs/vgg16_cifar10/classic
[--batch 1] [--threads 2] [--repeats 50] [--out experiments/vgg16_cifar10/report/speedups.csv]``
"""

from __future__ import annotations

import argparse
import csv
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import torch
from omegaconf import OmegaConf

from prunescope.checkpoints import module_from_checkpoint, read_checkpoint
from prunescope.metrics.efficiency import compare_latency, count_macs
from prunescope.reporting import collect_runs, is_completed
from prunescope.reporting.markdown import markdown_table
from prunescope.reporting.summary import method_label, mixes_scopes


def input_shape(row: dict) -> tuple[int, ...]:
    """(C, H, W) of the run's test images: its ``data.image_size`` (``.hydra/config.yaml``), CIFAR's 32×32 when
    that is absent, CamVid's native 180×240 when it is null; an int ``s`` is ``s×s``."""
    data = OmegaConf.load(Path(row["run.output_dir"]) / ".hydra" / "config.yaml").data
    if "image_size" not in data:
        return (3, 32, 32)
    size = data.image_size or (180, 240)
    return (3, size, size) if isinstance(size, int) else (3, *size)


TIMING_FIELDS = (
    "run",
    "run.method",
    "run.scope",
    "run.target",
    "run.ratio",
    "run.layers",
    "run.seed",
    "batch",
    "threads",
    "repeats",
    "baseline_ms",
    "pruned_ms",
    "speedup",
    "mac_ratio",
)
"""One row of ``--out`` per run: its folder (``<sweep>/<job>``), identity, the timing settings, the two medians (ms),
their ratio and the MAC ratio."""


def write_timings(path: Path, timings: list[dict]) -> None:
    """``timings`` as a CSV of :data:`TIMING_FIELDS` (empty cells for ``None``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=TIMING_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in timings:
            writer.writerow({key: "" if row.get(key) is None else row[key] for key in TIMING_FIELDS})


def main(argv: Sequence[str] | None = None) -> int:
    """Print the re-timed speed-ups; returns 1 when no completed run is found."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", help="the study's sweep folders")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", type=Path, default=None, help="also write one CSV row per run here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = [row for row in collect_runs(args.dirs) if is_completed(row)]
    if not rows:
        print(f"no completed run under {', '.join(args.dirs)}")
        return 1
    baselines: dict[str, torch.nn.Module] = {}
    groups: dict[tuple[str, str, float], list[tuple[float, float]]] = defaultdict(list)
    timings: list[dict] = []
    show_scope = mixes_scopes(rows)
    targets: dict[tuple[str, float], set[str]] = defaultdict(set)
    for row in rows:
        targets[(method_label(row, show_scope), float(row["run.ratio"]))].add(str(row.get("run.target")))
    show_target = any(len(found) > 1 for found in targets.values())  # params and params+macs: one group each
    for row in rows:
        source = str(row["run.baseline_source"])
        if source not in baselines:
            baselines[source] = module_from_checkpoint(read_checkpoint(source)).net
        pruned = module_from_checkpoint(
            read_checkpoint(Path(row["run.output_dir"]) / "checkpoints" / "last.ckpt")
        )
        example = torch.randn(args.batch, *input_shape(row))
        latency = compare_latency(
            {"baseline": baselines[source], "pruned": pruned.net}, example, 5, args.repeats
        )
        speedup = latency["baseline"].ms / latency["pruned"].ms
        mac_ratio = count_macs(baselines[source], example) / count_macs(pruned.net, example)
        target = str(row.get("run.target") or "–") if show_target else ""
        groups[(method_label(row, show_scope), target, float(row["run.ratio"]))].append((speedup, mac_ratio))
        folder = Path(row["run.output_dir"])
        timings.append(
            {
                "run": f"{folder.parent.name}/{folder.name}",
                **{key: row.get(key) for key in TIMING_FIELDS if key.startswith("run.")},
                "batch": args.batch,
                "threads": args.threads,
                "repeats": args.repeats,
                "baseline_ms": f"{latency['baseline'].ms:.4f}",
                "pruned_ms": f"{latency['pruned'].ms:.4f}",
                "speedup": f"{speedup:.4f}",
                "mac_ratio": f"{mac_ratio:.4f}",
            }
        )
    print(
        f"Speed-up, eager, batch {args.batch}, {args.threads} threads, median of {args.repeats} interleaved runs; "
        "mean ± std over seeds"
    )
    print()
    body = []
    for (method, target, ratio), values in sorted(groups.items(), key=lambda item: (item[0][2], item[0][:2])):
        speedups = [s for s, _ in values]
        mean = statistics.fmean(speedups)
        spread = f" ± {statistics.stdev(speedups):.2f}" if len(speedups) > 1 else ""
        mac_ratio = statistics.fmean(m for _, m in values)  # the group's mean, not its first run's
        body.append(
            [
                method,
                *([target] if show_target else []),
                f"{100 * ratio:.1f} %",
                f"{mean:.2f}{spread}",
                f"{mac_ratio:.2f}",
                str(len(values)),
            ]
        )
    headers = ["method", *(["target"] if show_target else []), "ratio", "speed-up ×", "MAC ratio ×", "n"]
    print(markdown_table(headers, body))
    if args.out is not None:
        write_timings(args.out, timings)
        print(f"\n{len(timings)} runs -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
