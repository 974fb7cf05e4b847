"""Paper-style result tables (Markdown and LaTeX): one table per (model, data), best per column in bold.

Columns: Method | Ratio | Params (M, ↓%) | FLOPs (G, ↓%) | mIoU or Acc in % (Δ in points) | Sp2PS | Speed-up | n.
Every cell is the mean over seeds, with ± the sample std when n > 1. FLOPs = 2·MACs. The baseline row (mean over
seeds of each seed's baseline) is shown first and never marked best. Best = lowest params/FLOPs, highest
quality/Sp2PS/speed-up. Failed jobs are listed in their own section.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prunescope.reporting import run_files
from prunescope.reporting.collect import is_completed
from prunescope.reporting.correlations import correlation_lines, early_correlations
from prunescope.reporting.markdown import markdown_table
from prunescope.reporting.pareto import front_rows
from prunescope.reporting.summary import (
    TABLE_KEYS,
    as_number,
    group_by,
    method_label,
    mixes_scopes,
    quality_metric,
)

MISSING = "–"
QUALITY_NAMES = {"miou": "mIoU", "acc": "Acc"}


@dataclass(frozen=True)
class Markup:
    """How one output format writes symbols, bold text and literal text."""

    pm: str
    down: str
    times: str
    delta: str
    percent: str
    bold: Callable[[str], str]
    escape: Callable[[str], str]


def _escape_markdown(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _escape_latex(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(char, char) for char in " ".join(text.split()))


MARKDOWN = Markup(
    pm="±", down="↓", times="×", delta="Δ", percent="%", bold=lambda s: f"**{s}**", escape=_escape_markdown
)
LATEX = Markup(
    pm=r"$\pm$",
    down=r"$\downarrow$",
    times=r"$\times$",
    delta=r"$\Delta$",
    percent=r"\%",
    bold=lambda s: rf"\textbf{{{s}}}",
    escape=_escape_latex,
)


def _decimals(value: float, digits: int) -> int:
    """``digits`` decimals, or enough for 3 significant figures when ``0 < |value| < 0.1``."""
    if value == 0 or abs(value) >= 0.1:
        return digits
    return max(digits, 2 - math.floor(math.log10(abs(value))))


def _mean_pm_std(row: Mapping[str, Any], key: str, scale: float, digits: int, markup: Markup) -> str | None:
    """``mean ± std`` of ``key`` (scaled), std at the mean's precision and left out when it rounds to zero."""
    mean = row.get(f"{key}.mean")
    if mean is None:
        return None
    decimals = _decimals(mean * scale, digits)
    text = f"{mean * scale:.{decimals}f}"
    std = row.get(f"{key}.std")
    if std is not None and round(std * scale, decimals) != 0:
        text += f" {markup.pm} {std * scale:.{decimals}f}"
    return text


@dataclass(frozen=True)
class Column:
    """One table column: its header, the summary key ranked for "best", and which direction is better."""

    header: Callable[[str, Markup], str]
    key: Callable[[str], str]
    higher_is_better: bool
    cell: Callable[[Mapping[str, Any], str, Markup], str | None]


def _cost_cell(
    value_key: str, drop_key: str, scale: float
) -> Callable[[Mapping[str, Any], str, Markup], str | None]:
    def cell(row: Mapping[str, Any], metric: str, markup: Markup) -> str | None:
        text = _mean_pm_std(row, value_key, scale, 2, markup)
        drop = row.get(f"{drop_key}.mean")
        if text is not None and drop is not None:
            text += f" ({markup.down}{drop:.1f}{markup.percent})"
        return text

    return cell


def _quality_cell(row: Mapping[str, Any], metric: str, markup: Markup) -> str | None:
    text = _mean_pm_std(row, f"pruned.{metric}", 100.0, 2, markup)
    delta = row.get(f"delta.{metric}.mean")
    if text is not None and delta is not None:
        text += f" ({100.0 * delta:+.2f})"
    return text


def _speedup_cell(row: Mapping[str, Any], metric: str, markup: Markup) -> str | None:
    text = _mean_pm_std(row, "speedup", 1.0, 2, markup)
    return None if text is None else f"{text}{markup.times}"


