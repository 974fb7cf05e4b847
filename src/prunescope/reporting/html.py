"""``report.html``: one self-contained page per sweep (inline images, CSS and JS; no network, no other files).

Per (model, data): the summary table (mean ± std over seeds, baseline first), the runs table (one row per job plus
the baseline, failed jobs included), the plots, per-class IoU and per-class Sp2PS as heat-map tables (baseline and
every method × ratio, means over seeds), and one block per job with its status, error, config overrides and CAM
grid. Failed jobs without a model or dataset are listed at the end. Every table sorts by any column on a click
(numbers by value, missing values last); the baseline row stays on top. Overrides, class names and CAM grids come
from a :class:`~prunescope.reporting.run_files.RunFiles` source: the job folders, or a committed report folder
whose notes, at the top of the page, say what it cannot show.
"""

from __future__ import annotations

import html
import os
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matplotlib import colormaps

from prunescope.reporting import run_files
from prunescope.reporting.collect import is_completed
from prunescope.reporting.inline_images import figure_uri, grid_uri
from prunescope.reporting.plots import (
    PARETO_PLOTS,
    PLOTS,
    pareto_figure,
    plot_panel_figure,
)
from prunescope.reporting.run_files import JobFolders, RunFiles
from prunescope.reporting.summary import (
    GROUP_KEYS,
    TABLE_KEYS,
    as_number,
    group_by,
    mean_std,
    method_label,
    mixes_scopes,
)
from prunescope.reporting.tables import QUALITY_NAMES

REPORT_FILENAME = "report.html"
MISSING = "–"
HEAT_MAP = colormaps["viridis"]
PLOT_TITLES = {
    "sp2ps_vs_ratio": "Sp2PS vs. pruning ratio",
    "quality_vs_ratio": "Quality vs. pruning ratio",
    "quality_vs_macs": "Quality vs. MACs (Pareto front marked)",
    "quality_vs_params": "Quality vs. parameters (Pareto front marked)",
    "quality_vs_sp2ps": "Quality vs. Sp2PS",
    "flops_drop_vs_quality": "FLOPs drop vs. quality",
}


@dataclass(frozen=True)
class _Page:
    """What every part of one page shares: where runs' files are read, each run's anchor (unique on the page)."""

    files: RunFiles
    anchors: Mapping[int, str]

    def anchor(self, row: Mapping[str, Any]) -> str:
        return self.anchors[id(row)]


@dataclass(frozen=True)
class Cell:
    """One table cell: the text shown, the value it sorts by (None sorts last), extra inline style."""

    text: str
    value: float | str | None = None
    style: str = ""


def _number(value: Any, scale: float = 1.0, decimals: int = 2) -> Cell:
    number = as_number(value)
    if number is None:
        return Cell(MISSING)
    return Cell(f"{number * scale:.{decimals}f}", number * scale)


def _mean_std_cell(row: Mapping[str, Any], key: str, scale: float = 1.0, decimals: int = 2) -> Cell:
    mean = as_number(row.get(f"{key}.mean"))
    if mean is None:
        return Cell(MISSING)
    text = f"{mean * scale:.{decimals}f}"
    std = as_number(row.get(f"{key}.std"))
    if std is not None:
        text += f" ± {std * scale:.{decimals}f}"
    return Cell(text, mean * scale)


def _text(value: Any) -> Cell:
    return Cell(MISSING) if value is None else Cell(html.escape(str(value)), str(value))


