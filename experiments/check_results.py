"""Re-derive every table of every study's RESULTS.md from the CSVs committed in that study's ``report/`` folder.

A table in ``experiments/<study>/RESULTS.md`` is either *generated*, between

    <!-- table: GENERATOR csv=report/results.csv [option=value ...] -->
    ...the generator's output: caption and table...
    <!-- /table -->

or *untraceable* (its numbers are in no committed CSV: to be re-run), between

    <!-- untraceable: why -->
    ...a clearly labelled note and the table as it was measured...
    <!-- /untraceable -->

A table outside both blocks is an error, and so is a pruning run in a study's ``report/**/results.csv`` without
``sp2ps.before_finetune``. A generated table may keep some cells that no CSV holds: ``keep="COLUMN,
..."`` keeps those columns' cells from the page (matched by the row's key cells), ``keep-rows="KEY,..."`` whole rows;
both are listed as untraceable in the output and must be labelled so in the table's caption (``note="..."``).

Generators (the rows are the CSV's completed runs, optionally filtered by ``scope=``, ``ratio=``, ``methods=``):

- ``baseline``: the shared baseline's test metrics and, for CamVid, its per-class IoU;
- ``methods``: one row per (method, target, ratio): params / FLOPs drop, quality, its change, Sp2PS, speed-up;
- ``variants names=a,b``: quality and the Sp2PS of the run and of each re-scored variant per (method, ratio);
- ``skipped names=a,b``: the share of Sp2PS pairs left out (both CAMs constant), per variant;
- ``parity``, ``demo_precision``, ``vgg_acceptance``, ``gpu_epochs``, ``gpu_steps``: the tables of
  ``experiments/training_speed/`` (its ``collect.py`` builds them from ``parity.csv``, ``demo_precision.csv``,
  ``vgg_acceptance.csv``, ``gpu_epochs.csv``, ``gpu_step_times.csv``);
- ``candidates``: the fine-tune strategy candidates of ``experiments/finetune_strategy/`` (its ``collect.py``
  builds the table from ``candidates.csv``);
- ``before``: per (method, ratio) quality and Sp2PS before the fine-tune and after it, and the runs without the
  before-fine-tune figures;
- ``timing``: per sweep (the runs' parent folder), runs, the sum and mean of ``time.total``, the wall time from the
  first ``run.started_at`` to the last ``run.finished_at``, and the shared baseline's fit time;
- ``correlations``: Spearman ρ across the pruning runs of the final quality with each before-fine-tune figure;
- ``speedups``: the re-timed speed-up table of ``study_speedups.py``: MAC ratio (baseline / pruned MACs) and n
  from the CSV; the speed-up column from ``timings=report/speedups.csv`` (``study_speedups.py --out``), or, for a
  study whose runs were re-timed before that file existed, kept from the page (``keep="speed-up ×"``).

Spread convention everywhere: mean ± sample standard deviation over seeds (n − 1); one seed: the value alone.

Usage: ``python experiments/check_results.py`` (check every study's RESULTS.md, a study being a folder of experiments/
with a ``report/`` folder; exit 1 naming file, table and differing cell),
``python experiments/check_results.py --write`` (rewrite the generated tables), ``[paths ...]`` to limit the files.
Only the standard library and the repository's one Markdown table builder are used, so the check takes well under
a second.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import re
import shlex
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

EXPERIMENTS = Path(__file__).resolve().parent
REPO = EXPERIMENTS.parent


def _load_module(relative: str) -> Any:
    """A pure module of ``src/prunescope/reporting/`` loaded from its file: importing it as a package module would
    import all of ``prunescope.reporting`` (torch, matplotlib: seconds) for a few pure functions."""
    path = REPO / "src" / "prunescope" / "reporting" / relative
    spec = importlib.util.spec_from_file_location(f"_prunescope_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


markdown_table = _load_module("markdown.py").markdown_table
spearman = _load_module("rank_correlation.py").spearman

# prunescope.data.camvid.CAMVID_CLASSES (importing it loads torch); the order of baseline.iou_per_class.
CAMVID_CLASSES = (
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Pavement",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
)
SPREAD_NOTE = "mean ± std over seeds (sample standard deviation, n − 1); a value without ± is one seed"
COLUMNS = (
    ("drop.params_pct", "params ↓%", 1.0, 1),
    ("drop.macs_pct", "FLOPs ↓%", 1.0, 1),
    ("pruned.{q}", "{Q} %", 100.0, 1),
    ("delta.{q}", "Δ{Q} (points)", 100.0, 1),
    ("sp2ps.score", "Sp2PS", 1.0, 3),
    ("speedup", "speed-up ×", 1.0, 2),
)
MARKER = re.compile(r"^<!--\s*(table|untraceable):\s*(.*?)\s*-->\s*$")
END = {
    "table": re.compile(r"^<!--\s*/table\s*-->\s*$"),
    "untraceable": re.compile(r"^<!--\s*/untraceable\s*-->\s*$"),
}


# ----------------------------------------------------------------------------------------------------- the rows
def csv_value(text: str) -> Any:
    """The value ``prunescope.reporting.csv_files.csv_cell`` wrote: empty → None, true/false, numbers, JSON lists."""
    if text == "":
        return None
    if text in ("true", "false"):
        return text == "true"
    if text[0] in "[{":
        return json.loads(text)
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The completed runs of a ``results.csv``, typed as the runs' ``metrics.json`` hold them."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [{key: csv_value(value) for key, value in row.items()} for row in csv.DictReader(handle)]
    return [
        row for row in rows if row.get("run.status", "completed") == "completed"
    ]  # runs; other CSVs: all rows


def mixes_scopes(rows: Sequence[Mapping[str, Any]]) -> bool:
    """As ``prunescope.reporting.summary.mixes_scopes``: more than one ``run.scope`` among the rows."""
    return len({row.get("run.scope") for row in rows}) > 1


def method_label(row: Mapping[str, Any], show_scope: bool = False) -> str:
    """As ``prunescope.reporting.summary.method_label``: ``l1``, ``l1 (local)``, ``levels 2 + l1``, ``levels 2``."""
    label = str(row.get("run.method") or "–")
    if show_scope:
        label += f" ({row.get('run.scope') or '–'})"
    layers = row.get("run.layers")
    if layers is None:
        return label
    return f"levels {layers} + {label}" if row.get("run.ratio") else f"levels {layers}"


def mixes_targets(rows: Sequence[Mapping[str, Any]], show_scope: bool = False) -> bool:
    """Whether runs of one method and ratio have different ``run.target`` s (``params`` and ``params+macs``): a
    table grouped by method and ratio then names the target too."""
    targets: dict[tuple[str, Any], set[Any]] = defaultdict(set)
    for row in rows:
        targets[(method_label(row, show_scope), row.get("run.ratio"))].add(row.get("run.target"))
    return any(len(found) > 1 for found in targets.values())


def mean_spread(values: Sequence[float], scale: float, digits: int) -> str:
    """``mean ± std`` (sample standard deviation over seeds) of ``values`` times ``scale``; one value: the value."""
    scaled = [v * scale for v in values]
    mean = statistics.fmean(scaled)
    if len(scaled) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(scaled):.{digits}f}"


# ------------------------------------------------------------------------------------------------ the generators
@dataclass
class Generated:
    """A generator's output: paragraphs above the table, the table, and how many leading columns key a row."""

    caption: list[str]
    header: list[str]
    body: list[list[str]]
    align: str
    key_columns: int = 1
    untraceable: list[str] = field(default_factory=list)


