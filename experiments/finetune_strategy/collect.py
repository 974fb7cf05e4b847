"""Collect the fine-tune strategy runs into ``candidates.csv`` and choose the strategy on validation only.

Reads ``<RUNS_DIR>/<candidate>/<job>/metrics.json`` (one sweep dir per candidate, as ``run.sh`` writes them), keeps
the completed runs and writes one row per run: ``candidate, seed, metric, val, test, baseline, before, sp2ps,
sp2ps_before, finetune_s, total_s`` (``val`` = ``pruned.val_<metric>``, ``test`` = ``pruned.<metric>``, ``baseline`` =
``baseline.<metric>`` (test), ``before`` = ``quality.before_finetune`` (test), all fractions; ``sp2ps`` =
``sp2ps.score``, ``sp2ps_before`` = ``sp2ps.before_finetune``; ``finetune_s`` = ``time.finetune``, ``total_s`` =
``time.total``). :func:`candidate_cells` is the RESULTS table (``experiments/check_results.py`` generates it). Then it prints, per candidate, the mean ± sample standard deviation
over seeds and the winner: **the highest mean ``pruned.val_<metric>``**; the test column is reported, never used to
choose (a tie on validation goes to the candidate listed first in ``--order``, :data:`CANDIDATES` by default: the
simpler one).

With ``--earlier CSV`` (a ``candidates.csv`` written before, against the same baseline) the candidates of that file
that have no run under ``RUNS_DIR`` keep their rows and take part in the choice: later rounds add candidates without
re-running the earlier ones.

Usage: ``python experiments/finetune_strategy/collect.py [RUNS_DIR] [--out CSV] [--order A,B,...] [--earlier CSV]``
(defaults: ``outputs/finetune_strategy`` and ``experiments/finetune_strategy/candidates.csv``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
CANDIDATES = ("plain", "long", "warmup", "kd_logits", "kd_features", "iterative")
"""The candidates of ``run.sh``, simplest first (the order breaks ties on validation)."""
FIELDS = (
    "candidate",
    "seed",
    "metric",
    "val",
    "test",
    "baseline",
    "before",
    "sp2ps",
    "sp2ps_before",
    "finetune_s",
    "total_s",
)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def candidate_rows(runs_dir: Path, order: Sequence[str] = CANDIDATES) -> list[dict]:
    """One row per completed run under ``runs_dir/<candidate>/<job>/metrics.json``, sorted by candidate (the names of
    ``order`` first, in that order, then the others by name) and seed."""
    rows = []
    for path in sorted(Path(runs_dir).glob("*/*/metrics.json")):
        values = json.loads(path.read_text(encoding="utf-8"))
        if values.get("run.status") != "completed":
            continue
        metric = values.get("quality.metric") or "acc"
        rows.append(
            {
                "candidate": path.parent.parent.name,
                "seed": values.get("run.seed"),
                "metric": metric,
                "val": _number(values.get(f"pruned.val_{metric}")),
                "test": _number(values.get(f"pruned.{metric}")),
                "baseline": _number(values.get(f"baseline.{metric}")),
                "before": _number(values.get("quality.before_finetune")),
                "sp2ps": _number(values.get("sp2ps.score")),
                "sp2ps_before": _number(values.get("sp2ps.before_finetune")),
                "finetune_s": _number(values.get("time.finetune")),
                "total_s": _number(values.get("time.total")),
            }
        )
    return _in_order(rows, order)


def _in_order(rows: list[dict], order: Sequence[str]) -> list[dict]:
    """``rows`` sorted by candidate (the names of ``order`` first, in that order, then the others by name) and seed."""
    rank = {name: index for index, name in enumerate(order)}
    return sorted(
        rows,
        key=lambda r: (
            rank.get(r["candidate"], len(rank)),
            r["candidate"],
            -1 if r["seed"] is None else r["seed"],
        ),
    )


def _typed(row: dict) -> dict:
    """A ``candidates.csv`` row (strings, as ``csv.DictReader`` gives them) typed as :func:`candidate_rows` gives
    it: names kept, ``seed`` an int, the figures floats, empty cells ``None``."""
    return {
        key: value
        if key in ("candidate", "metric")
        else None
        if value in ("", None)
        else int(value)
        if key == "seed"
        else float(value)
        for key, value in row.items()
    }


def read_candidates(path: Path) -> list[dict]:
    """The rows of a ``candidates.csv`` this script wrote, typed as :func:`candidate_rows` gives them."""
    with Path(path).open(newline="", encoding="utf-8") as handle:
        return [_typed(row) for row in csv.DictReader(handle)]


def with_earlier(rows: list[dict], earlier: list[dict], order: Sequence[str]) -> list[dict]:
    """``rows`` plus the ``earlier`` rows of every candidate that has no run in ``rows`` (runs measured before, no
    longer on this disk), in ``order``.

    Raises:
        ValueError: the two sets were measured against different baselines (``baseline`` differs), so their
            candidates cannot be compared.
    """
    here = {row["candidate"] for row in rows}
    kept = [row for row in earlier if row["candidate"] not in here]
    baselines = {(row["metric"], row["baseline"]) for row in rows + kept}
    if len(baselines) > 1:
        shown = ", ".join(f"{metric} {value}" for metric, value in sorted(baselines, key=str))
        raise ValueError(
            f"the earlier candidates and these runs have different baselines ({shown}): train the same baseline "
            "(the same experiment and baseline.seed) or compare without --earlier"
        )
    return _in_order(rows + kept, order)


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (``None`` for fewer than 2 values)."""
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def summarise(rows: list[dict]) -> list[dict]:
    """Per candidate (in row order): ``n`` runs and mean / sample std of ``val``, ``test``, ``before``, ``sp2ps``,
    ``sp2ps_before`` and ``finetune_s``.

    A candidate with a run lacking ``val`` gets ``val_mean = None`` (it cannot be chosen)."""
    names = list(dict.fromkeys(r["candidate"] for r in rows))
    summary = []
    for name in names:
        group = [r for r in rows if r["candidate"] == name]
        entry: dict = {"candidate": name, "n": len(group)}
        for key in ("val", "test", "before", "sp2ps", "sp2ps_before", "finetune_s"):
            values = [r[key] for r in group]
            known = [v for v in values if v is not None]
            mean, std = _mean_std(known) if len(known) == len(values) else (None, None)
            entry[f"{key}_mean"], entry[f"{key}_std"] = mean, std
        summary.append(entry)
    return summary