def _slug(*parts: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", "-".join(str(p) for p in parts)).strip("-") or "x"


def _table(
    table_id: str, header: Sequence[str], pinned: Sequence[Sequence[Cell]], body: Sequence[Sequence[Cell]]
) -> str:
    """A sortable table: ``pinned`` rows (the baseline) in their own tbody, ``body`` rows sorted on a click."""

    def cells(row: Sequence[Cell]) -> str:
        out = []
        for cell in row:
            attrs = ""
            if cell.value is not None:
                attrs += f' data-value="{html.escape(str(cell.value), quote=True)}"'
            if cell.style:
                attrs += f' style="{cell.style}"'
            out.append(f"<td{attrs}>{cell.text}</td>")
        return "<tr>" + "".join(out) + "</tr>"

    head = "".join(f'<th scope="col" aria-sort="none">{html.escape(h)}</th>' for h in header)
    parts = [f'<table class="sortable" id="{table_id}"><thead><tr>{head}</tr></thead>']
    if pinned:
        parts.append('<tbody class="pinned">' + "".join(cells(r) for r in pinned) + "</tbody>")
    parts.append('<tbody class="rows">' + "".join(cells(r) for r in body) + "</tbody></table>")
    return "".join(parts)


def _heat_cell(value: float | None) -> Cell:
    if value is None:
        return Cell(MISSING)
    red, green, blue, _ = HEAT_MAP(min(max(value, 0.0), 1.0))
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    colour = f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"
    text_colour = "#000" if luminance > 0.5 else "#fff"
    return Cell(f"{value:.3f}", value, f"background:{colour};color:{text_colour}")


def _group_label(row: Mapping[str, Any], show_scope: bool) -> str:
    return html.escape(method_label(row, show_scope))


def _ratio(value: Any) -> Cell:
    number = as_number(value)
    return Cell(f"{number:g}", number) if number is not None else _text(value)


def _summary_table(
    table_id: str, group: Sequence[Mapping[str, Any]], base: Mapping[str, Any] | None, metric: str
) -> str:
    name = QUALITY_NAMES.get(metric, metric)
    show_scope = mixes_scopes(group)
    header = [
        "Method",
        "Ratio",
        "n",
        "Params (M)",
        "Params ↓%",
        "MACs (M)",
        "MACs ↓%",
        f"{name} %",
        f"Δ {name} (points)",
        "Sp2PS",
        "Spatial",
        "Spectral",
        "Speed-up ×",
    ]
    pinned = []
    if base is not None:
        pinned.append(
            [
                Cell("Baseline"),
                Cell(MISSING),
                Cell(str(base["n"]), base["n"]),
                _mean_std_cell(base, "baseline.params", 1e-6, 3),
                Cell(MISSING),
                _mean_std_cell(base, "baseline.macs", 1e-6),
                Cell(MISSING),
                _mean_std_cell(base, f"baseline.{metric}", 100.0),
                Cell(MISSING),
                Cell(MISSING),
                Cell(MISSING),
                Cell(MISSING),
                Cell("1.00", 1.0),
            ]
        )
    body = [
        [
            Cell(_group_label(row, show_scope), str(row.get("run.method"))),
            _ratio(row.get("run.ratio")),
            Cell(str(row["n"]), row["n"]),
            _mean_std_cell(row, "pruned.params", 1e-6, 3),
            _mean_std_cell(row, "drop.params_pct", 1.0, 1),
            _mean_std_cell(row, "pruned.macs", 1e-6),
            _mean_std_cell(row, "drop.macs_pct", 1.0, 1),
            _mean_std_cell(row, f"pruned.{metric}", 100.0),
            _mean_std_cell(row, f"delta.{metric}", 100.0),
            _mean_std_cell(row, "sp2ps.score", 1.0, 3),
            _mean_std_cell(row, "sp2ps.spatial", 1.0, 3),
            _mean_std_cell(row, "sp2ps.spectral", 1.0, 3),
            _mean_std_cell(row, "speedup"),
        ]
        for row in group
    ]
    return _table(table_id, header, pinned, body)


def _run_id(row: Mapping[str, Any]) -> str:
    folder = run_files.run_folder(row)
    name = row.get("run.name")
    return "run-" + _slug("" if name is None else name, folder.name if folder is not None else "")


def _anchors(rows: Sequence[Mapping[str, Any]]) -> dict[int, str]:
    """Each row's anchor, by ``id(row)``: :func:`_run_id`, then ``-2``, ``-3``... for the runs of several sweeps
    that share a job name and folder name (``headline/0``, ``classic/0``)."""
    anchors: dict[int, str] = {}
    taken: set[str] = set()
    for row in rows:
        anchor, count = _run_id(row), 1
        while anchor in taken:
            count += 1
            anchor = f"{_run_id(row)}-{count}"
        taken.add(anchor)
        anchors[id(row)] = anchor
    return anchors


def _runs_table(
    table_id: str,
    runs: Sequence[Mapping[str, Any]],
    base: Mapping[str, Any] | None,
    metric: str,
    page: _Page,
) -> str:
    name = QUALITY_NAMES.get(metric, metric)
    header = [
        "Run",
        "Method",
        "Scope",
        "Ratio",
        "Seed",
        "Status",
        "Params (M)",
        "MACs (M)",
        f"{name} %",
        f"Δ {name}",
        "Sp2PS",
        "Spatial",
        "Spectral",
        "Pairs",
        "Speed-up ×",
        "Time (s)",
    ]
    pinned = []
    if base is not None:
        pinned.append(
            [
                Cell(f"Baseline (mean of {base['n']} seed{'s' if base['n'] != 1 else ''})"),
                *[Cell(MISSING)] * 4,
                Cell("completed"),
                _mean_std_cell(base, "baseline.params", 1e-6, 3),
                _mean_std_cell(base, "baseline.macs", 1e-6),
                _mean_std_cell(base, f"baseline.{metric}", 100.0),
                *[Cell(MISSING)] * 5,
                Cell("1.00", 1.0),
                Cell(MISSING),
            ]
        )
    body = []
    for row in runs:
        name = row.get("run.name")
        run_name = html.escape(MISSING if name is None else str(name))
        status = str(row.get("run.status"))
        body.append(
            [
                Cell(f'<a href="#{page.anchor(row)}">{run_name}</a>', run_name),
                Cell(html.escape(method_label(row)), str(row.get("run.method"))),
                _text(row.get("run.scope")),
                _ratio(row.get("run.ratio")),
                _number(row.get("run.seed"), decimals=0),
                Cell(f'<span class="status-{_slug(status)}">{html.escape(status)}</span>', status),
                _number(row.get("pruned.params"), 1e-6, 3),
                _number(row.get("pruned.macs"), 1e-6),
                _number(row.get(f"pruned.{metric}"), 100.0),
                _number(row.get(f"delta.{metric}"), 100.0),
                _number(row.get("sp2ps.score"), decimals=3),
                _number(row.get("sp2ps.spatial"), decimals=3),
                _number(row.get("sp2ps.spectral"), decimals=3),
                _number(row.get("sp2ps.pairs"), decimals=0),
                _number(row.get("speedup")),
                _number(row.get("time.total"), decimals=1),
            ]
        )
    return _table(table_id, header, pinned, body)


def _mean_lists(lists: Sequence[Sequence[Any]]) -> list[float | None]:
    """Element-wise mean of per-class lists (missing or non-numeric entries left out)."""
    width = max((len(values) for values in lists), default=0)
    out: list[float | None] = []
    for index in range(width):
        column = [
            n for values in lists if index < len(values) and (n := as_number(values[index])) is not None
        ]
        out.append(mean_std(column)[0] if column else None)
    return out


def _per_class_tables(
    slug: str,
    completed: Sequence[Mapping[str, Any]],
    names: Sequence[str] | None,
) -> str:
    """Per-class IoU (baseline + each method × ratio) and per-class Sp2PS heat maps; means over seeds."""
    show_scope = mixes_scopes(completed)
    groups = group_by(completed, GROUP_KEYS)
    baseline_iou = _mean_lists(
        [
            seed_rows[0].get("baseline.iou_per_class") or []
            for seed_rows in group_by(completed, ("run.seed",)).values()
        ]
    )
    pruned_iou = {
        key: _mean_lists([row.get("pruned.iou_per_class") or [] for row in rows])
        for key, rows in groups.items()
    }
    sp2ps: dict[tuple, dict[int, float]] = {}
    for key, rows in groups.items():
        per_class: dict[int, list[float]] = {}
        for row in rows:
            for name, value in row.items():
                match = re.fullmatch(r"sp2ps\.per_class\.(\d+)", name)
                if match and (number := as_number(value)) is not None:
                    per_class.setdefault(int(match.group(1)), []).append(number)
        if per_class:
            sp2ps[key] = {c: statistics.fmean(v) for c, v in per_class.items()}
    count = max([len(baseline_iou), *(len(v) for v in pruned_iou.values())], default=0)
    sp2ps_classes = sorted({c for values in sp2ps.values() for c in values})
    count = max(count, (sp2ps_classes[-1] + 1) if sp2ps_classes else 0)
    if count == 0:
        return ""

    def header(first: str) -> list[str]:
        return [first, "Ratio"] + [
            names[c] if names is not None and c < len(names) else str(c) for c in range(count)
        ]

    def label(key: tuple) -> list[Cell]:
        row = dict(zip(GROUP_KEYS, key, strict=True))
        return [Cell(_group_label(row, show_scope), str(row.get("run.method"))), _ratio(row.get("run.ratio"))]

    parts = []
    has_baseline = any(v is not None for v in baseline_iou)
    if has_baseline or any(v is not None for values in pruned_iou.values() for v in values):

        def iou_row(values: list[float | None]) -> list[Cell]:
            return [_heat_cell(values[c] if c < len(values) else None) for c in range(count)]

        pinned = [[Cell("Baseline"), Cell(MISSING), *iou_row(baseline_iou)]] if has_baseline else []
        body = [[*label(key), *iou_row(values)] for key, values in pruned_iou.items() if values]
        parts.append("<h3>Per-class IoU (mean over seeds)</h3>")
        parts.append(_table(f"iou-{slug}", header("Method"), pinned, body))
    if sp2ps:
        body = [
            [*label(key), *(_heat_cell(values.get(c)) for c in range(count))] for key, values in sp2ps.items()
        ]
        parts.append("<h3>Per-class Sp2PS (mean over seeds)</h3>")
        parts.append(_table(f"sp2ps-class-{slug}", header("Method"), [], body))
    return "".join(parts)


def _plots(group: Sequence[Mapping[str, Any]], base: Mapping[str, Any] | None, table: tuple) -> str:
    baselines = {table: base} if base is not None else {}
    figures = {name: plot_panel_figure(group, x, y, baselines) for name, (x, y) in PLOTS.items()}
    figures.update({name: pareto_figure(group, axis, baselines) for name, axis in PARETO_PLOTS.items()})
    items = []
    for name, title in PLOT_TITLES.items():
        figure = figures.get(name)
        if figure is not None:
            items.append(
                f'<figure><img alt="{title}" src="{figure_uri(figure)}"><figcaption>{title}</figcaption></figure>'
            )
    return '<div class="plots">' + "".join(items) + "</div>" if items else ""


def _run_details(row: Mapping[str, Any], page: _Page) -> str:
    folder = run_files.run_folder(row)
    status = str(row.get("run.status"))
    name = row.get("run.name")
    title = html.escape(str(name) if name is not None else folder.name if folder is not None else MISSING)
    facts = [f'<dt>status</dt><dd class="status-{_slug(status)}">{html.escape(status)}</dd>']
    if folder is not None:
        facts.append(f"<dt>folder</dt><dd><code>{html.escape(str(folder))}</code></dd>")
    for key, label in (("sp2ps.score", "Sp2PS"), ("sp2ps.pairs", "pairs"), ("sp2ps.skipped", "skipped")):
        value = row.get(key)
        if value is not None:
            text = f"{value:.4f}" if isinstance(value, float) else str(value)
            facts.append(f"<dt>{label}</dt><dd>{html.escape(text)}</dd>")
    known = []  # "l1", "l1 (local)" or "levels 2 + l1", then ratio and seed
    if row.get("run.method") is not None:
        known.append(method_label(row, show_scope=row.get("run.scope") not in (None, "global")))
    known += [
        f"{label}{row[key]}"
        for key, label in (("run.ratio", "ratio "), ("run.seed", "seed "))
        if row.get(key) is not None
    ]
    identity = html.escape(" ".join(known))
    summary = (
        f"{title} · {identity} — {html.escape(status)}" if identity else f"{title} — {html.escape(status)}"
    )
    parts = [f'<details class="run" id="{page.anchor(row)}"><summary>{summary}</summary>']
    parts.append("<dl>" + "".join(facts) + "</dl>")
    if not is_completed(row):
        error = str(row.get("run.error") or "no error recorded")
        parts.append(f'<pre class="error">{html.escape(error)}</pre>')
    overrides = page.files.overrides(row)
    if overrides is not None:
        parts.append(
            "<p>Overrides:</p><pre>"
            + (html.escape("\n".join(overrides)) if overrides else "(none recorded)")
            + "</pre>"
        )
    grid = page.files.cam_grid(row)
    if grid is not None:
        parts.append(f'<img class="cam-grid" alt="CAM grid of {title}" src="{grid_uri(grid)}">')
    parts.append("</details>")
    return "".join(parts)


def _failed_section(rows: Sequence[Mapping[str, Any]], page: _Page) -> str:
    failed = [row for row in rows if not is_completed(row)]
    if not failed:
        return '<section id="failed"><h2>Failed runs</h2><p>None.</p></section>'
    header = ["Run", "Model", "Data", "Method", "Ratio", "Seed", "Error"]
    body = [
        [
            Cell(f'<a href="#{page.anchor(row)}">{html.escape(str(row.get("run.name")))}</a>'),
            _text(row.get("run.model")),
            _text(row.get("run.data")),
            _text(row.get("run.method")),
            _ratio(row.get("run.ratio")),
            _number(row.get("run.seed"), decimals=0),
            Cell(f"<pre>{html.escape(str(row.get('run.error') or 'no error recorded'))}</pre>"),
        ]
        for row in failed
    ]
    orphans = [row for row in failed if any(row.get(key) is None for key in TABLE_KEYS)]
    details = "".join(_run_details(row, page) for row in orphans)
    table = _table("failed-runs", header, [], body)
    return f'<section id="failed"><h2>Failed runs</h2>{table}{details}</section>'


def _section(
    table: tuple,
    runs: Sequence[Mapping[str, Any]],
    group: Sequence[Mapping[str, Any]],
    base: Mapping[str, Any] | None,
    page: _Page,
) -> str:
    model, data = table
    slug = _slug(model, data)
    metric = group[0]["quality.metric"] if group else (base or {}).get("quality.metric", "miou")
    completed = [row for row in runs if is_completed(row)]
    names = next((n for row in runs if (n := page.files.class_names(row)) is not None), None)
    parts = [
        f'<section class="table" id="{slug}"><h2>{html.escape(str(model))} on {html.escape(str(data))}</h2>',
        "<h3>Summary (mean ± sample std over seeds)</h3>",
        _summary_table(f"summary-{slug}", group, base, metric),
        "<h3>Runs</h3>",
        _runs_table(f"runs-{slug}", runs, base, metric, page),
        "<h3>Plots</h3>",
        _plots(group, base, table),
        _per_class_tables(slug, completed, names),
        "<h3>Each run: status, overrides, CAM grid</h3>",
        "".join(_run_details(row, page) for row in runs),
        "</section>",
    ]
    return "".join(parts)


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:.5em 0 1.2em;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right;white-space:nowrap}
td:first-child,th:first-child{text-align:left}
th{background:#f0f0f0;cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
tbody.pinned td{background:#fff8dc;font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:1em}.plots img{max-width:560px}
figure{margin:0}figcaption{font-size:.85em;color:#555}
details.run{border:1px solid #ddd;margin:.4em 0;padding:.3em .6em}
details.run dl{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;font-size:.85em}
details.run dd{margin:0}pre{background:#f6f6f6;padding:.4em;white-space:pre-wrap;font-size:.8em}
ul.notes{background:#f4f8ff;border-left:3px solid #6b8fd6;padding:.4em 1.8em;font-size:.9em}
.status-failed,pre.error{color:#b00020}.status-completed{color:#1b5e20}
img.cam-grid{max-width:100%;display:block}
"""

SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("thead th").forEach(function (other) { other.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.querySelector("tbody.rows");
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[column];
        var value = cell ? cell.getAttribute("data-value") : null;
        if (value === null) { return null; }
        var number = Number(value);
        return isNaN(number) ? value : number;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) { return (x === null) - (y === null); }
        var order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def render_html(
    rows: Sequence[Mapping[str, Any]],
    summary: Sequence[Mapping[str, Any]],
    baselines: Mapping[tuple, Mapping[str, Any]],
    title: str = "PruneScope report",
    files: RunFiles | None = None,
) -> str:
    """The report page.

    Args:
        rows: job rows from :func:`prunescope.reporting.collect_runs` (failed jobs included).
        summary: :func:`prunescope.reporting.summarize` of ``rows``.
        baselines: :func:`prunescope.reporting.summarize_baselines` of ``rows``.
        title: page title.
        files: where each run's overrides, class names and CAM grid are read (default: its job folder); its
            notes are listed under the page's opening line.
    """
    page = _Page(files if files is not None else JobFolders(), _anchors(rows))
    runs_by_table = group_by([r for r in rows if all(r.get(k) is not None for k in TABLE_KEYS)], TABLE_KEYS)
    summary_by_table = group_by(summary, TABLE_KEYS)
    failed = sum(not is_completed(row) for row in rows)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(
        f'<li><a href="#{_slug(*table)}">{html.escape(str(table[0]))} on {html.escape(str(table[1]))}</a></li>'
        for table in runs_by_table
    )
    sections = "".join(
        _section(table, runs, summary_by_table.get(table, []), baselines.get(table), page)
        for table, runs in runs_by_table.items()
    )
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in page.files.notes(rows))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>{len(rows)} runs ({failed} failed), written {stamp}. Quality in %, Δ in points against the baseline; "
        "click a column header to sort. CAM grids: this run's lowest, median and highest Sp2PS pairs, then one "
        "fixed pair per class, the same in every run of a seed.</p>"
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
        + f'<nav><ul>{nav}<li><a href="#failed">Failed runs</a></li></ul></nav>'
        f"{sections}{_failed_section(rows, page)}<script>{SCRIPT}</script></body></html>"
    )


def write_html_report(
    rows: Sequence[Mapping[str, Any]],
    summary: Sequence[Mapping[str, Any]],
    baselines: Mapping[tuple, Mapping[str, Any]],
    path: str | os.PathLike[str],
    files: RunFiles | None = None,
) -> Path:
    """Write :func:`render_html` to ``path`` (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(rows, summary, baselines, files=files), encoding="utf-8")
    return path