def baseline_table(
    rows: Sequence[Mapping[str, Any]], classes: Sequence[str] | None
) -> tuple[str, str | None]:
    """The shared baseline's test metrics (first row; a study's rows share one baseline) and its per-class IoU."""
    row = rows[0]
    q = row["quality.metric"]
    line = (
        f"Baseline (test): {q} {100 * row[f'baseline.{q}']:.1f} %"
        + (f", pixel accuracy {100 * row['baseline.pixel_acc']:.1f} %" if "baseline.pixel_acc" in row else "")
        + f", {row['baseline.params'] / 1e6:.2f} M params, {2 * row['baseline.macs'] / 1e9:.3f} GFLOPs"
    )
    per_class = row.get("baseline.iou_per_class")  # None for a class in neither masks nor predictions: "–"
    if not per_class:
        return line, None
    names = list(classes) if classes else [str(i) for i in range(len(per_class))]
    cells = ["–" if v is None else f"{100 * v:.1f}" for v in per_class]
    return line, markdown_table(names, [cells], "r" * len(names))


def method_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line per (method, scope, target, ratio, U-Net levels), mean ± std over seeds; the method names its scope
    (``l1 (local)``) when the rows hold more than one."""
    header, body, align = method_cells(rows)
    return markdown_table(header, body, align)


def method_cells(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]], str]:
    """Header, body and alignment of :func:`method_table`."""
    q = rows[0]["quality.metric"]
    show_scope = mixes_scopes(rows)
    groups: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(method_label(row, show_scope), row.get("run.target"), row["run.ratio"])].append(row)
    header = ["method", "target", "asked", *(title.format(Q=q) for _, title, _, _ in COLUMNS), "n (seeds)"]
    body = []
    for (method, target, ratio), group in sorted(groups.items(), key=lambda item: (item[0][2], item[0][0])):
        cells = [method, str(target), f"{100 * ratio:.1f} %"]
        for key, _, scale, digits in COLUMNS:
            values = [float(r[key.format(q=q)]) for r in group if r.get(key.format(q=q)) is not None]
            cells.append(mean_spread(values, scale, digits) if values else "–")
        seeds = sorted(r.get("run.seed") for r in group)
        cells.append(f"{len(group)} ({', '.join(str(s) for s in seeds)})")
        body.append(cells)
    return header, body, "ll" + "r" * (len(header) - 2)


def gen_baseline(rows: Sequence[Mapping[str, Any]], opts: Mapping[str, str]) -> Generated:
    line, per_class = baseline_table(rows, CAMVID_CLASSES if rows[0].get("run.data") == "camvid" else None)
    if per_class is None:
        return Generated([line], [], [], "")
    header, rule, cells = per_class.splitlines()
    del rule
    return Generated(
        [line],
        split_cells(header),
        [split_cells(cells)],
        "r" * len(split_cells(header)),
        key_columns=0,
    )


def gen_methods(rows: Sequence[Mapping[str, Any]], opts: Mapping[str, str]) -> Generated:
    header, body, align = method_cells(rows)
    return Generated([], header, body, align, key_columns=3)


def variant_cells(
    rows: Sequence[Mapping[str, Any]],
    names: Sequence[str],
    scores: Callable[[Mapping[str, Any]], Mapping[str, float | None]],
) -> tuple[list[str], list[list[str]]]:
    """Per (method, ratio): quality, its change, and the Sp2PS of the run and of each variant in ``names``, mean ±
    std over seeds (``–`` where no run has a score); ``scores(row)`` gives ``{"run": ..., name: ...}``."""
    q = rows[0]["quality.metric"]
    groups: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["run.method"], row["run.ratio"])].append(row)
    header = ["method", "ratio", f"{q} %", f"Δ{q} (points)", "Sp2PS (run)", *(f"Sp2PS {n}" for n in names)]
    body = []
    for (method, ratio), group in sorted(groups.items()):
        cells = [method, f"{100 * ratio:.0f} %"]
        for key in (f"pruned.{q}", f"delta.{q}"):
            cells.append(mean_spread([float(r[key]) for r in group], 100.0, 1))
        scored = [scores(r) for r in group]
        for name in ("run", *names):
            values = [float(v) for v in (s.get(name) for s in scored) if v is not None]
            cells.append(mean_spread(values, 1.0, 3) if values else "–")
        body.append(cells)
    return header, body


def gen_variants(rows: Sequence[Mapping[str, Any]], opts: Mapping[str, str]) -> Generated:
    """Per (method, ratio): quality, its change and the run's Sp2PS; one column per re-scored variant (``names``),
    whose cells no CSV holds (``keep`` them)."""
    names = [n for n in opts.get("names", "").split(",") if n]
    header, body = variant_cells(rows, names, lambda row: {"run": row.get("sp2ps.score")})
    return Generated([], header, body, "l" + "r" * (len(header) - 1), key_columns=2)


def gen_skipped(rows: Sequence[Mapping[str, Any]], opts: Mapping[str, str]) -> Generated:
    """Share of test images whose two CAMs were both constant (left out of Sp2PS), mean and range over all runs: the
    run's own score from the CSV; the re-scored variants (``names``) are in no CSV (``keep-rows`` them)."""
    names = [n for n in opts.get("names", "").split(",") if n]
    shares = [100 * r["sp2ps.skipped"] / (r["sp2ps.skipped"] + r["sp2ps.pairs"]) for r in rows]
    body = [["run", f"{statistics.fmean(shares):.1f}", f"{min(shares):.1f}–{max(shares):.1f}"]]
    body += [[name, "–", "–"] for name in names]
    return Generated([], ["Sp2PS variant", "pairs left out, mean %", "min–max %"], body, "lrr")