COLUMNS: tuple[Column, ...] = (
    Column(
        header=lambda metric, m: f"Params (M, {m.down}{m.percent})",
        key=lambda metric: "pruned.params",
        higher_is_better=False,
        cell=_cost_cell("pruned.params", "drop.params_pct", 1e-6),
    ),
    Column(
        header=lambda metric, m: f"FLOPs (G, {m.down}{m.percent})",
        key=lambda metric: "pruned.macs",
        higher_is_better=False,
        cell=_cost_cell("pruned.macs", "drop.macs_pct", 2e-9),
    ),
    Column(
        header=lambda metric, m: f"{QUALITY_NAMES.get(metric, metric)} {m.percent} ({m.delta})",
        key=lambda metric: f"pruned.{metric}",
        higher_is_better=True,
        cell=_quality_cell,
    ),
    Column(
        header=lambda metric, m: "Sp2PS",
        key=lambda metric: "sp2ps.score",
        higher_is_better=True,
        cell=lambda row, metric, m: _mean_pm_std(row, "sp2ps.score", 1.0, 3, m),
    ),
    Column(
        header=lambda metric, m: "Speed-up",
        key=lambda metric: "speedup",
        higher_is_better=True,
        cell=_speedup_cell,
    ),
)


def best_rows(rows: Sequence[Mapping[str, Any]], key: str, higher_is_better: bool) -> set[int]:
    """Indices of the rows whose ``<key>.mean`` is best (ties all count); empty when no row has the key."""
    values = {i: row[f"{key}.mean"] for i, row in enumerate(rows) if row.get(f"{key}.mean") is not None}
    if not values:
        return set()
    best = max(values.values()) if higher_is_better else min(values.values())
    return {i for i, value in values.items() if math.isclose(value, best, rel_tol=1e-9, abs_tol=1e-12)}


def _ratio_text(ratio: Any) -> str:
    return MISSING if ratio is None else f"{ratio:g}" if isinstance(ratio, (int, float)) else str(ratio)


@dataclass(frozen=True)
class ResultTable:
    """One (model, data) table: header and body cells already formatted for one markup, baseline row first."""

    model: Any
    data: Any
    header: list[str]
    baseline: list[str] | None
    body: list[list[str]]


def _baseline_cells(base: Mapping[str, Any], metric: str, markup: Markup) -> list[str]:
    cells = [
        _mean_pm_std(base, "baseline.params", 1e-6, 2, markup),
        _mean_pm_std(base, "baseline.macs", 2e-9, 2, markup),
        _mean_pm_std(base, f"baseline.{metric}", 100.0, 2, markup),
    ]
    return [
        "Baseline",
        MISSING,
        *(MISSING if c is None else c for c in cells),
        MISSING,
        f"1.00{markup.times}",
        str(base["n"]),
    ]


def build_tables(
    summary: Sequence[Mapping[str, Any]], baselines: Mapping[tuple, Mapping[str, Any]], markup: Markup
) -> list[ResultTable]:
    """Format one table per (model, data) from :func:`summarize` and :func:`summarize_baselines` output."""
    tables = []
    for (model, data), group in group_by(summary, TABLE_KEYS).items():
        metric = group[0]["quality.metric"]
        show_scope = mixes_scopes(group)
        header = ["Method", "Ratio", *(column.header(metric, markup) for column in COLUMNS), "n"]
        best = [best_rows(group, column.key(metric), column.higher_is_better) for column in COLUMNS]
        body = []
        for i, row in enumerate(group):
            method = markup.escape(method_label(row, show_scope))
            cells = [method, _ratio_text(row.get("run.ratio"))]
            for column, winners in zip(COLUMNS, best, strict=True):
                text = column.cell(row, metric, markup)
                cells.append(MISSING if text is None else markup.bold(text) if i in winners else text)
            body.append([*cells, str(row["n"])])
        base = baselines.get((model, data))
        baseline_row = None if base is None else _baseline_cells(base, metric, markup)
        tables.append(ResultTable(model=model, data=data, header=header, baseline=baseline_row, body=body))
    return tables


FAILED_HEADER = ("Name", "Model", "Data", "Method", "Ratio", "Seed", "Error")


def failed_rows(
    rows: Iterable[Mapping[str, Any]], markup: Markup, max_error_chars: int | None = None
) -> list[list[str]]:
    """Cells of every job that did not complete: name, model, data, method, ratio, seed, error."""
    out = []
    for row in rows:
        if is_completed(row):
            continue
        error = str(row.get("run.error") or f"status {row.get('run.status')!r}, no error recorded")
        error = " ".join(error.split())
        if max_error_chars is not None and len(error) > max_error_chars:
            error = error[: max_error_chars - 3] + "..."
        seed = row.get("run.seed")
        cells = [row.get("run.name"), row.get("run.model"), row.get("run.data"), row.get("run.method")]
        out.append(
            [markup.escape(str(c)) if c is not None else MISSING for c in cells]
            + [
                _ratio_text(row.get("run.ratio")),
                MISSING if seed is None else str(seed),
                markup.escape(error),
            ]
        )
    return out