def choose(summary: list[dict]) -> str:
    """The candidate with the highest mean validation quality (test figures play no part).

    Raises:
        ValueError: no candidate has validation figures for all its runs.
    """
    ranked = [entry for entry in summary if entry["val_mean"] is not None]
    if not ranked:
        raise ValueError(
            "no candidate has pruned.val_<metric> in every run: the data needs a validation split of its own "
            "(data.val_size > 0 for cifar10)"
        )
    best = max(entry["val_mean"] for entry in ranked)
    return next(entry["candidate"] for entry in ranked if entry["val_mean"] == best)


def write_csv(path: Path, rows: list[dict]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if row[key] is None else row[key] for key in FIELDS})


def _cell(mean: float | None, std: float | None, scale: float, digits: int) -> str:
    if mean is None:
        return "–"
    text = f"{mean * scale:.{digits}f}"
    return text + (f" ± {std * scale:.{digits}f}" if std is not None else "")


def table(summary: list[dict], metric: str) -> str:
    """The per-candidate Markdown table: validation and test quality in percent, fine-tune seconds."""
    lines = [
        f"| candidate | runs | val {metric} (%) | test {metric} (%) | fine-tune (s) |",
        "|---|---|---|---|---|",
    ]
    for e in summary:
        lines.append(
            f"| {e['candidate']} | {e['n']} | {_cell(e['val_mean'], e['val_std'], 100.0, 2)} | "
            f"{_cell(e['test_mean'], e['test_std'], 100.0, 2)} | "
            f"{_cell(e['finetune_s_mean'], e['finetune_s_std'], 1.0, 0)} |"
        )
    return "\n".join(lines)