def gen_speedups(rows: Sequence[Mapping[str, Any]], opts: Mapping[str, Any]) -> Generated:
    """The table of ``study_speedups.py``: per (method, ratio) the MAC ratio (baseline / pruned MACs, mean over the
    group's runs) and n from the CSV; the re-timed speed-up (mean ± std over seeds) from the timings CSV that
    ``study_speedups.py --out`` wrote (``timings=report/speedups.csv``), else from no CSV (``keep="speed-up ×"``).
    Rows that mix pruning targets (``params`` and ``params+macs`` at one ratio) get a target column and one group
    per target."""
    show_scope = mixes_scopes(rows)
    show_target = mixes_targets(rows, show_scope)

    def group(row: Mapping[str, Any]) -> tuple[str, str, float]:
        target = str(row.get("run.target") or "–") if show_target else ""
        return method_label(row, show_scope), target, float(row["run.ratio"])

    groups: dict[tuple[str, str, float], list[float]] = defaultdict(list)
    for row in rows:
        groups[group(row)].append(row["baseline.macs"] / row["pruned.macs"])
    timed: dict[tuple[str, str, float], list[float]] = defaultdict(list)
    for row in opts.get("timings_rows", ()):
        timed[group(row)].append(float(row["speedup"]))
    body = [
        [
            method,
            *([target] if show_target else []),
            f"{100 * ratio:.1f} %",
            mean_spread(timed[(method, target, ratio)], 1.0, 2)
            if timed.get((method, target, ratio))
            else "–",
            f"{statistics.fmean(ratios):.2f}",
            str(len(ratios)),
        ]
        for (method, target, ratio), ratios in sorted(
            groups.items(), key=lambda item: (item[0][2], item[0][:2])
        )
    ]
    headers = ["method", *(["target"] if show_target else []), "ratio", "speed-up ×", "MAC ratio ×", "n"]
    align = "l" + ("l" if show_target else "") + "rrrr"
    return Generated([], headers, body, align, key_columns=3 if show_target else 2)