def failed_job_lines(rows: Iterable[Mapping[str, Any]], max_error_chars: int = 300) -> list[str]:
    """One line per job that did not complete, for ``prunescope-report``'s text summary: ``failed <name>: <error>``,
    the job's overrides added (a job without ``metrics.json`` has them in its error already)."""
    lines = []
    for row in rows:
        if is_completed(row):
            continue
        error = " ".join(
            str(row.get("run.error") or f"status {row.get('run.status')!r}, no error recorded").split()
        )
        if "run.overrides" not in row:
            if len(error) > max_error_chars:
                error = error[: max_error_chars - 3] + "..."
            overrides = run_files.overrides(run_files.run_folder(row))
            error += f" (overrides: {' '.join(overrides)})" if overrides else ""
        lines.append(f"failed {row.get('run.name')}: {error}")
    return lines


NOTE = (
    "Mean over n seeds (± sample std when n > 1). FLOPs = 2·MACs. Quality in %, Δ in points vs. the baseline. "
    "Best per column in bold (lowest Params/FLOPs, highest quality/Sp2PS/speed-up); the baseline row is not ranked."
)


FRONT_HEADER = ("Name", "Method", "Ratio", "Seed", "Quality %", "MACs (M)", "Sp2PS")


def _markdown_front(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The "Pareto front" section: per (model, data), the non-dominated runs by increasing MACs (rows marked by
    :func:`~prunescope.reporting.pareto.mark_front`; nothing when none is marked)."""
    fronts = front_rows(rows)
    if not fronts:
        return []
    lines = ["## Pareto front", "", "Runs no other run beats on both pruned quality and MACs.", ""]
    for (model, data), front in fronts.items():
        metric = quality_metric(front)
        body = []
        for row in front:
            sp2ps = as_number(row.get("sp2ps.score"))
            cells = [
                MARKDOWN.escape(str(row.get("run.name"))),
                MARKDOWN.escape(method_label(row)),
                _ratio_text(row.get("run.ratio")),
                str(row.get("run.seed")),
                f"{100 * row[f'pruned.{metric}']:.2f}",
                f"{row['pruned.macs'] * 1e-6:.4g}",
                MISSING if sp2ps is None else f"{sp2ps:.3f}",
            ]
            body.append(cells)
        lines += [f"### {model} on {data}", "", markdown_table(FRONT_HEADER, body, "llllrrr"), ""]
    return lines


def render_markdown(
    rows: Sequence[Mapping[str, Any]], summary: Sequence[Mapping[str, Any]], baselines: Mapping
) -> str:
    """Markdown document: one table per (model, data), the "Pareto front" runs, the Spearman ρ of the before-fine-tune
    figures with the final quality (when runs recorded them), then the "Failed runs" section."""
    lines = ["# PruneScope results", "", NOTE, ""]
    for table in build_tables(summary, baselines, MARKDOWN):
        body = ([table.baseline] if table.baseline is not None else []) + list(table.body)
        lines += [f"## {table.model} on {table.data}", "", markdown_table(table.header, body), ""]
    lines += _markdown_front(rows)
    lines += correlation_lines(early_correlations(rows))
    failed = failed_rows(rows, MARKDOWN)
    lines += ["## Failed runs", ""]
    if failed:
        lines.append(markdown_table(FAILED_HEADER, failed, "l" * len(FAILED_HEADER)))
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def _tex_row(cells: Sequence[str]) -> str:
    return " & ".join(cells) + r" \\"


def render_latex(
    rows: Sequence[Mapping[str, Any]], summary: Sequence[Mapping[str, Any]], baselines: Mapping
) -> str:
    """LaTeX (booktabs) tables: one ``table`` per (model, data), then a "Failed runs" table if any job failed."""
    note = NOTE.replace("±", r"$\pm$").replace("·", r"$\cdot$").replace("Δ", r"$\Delta$").replace("%", r"\%")
    lines = [r"% PruneScope results; needs \usepackage{booktabs}", ""]
    for table in build_tables(summary, baselines, LATEX):
        label = f"{table.model}-{table.data}".replace("_", "-")
        lines += [
            r"\begin{table}[t]",
            r"\centering",
            rf"\caption{{{_escape_latex(str(table.model))} on {_escape_latex(str(table.data))}. {note}}}",
            rf"\label{{tab:{label}}}",
            r"\begin{tabular}{l" + "r" * (len(table.header) - 1) + "}",
            r"\toprule",
            _tex_row(table.header),
            r"\midrule",
        ]
        if table.baseline is not None:
            lines += [_tex_row(table.baseline), r"\midrule"]
        lines += [_tex_row(cells) for cells in table.body]
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    failed = failed_rows(rows, LATEX, max_error_chars=80)
    if failed:
        lines += [
            r"\begin{table}[t]",
            r"\centering",
            r"\caption{Failed runs.}",
            r"\begin{tabular}{lllrrrl}",
            r"\toprule",
            _tex_row(FAILED_HEADER),
            r"\midrule",
            *[_tex_row(cells) for cells in failed],
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{table}",
            "",
        ]
    return "\n".join(lines)