def candidate_cells(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The RESULTS table from ``candidates.csv`` rows (strings, as ``csv.DictReader`` gives them): per candidate the
    runs, validation and test quality (%), the test quality's change from the baseline (points), the test quality and
    Sp2PS before the fine-tune, the final Sp2PS, the fine-tune seconds (mean ± sample std over seeds) and which one is
    chosen (highest mean validation quality)."""
    typed = [_typed(row) for row in rows]
    for row in typed:
        row["delta"] = (
            None if row["test"] is None or row["baseline"] is None else row["test"] - row["baseline"]
        )
    summary = summarise(typed)
    deltas = {
        name: _mean_std([r["delta"] for r in typed if r["candidate"] == name and r["delta"] is not None])
        for name in (entry["candidate"] for entry in summary)
    }
    winner = choose(summary)
    metric = typed[0]["metric"]
    header = [
        "candidate",
        "runs",
        f"val {metric} %",
        f"test {metric} %",
        f"Δ{metric} (points)",
        f"{metric} % before fine-tune",
        "Sp2PS before fine-tune",
        "Sp2PS",
        "fine-tune (s)",
        "chosen on val",
    ]
    body = [
        [
            e["candidate"],
            str(e["n"]),
            _cell(e["val_mean"], e["val_std"], 100.0, 2),
            _cell(e["test_mean"], e["test_std"], 100.0, 2),
            _cell(*deltas[e["candidate"]], 100.0, 2),
            _cell(e["before_mean"], e["before_std"], 100.0, 1),
            _cell(e["sp2ps_before_mean"], e["sp2ps_before_std"], 1.0, 3),
            _cell(e["sp2ps_mean"], e["sp2ps_std"], 1.0, 3),
            _cell(e["finetune_s_mean"], e["finetune_s_std"], 1.0, 0),
            "**yes**" if e["candidate"] == winner else "",
        ]
        for e in summary
    ]
    return header, body


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dir", nargs="?", default="outputs/finetune_strategy", type=Path)
    parser.add_argument("--out", default=HERE / "candidates.csv", type=Path)
    parser.add_argument(
        "--order",
        default=",".join(CANDIDATES),
        help="comma-separated candidate names, simplest first (ties on validation go to the earlier one)",
    )
    parser.add_argument(
        "--earlier",
        type=Path,
        help="a candidates.csv measured before against the same baseline: its candidates without a run under "
        "RUNS_DIR are kept (and compared)",
    )
    args = parser.parse_args(argv)
    order = [name for name in args.order.split(",") if name]
    rows = candidate_rows(args.runs_dir, order)
    if not rows:
        print(f"no completed runs under {args.runs_dir}/<candidate>/<job>/metrics.json", file=sys.stderr)
        return 1
    if args.earlier is not None:
        if not args.earlier.is_file():
            print(
                f"--earlier {args.earlier}: no such file (a candidates.csv this script wrote)",
                file=sys.stderr,
            )
            return 1
        try:
            rows = with_earlier(rows, read_candidates(args.earlier), order)
        except ValueError as error:
            print(f"--earlier {args.earlier}: {error}", file=sys.stderr)
            return 1
    write_csv(args.out, rows)
    summary = summarise(rows)
    metric = rows[0]["metric"]
    print(table(summary, metric))
    winner = choose(summary)
    print(f"\nchosen on validation (highest mean pruned.val_{metric} over seeds): {winner}")
    print(f"{len(rows)} runs -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