BEFORE_KEYS = ("quality.before_finetune", "sp2ps.before_finetune")
"""The figures of the pruned model before any fine-tune (``prunescope.reporting.correlations.PREDICTORS``)."""


def gen_before(rows: Sequence[Mapping[str, Any]], opts: Mapping[str, str]) -> Generated:
    """Per (method, target, ratio): quality and Sp2PS of the pruned model before the fine-tune and after it (mean ±
    std over seeds), and n. A run without a before-fine-tune figure shows in the ``without`` column."""
    q = rows[0]["quality.metric"]
    show_scope = mixes_scopes(rows)
    groups: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(method_label(row, show_scope), row.get("run.target"), row["run.ratio"])].append(row)
    columns = (
        ("quality.before_finetune", 100.0, 1),
        ("sp2ps.before_finetune", 1.0, 3),
        (f"pruned.{q}", 100.0, 1),
        ("sp2ps.score", 1.0, 3),
    )
    body = []
    for (method, target, ratio), group in sorted(groups.items(), key=lambda item: (item[0][2], item[0][0])):
        cells = [method, str(target), f"{100 * ratio:.1f} %"]
        for key, scale, digits in columns:
            values = [float(r[key]) for r in group if r.get(key) is not None]
            cells.append(mean_spread(values, scale, digits) if values else "–")
        missing = sum(1 for r in group if any(r.get(key) is None for key in BEFORE_KEYS))
        cells += [str(len(group)), str(missing)]
        body.append(cells)
    header = [
        "method",
        "target",
        "asked",
        f"{q} % before fine-tune",
        "Sp2PS before fine-tune",
        f"{q} % after",
        "Sp2PS after",
        "n (seeds)",
        "runs without",
    ]
    return Generated([], header, body, "ll" + "r" * (len(header) - 2), key_columns=3)


