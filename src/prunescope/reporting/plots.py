"""Report plots (PNG, Agg, no pyplot state): quality and Sp2PS vs. ratio, quality vs. Sp2PS, FLOPs drop vs. quality.

One panel per (model, data), one series per method (and scope when a table has several); points are means over
seeds with ± sample-std error bars. Quality is shown in %.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from prunescope.reporting.summary import TABLE_KEYS, group_by
from prunescope.reporting.tables import QUALITY_NAMES

PANEL_WIDTH_IN = 5.0
PANEL_HEIGHT_IN = 3.8
MAX_PANEL_COLUMNS = 3
DPI = 120


@dataclass(frozen=True)
class Axis:
    """One plotted quantity: summary key (``{metric}`` is filled with the quality metric), scale, label."""

    key: str
    scale: float
    label: str

    def resolve(self, metric: str) -> tuple[str, str]:
        """The summary key and axis label for quality metric ``metric``."""
        return self.key.format(metric=metric), self.label.format(metric=QUALITY_NAMES.get(metric, metric))


RATIO = Axis("run.ratio", 1.0, "pruning ratio")
QUALITY = Axis("pruned.{metric}", 100.0, "{metric} (%)")
SP2PS = Axis("sp2ps.score", 1.0, "Sp2PS")
FLOPS_DROP = Axis("drop.macs_pct", 1.0, "FLOPs drop (%)")

PLOTS: dict[str, tuple[Axis, Axis]] = {
    "quality_vs_ratio": (RATIO, QUALITY),
    "sp2ps_vs_ratio": (RATIO, SP2PS),
    "quality_vs_sp2ps": (SP2PS, QUALITY),
    "flops_drop_vs_quality": (FLOPS_DROP, QUALITY),
}


def _value(row: Mapping[str, Any], key: str, scale: float) -> tuple[float, float] | None:
    """(mean, std) of ``key`` in a summary row, scaled; the group keys (ratio) carry no std."""
    mean = row.get(f"{key}.mean", row.get(key) if key.startswith("run.") else None)
    if mean is None or isinstance(mean, bool) or not isinstance(mean, (int, float)):
        return None
    std = row.get(f"{key}.std")
    return mean * scale, (std or 0.0) * scale


def _series_label(row: Mapping[str, Any], show_scope: bool) -> str:
    method = str(row.get("run.method"))
    return f"{method} ({row.get('run.scope')})" if show_scope else method


def plot_panel_figure(
    summary: Sequence[Mapping[str, Any]],
    x_axis: Axis,
    y_axis: Axis,
    baselines: Mapping[tuple, Mapping[str, Any]] | None = None,
) -> Figure | None:
    """Figure with one panel per (model, data) of ``y_axis`` against ``x_axis``; None when nothing to plot."""
    panels = []
    for table, group in group_by(summary, TABLE_KEYS).items():
        metric = group[0]["quality.metric"]
        (x_key, x_label), (y_key, y_label) = x_axis.resolve(metric), y_axis.resolve(metric)
        show_scope = len({row.get("run.scope") for row in group}) > 1
        series: dict[str, list[tuple[float, float, float, float]]] = {}
        for row in group:
            x, y = _value(row, x_key, x_axis.scale), _value(row, y_key, y_axis.scale)
            if x is not None and y is not None:
                series.setdefault(_series_label(row, show_scope), []).append((x[0], y[0], x[1], y[1]))
        if series:
            panels.append((table, x_label, y_label, y_key, series))
    if not panels:
        return None
    columns = min(len(panels), MAX_PANEL_COLUMNS)
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(PANEL_WIDTH_IN * columns, PANEL_HEIGHT_IN * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, (table, x_label, y_label, y_key, series) in zip(axes, panels, strict=False):
        for label, points in series.items():
            points.sort()
            xs, ys, x_err, y_err = (list(values) for values in zip(*points, strict=True))
            line = "-o" if x_axis is RATIO else "o"
            ax.errorbar(xs, ys, xerr=x_err, yerr=y_err, fmt=line, capsize=3, markersize=4, label=label)
        base = (baselines or {}).get(table)
        if base is not None and y_key.startswith("pruned."):
            base_value = _value(base, "baseline." + y_key[len("pruned.") :], y_axis.scale)
            if base_value is not None:
                ax.axhline(base_value[0], color="0.4", linestyle="--", linewidth=1, label="baseline")
        ax.set_title(f"{table[0]} on {table[1]}")
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    return figure


def write_plots(
    summary: Sequence[Mapping[str, Any]],
    out_dir: Path,
    baselines: Mapping[tuple, Mapping[str, Any]] | None = None,
) -> dict[str, Path]:
    """Write every plot that has data as ``out_dir/<name>.png``; returns ``{name: path}``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, (x_axis, y_axis) in PLOTS.items():
        figure = plot_panel_figure(summary, x_axis, y_axis, baselines)
        if figure is None:
            continue
        path = out_dir / f"{name}.png"
        figure.savefig(path, dpi=DPI)
        written[name] = path
    return written