def gen_correlations(rows: Sequence[Mapping[str, Any]], opts: Mapping[str, str]) -> Generated:
    """Spearman ρ, across the pruning runs (methods × ratios × seeds), of the final quality with each
    before-fine-tune figure; n = runs with both (as ``prunescope.reporting.correlations``)."""
    q = rows[0]["quality.metric"]
    body = []
    for key in BEFORE_KEYS:
        pairs = [
            (float(r[key]), float(r[f"pruned.{q}"]))
            for r in rows
            if r.get(key) is not None and r.get(f"pruned.{q}") is not None
        ]
        rho = spearman([a for a, _ in pairs], [b for _, b in pairs])
        body.append([key, str(len(pairs)), "–" if rho is None else f"{rho:+.2f}"])
    header = [f"final {q} against", "n (runs)", "Spearman ρ"]
    return Generated([], header, body, "lrr")


def sweep_label(row: Mapping[str, Any]) -> str:
    """The sweep a run belongs to: its run dir's parent, from ``outputs/`` on (``segnet_camvid_r2/others``)."""
    parent = Path(str(row.get("run.output_dir") or "?")).parent.as_posix()
    return parent.split("/outputs/", 1)[-1]


def gen_timing(rows: Sequence[Mapping[str, Any]], opts: Mapping[str, str]) -> Generated:
    """Per sweep (the runs' parent folder): runs, the sum and the mean of their ``time.total``, the wall time from
    the first ``run.started_at`` to the last ``run.finished_at`` (``–`` for runs written before those existed), and
    the fit time of the baseline they shared (``run.baseline_train_seconds``)."""
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[sweep_label(row)].append(row)
    body = []
    for label, group in groups.items():
        totals = [float(r["time.total"]) for r in group if r.get("time.total") is not None]
        starts = [datetime.fromisoformat(r["run.started_at"]) for r in group if r.get("run.started_at")]
        ends = [datetime.fromisoformat(r["run.finished_at"]) for r in group if r.get("run.finished_at")]
        wall = (
            (max(ends) - min(starts)).total_seconds() / 60 if len(starts) == len(ends) == len(group) else None
        )
        fits = {float(r["run.baseline_train_seconds"]) for r in group if r.get("run.baseline_train_seconds")}
        body.append(
            [
                label,
                str(len(group)),
                f"{sum(totals) / 60:.1f}" if totals else "–",
                f"{statistics.fmean(totals) / 60:.1f}" if totals else "–",
                "–" if wall is None else f"{wall:.1f}",
                ", ".join(f"{fit / 60:.1f}" for fit in sorted(fits)) or "–",
            ]
        )
    header = ["sweep", "runs", "Σ time.total (min)", "per run (min)", "wall (min)", "baseline fit (min)"]
    return Generated([], header, body, "lrrrrr")


def _collect_table(
    folder: str, cells: str
) -> Callable[[Sequence[Mapping[str, Any]], Mapping[str, str]], Generated]:
    """A generator for a table of ``experiments/<folder>/collect.py`` (``cells`` names its function, which takes the
    CSV's rows)."""

    def generate(rows: Sequence[Mapping[str, Any]], opts: Mapping[str, str]) -> Generated:
        path = EXPERIMENTS / folder / "collect.py"
        spec = importlib.util.spec_from_file_location(f"_{folder}_collect", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        header, body = getattr(module, cells)([dict(r) for r in rows])
        return Generated([], header, body, "l" + "r" * (len(header) - 1))

    return generate


def _training_speed_table(
    cells: str,
) -> Callable[[Sequence[Mapping[str, Any]], Mapping[str, str]], Generated]:
    """A generator for a table of ``experiments/training_speed/collect.py`` (``cells`` names its function)."""
    return _collect_table("training_speed", cells)


GENERATORS: dict[str, Callable[[Sequence[Mapping[str, Any]], Mapping[str, str]], Generated]] = {
    "candidates": _collect_table("finetune_strategy", "candidate_cells"),
    "parity": _training_speed_table("parity_cells"),
    "demo_precision": _training_speed_table("demo_precision_cells"),
    "vgg_acceptance": _training_speed_table("vgg_acceptance_cells"),
    "gpu_epochs": _training_speed_table("gpu_epoch_cells"),
    "gpu_steps": _training_speed_table("gpu_step_cells"),
    "baseline": gen_baseline,
    "methods": gen_methods,
    "variants": gen_variants,
    "skipped": gen_skipped,
    "speedups": gen_speedups,
    "before": gen_before,
    "correlations": gen_correlations,
    "timing": gen_timing,
}
SPREAD_TABLES = ("methods", "variants", "skipped", "speedups", "before")
"""The generators whose cells aggregate seeds (their caption states the spread convention)."""
FILTER_OPTIONS = ("scope", "ratio", "methods", "study")
OPTIONS = {"csv", "timings", "note", "keep", "keep-rows", "names", *FILTER_OPTIONS}


def select(rows: Sequence[Mapping[str, Any]], opts: Mapping[str, str]) -> list[Mapping[str, Any]]:
    """The rows that pass the block's filters: ``scope=local``, ``ratio=0.724``, ``methods=pca_nci,l1`` and, for the
    training-speed tables, ``study=segnet_camvid``."""
    kept = list(rows)
    if "scope" in opts:
        kept = [r for r in kept if r.get("run.scope") == opts["scope"]]
    if "ratio" in opts:
        kept = [r for r in kept if abs(float(r["run.ratio"]) - float(opts["ratio"])) < 1e-9]
    if "methods" in opts:
        kept = [r for r in kept if r.get("run.method") in opts["methods"].split(",")]
    if "study" in opts:
        kept = [r for r in kept if r.get("study") == opts["study"]]
    return kept


# ---------------------------------------------------------------------------------------------- parsing the page
def split_cells(line: str) -> list[str]:
    """The cells of one Markdown table line (``| a | b |``)."""
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def is_table_line(line: str) -> bool:
    return line.lstrip().startswith("|")


@dataclass
class Block:
    """One marked block of a page: its kind, the marker's text, and the line range of its content."""

    kind: str
    spec: str
    start: int  # index of the marker line
    end: int  # index of the closing line

    def name(self) -> str:
        """The marker's text without its ``note=``: how the output names the table."""
        return re.sub(r'\s*note="[^"]*"', "", self.spec)


def find_blocks(lines: Sequence[str]) -> tuple[list[Block], list[str]]:
    """The page's marked blocks, and an error for every unclosed block and every table outside a block."""
    blocks: list[Block] = []
    errors: list[str] = []
    inside: Block | None = None
    for index, line in enumerate(lines):
        if inside is not None:
            if END[inside.kind].match(line):
                inside.end = index
                blocks.append(inside)
                inside = None
            elif MARKER.match(line):
                errors.append(
                    f"line {index + 1}: a marker inside the block opened on line {inside.start + 1}"
                )
            continue
        match = MARKER.match(line)
        if match:
            inside = Block(match.group(1), match.group(2), index, -1)
        elif is_table_line(line) and (index == 0 or not is_table_line(lines[index - 1])):
            errors.append(
                f"line {index + 1}: a table outside any <!-- table: ... --> or <!-- untraceable: ... --> block "
                f"({line.strip()[:60]})"
            )
    if inside is not None:
        errors.append(f"line {inside.start + 1}: <!-- {inside.kind}: {inside.spec} --> is never closed")
    return blocks, errors


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``methods csv=report/results.csv scope=local`` → ``("methods", {"csv": ..., "scope": "local"})``."""
    words = shlex.split(spec)
    if not words:
        raise ValueError("an empty table marker")
    opts = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or key not in OPTIONS:
            raise ValueError(f"unknown option {word!r} (known: {', '.join(sorted(OPTIONS))})")
        opts[key] = value
    if words[0] not in GENERATORS:
        raise ValueError(f"unknown generator {words[0]!r} (known: {', '.join(GENERATORS)})")
    if "csv" not in opts:
        raise ValueError("the marker names no csv=")
    return words[0], opts


def page_table(content: Sequence[str]) -> tuple[list[str], list[list[str]]] | None:
    """Header and body of the (first) table in a block's content lines, or None."""
    table = [line for line in content if is_table_line(line)]
    if len(table) < 2:
        return None
    return split_cells(table[0]), [split_cells(line) for line in table[2:]]


def render(study: Path, spec: str, content: Sequence[str]) -> tuple[str, list[str]]:
    """The block's content as its generator writes it, with the kept cells taken from ``content``; and a line per
    kept (untraceable) column or row."""
    name, opts = parse_spec(spec)
    csv_path = study / opts["csv"]
    if not csv_path.is_file():
        raise ValueError(f"{opts['csv']} is not in {study.name}/")
    rows = select(read_rows(csv_path), opts)
    if not rows:
        raise ValueError(f"no completed run in {opts['csv']} passes the filters")
    if "timings" in opts:  # the speedups table's second CSV (study_speedups.py --out)
        timings_path = study / opts["timings"]
        if not timings_path.is_file():
            raise ValueError(f"{opts['timings']} is not in {study.name}/")
        generated = GENERATORS[name](rows, {**opts, "timings_rows": select(read_rows(timings_path), opts)})
    else:
        generated = GENERATORS[name](rows, opts)
    keep = [c for c in opts.get("keep", "").split(",") if c]
    keep_rows = [r for r in opts.get("keep-rows", "").split(",") if r]
    untraceable = []
    for column in keep:
        if column not in generated.header:
            raise ValueError(f"keep={column!r} is not a column of the table")
    if keep or keep_rows:
        existing = page_table(content)
        old: dict[tuple[str, ...], dict[str, str]] = {}
        if existing is not None:
            old_header, old_body = existing
            for cells in old_body:
                old[tuple(cells[: generated.key_columns])] = dict(zip(old_header, cells, strict=False))
        for cells in generated.body:
            previous = old.get(tuple(cells[: generated.key_columns]), {})
            for i, column in enumerate(generated.header):
                kept_row = cells[0] in keep_rows and i >= generated.key_columns
                if column in keep or kept_row:
                    cells[i] = previous.get(column, "–")
        if keep:
            untraceable.append(f"column(s) {', '.join(keep)}")
        if keep_rows:
            untraceable.append(f"row(s) {', '.join(keep_rows)}")
    csv_name = os.path.normpath(
        f"{study.name}/{opts['csv']}"
    )  # ../training_speed/parity.csv: training_speed/...
    if "timings" in opts:
        timings_name = os.path.normpath(f"{study.name}/{opts['timings']}")
        csv_name += f"` and `{timings_name}"
    source = f"Generated from `{csv_name}` by `experiments/check_results.py`"
    if name == "baseline":
        caption = [
            f"{generated.caption[0]} ({source}{'; per-class test IoU %' if generated.header else ''}):"
        ]
    else:
        caption = [*generated.caption, f"{source}; {SPREAD_NOTE}." if name in SPREAD_TABLES else f"{source}."]
    if "note" in opts:
        caption[-1] += " " + opts["note"]
    parts = ["\n".join(caption)]
    if generated.header:
        parts.append(markdown_table(generated.header, generated.body, generated.align))
    return "\n\n".join(parts), untraceable


# ------------------------------------------------------------------------------------------------ check / write
@dataclass
class Outcome:
    errors: list[str] = field(default_factory=list)
    untraceable: list[str] = field(default_factory=list)
    generated: int = 0
    written: list[str] = field(default_factory=list)


def describe_difference(expected: str, found: str) -> str:
    """The first differing cell (column title, row key, expected, found), or the first differing line."""
    exp_lines, found_lines = expected.splitlines(), found.splitlines()
    exp_table, found_table = page_table(exp_lines), page_table(found_lines)
    if exp_table and found_table:
        (exp_header, exp_body), (found_header, found_body) = exp_table, found_table
        if exp_header != found_header:
            return f"header: expected {exp_header}, found {found_header}"
        if len(exp_body) != len(found_body):
            return f"{len(found_body)} rows on the page, {len(exp_body)} generated"
        for exp_row, found_row in zip(exp_body, found_body, strict=True):
            for column, exp_cell, found_cell in zip(
                exp_header, exp_row, found_row + [""] * len(exp_row), strict=False
            ):
                if exp_cell != found_cell:
                    return f"row {exp_row[0]!r} ({' | '.join(exp_row[1:3])}), column {column!r}: expected {exp_cell!r}, found {found_cell!r}"
    for number, (exp_line, found_line) in enumerate(zip(exp_lines, found_lines, strict=False), start=1):
        if exp_line != found_line:
            return f"line {number} of the block: expected {exp_line!r}, found {found_line!r}"
    return f"the block has {len(found_lines)} lines, {len(exp_lines)} generated"


def runs_without_before_finetune(study: Path) -> list[str]:
    """One line per report CSV of a study with pruning runs (``run.method`` set, not ``none``) that lack
    ``sp2ps.before_finetune``: issue #27 asks every pruning run for the pruned model's Sp2PS before fine-tuning."""
    lines = []
    for path in sorted((study / "report").rglob("results.csv")):
        missing = [
            f"{method_label(row, show_scope=True)} ratio {row.get('run.ratio')} seed {row.get('run.seed')}"
            for row in read_rows(path)
            if row.get("run.method") not in (None, "none") and row.get("sp2ps.before_finetune") is None
        ]
        if missing:
            lines.append(
                f"{path.relative_to(study)}: {len(missing)} pruning run(s) without sp2ps.before_finetune "
                f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}): run them again"
            )
    return lines


def process(page: Path, write: bool, outcome: Outcome) -> None:
    """Check (or rewrite) the generated blocks of one RESULTS.md; collect errors and untraceable blocks."""
    lines = page.read_text(encoding="utf-8").splitlines()
    label = page.relative_to(REPO) if page.is_relative_to(REPO) else page
    blocks, errors = find_blocks(lines)
    outcome.errors += [f"{label}: {error}" for error in errors]
    outcome.errors += [f"{label.parent}/{line}" for line in runs_without_before_finetune(page.parent)]
    replacements: list[tuple[Block, list[str]]] = []
    for block in blocks:
        content = lines[block.start + 1 : block.end]
        if block.kind == "untraceable":
            outcome.untraceable.append(f"{label}:{block.start + 1}: whole table(s), {block.spec}")
            continue
        try:
            expected, kept = render(page.parent, block.spec, content)
        except (ValueError, KeyError) as error:
            outcome.errors.append(f"{label}:{block.start + 1}: table '{block.name()}': {error}")
            continue
        outcome.generated += 1
        outcome.untraceable += [f"{label}:{block.start + 1}: table '{block.name()}': {k}" for k in kept]
        found = "\n".join(content).strip("\n")
        if found != expected:
            if write:
                replacements.append((block, expected.splitlines()))
            else:
                outcome.errors.append(
                    f"{label}:{block.start + 1}: table '{block.name()}' differs from its CSV: "
                    + describe_difference(expected, found)
                )
    if replacements:
        for block, new in sorted(replacements, key=lambda item: -item[0].start):
            lines[block.start + 1 : block.end] = new
        page.write_text("\n".join(lines) + "\n", encoding="utf-8")
        outcome.written.append(str(label))


def study_pages() -> list[Path]:
    """The RESULTS.md of every study: a folder of experiments/ with a ``report/`` folder, or whose RESULTS.md has a
    generated table (training_speed/)."""
    return sorted(
        path
        for path in EXPERIMENTS.glob("*/RESULTS.md")
        if (path.parent / "report").is_dir() or "<!-- table:" in path.read_text(encoding="utf-8")
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Check (default) or write the tables; returns 1 on any difference or unmarked table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "pages", nargs="*", type=Path, help="RESULTS.md files (default: every study's, see study_pages)"
    )
    parser.add_argument("--write", action="store_true", help="rewrite the generated tables from their CSVs")
    args = parser.parse_args(argv)
    pages = [p.resolve() for p in args.pages] or study_pages()
    outcome = Outcome()
    for page in pages:
        process(page, args.write, outcome)
    for line in outcome.untraceable:
        print(f"untraceable (not in a committed CSV; to be re-run): {line}")
    for path in outcome.written:
        print(f"wrote {path}")
    for error in outcome.errors:
        print(f"error: {error}", file=sys.stderr)
    print(
        f"{len(pages)} RESULTS.md, {outcome.generated} generated tables, {len(outcome.untraceable)} untraceable, "
        f"{len(outcome.errors)} errors"
    )
    return 1 if outcome.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
