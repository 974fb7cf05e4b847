"""Report plots (PNG, Agg, no pyplot state): quality and Sp2PS vs. ratio, quality vs. Sp2PS, FLOPs drop vs. quality,
quality vs. MACs and vs. parameters with the Pareto front marked (seed means), and every run's quality vs. MACs with
the non-dominated runs marked (``pareto_runs``).

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

from prunescope.reporting.pareto import FRONT_KEY, objectives
from prunescope.reporting.summary import TABLE_KEYS, group_by, method_label, mixes_scopes, quality_metric
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
MACS = Axis("pruned.macs", 1e-6, "MACs (M)")
PARAMS = Axis("pruned.params", 1e-6, "parameters (M)")

PLOTS: dict[str, tuple[Axis, Axis]] = {
    "quality_vs_ratio": (RATIO, QUALITY),
    "sp2ps_vs_ratio": (RATIO, SP2PS),
    "quality_vs_sp2ps": (SP2PS, QUALITY),
    "flops_drop_vs_quality": (FLOPS_DROP, QUALITY),
}


def _panel_grid(count: int) -> tuple[Figure, Any]:
    """A figure with ``count`` panels, at most ``MAX_PANEL_COLUMNS`` per row; its axes, flattened."""
    columns = min(count, MAX_PANEL_COLUMNS)
    rows = math.ceil(count / columns)
    figure = Figure(figsize=(PANEL_WIDTH_IN * columns, PANEL_HEIGHT_IN * rows), layout="constrained")
    return figure, figure.subplots(rows, columns, squeeze=False).ravel()


def _value(row: Mapping[str, Any], key: str, scale: float) -> tuple[float, float] | None:
    """(mean, std) of ``key`` in a summary row, scaled; the group keys (ratio) carry no std."""
    mean = row.get(f"{key}.mean", row.get(key) if key.startswith("run.") else None)
    if mean is None or isinstance(mean, bool) or not isinstance(mean, (int, float)):
        return None
    std = row.get(f"{key}.std")
    return mean * scale, (std or 0.0) * scale


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
        show_scope = mixes_scopes(group)
        series: dict[str, list[tuple[float, float, float, float]]] = {}
        for row in group:
            x, y = _value(row, x_key, x_axis.scale), _value(row, y_key, y_axis.scale)
            if x is not None and y is not None:
                series.setdefault(method_label(row, show_scope), []).append((x[0], y[0], x[1], y[1]))
        if series:
            panels.append((table, x_label, y_label, y_key, series))
    if not panels:
        return None
    figure, axes = _panel_grid(len(panels))
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


PARETO_PLOTS: dict[str, Axis] = {"quality_vs_macs": MACS, "quality_vs_params": PARAMS}
PARETO_RUNS_PLOT = "pareto_runs"


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (cost, quality) points no other point beats on both (lower or equal cost and higher quality), by cost."""
    front: list[tuple[float, float]] = []
    for cost, quality in sorted(points, key=lambda point: (point[0], -point[1])):
        if not front or quality > front[-1][1]:
            front.append((cost, quality))
    return front


def pareto_figure(
    summary: Sequence[Mapping[str, Any]],
    cost_axis: Axis,
    baselines: Mapping[tuple, Mapping[str, Any]] | None = None,
) -> Figure | None:
    """Quality against ``cost_axis`` (MACs or parameters), one panel per (model, data), Pareto front marked.

    The baseline (mean over seeds) is drawn as a star and takes part in the front. None when nothing to plot.
    """
    panels = []
    for table, group in group_by(summary, TABLE_KEYS).items():
        metric = group[0]["quality.metric"]
        (y_key, y_label) = QUALITY.resolve(metric)
        show_scope = mixes_scopes(group)
        series: dict[str, list[tuple[float, float, float, float]]] = {}
        for row in group:
            x, y = _value(row, cost_axis.key, cost_axis.scale), _value(row, y_key, QUALITY.scale)
            if x is not None and y is not None:
                series.setdefault(method_label(row, show_scope), []).append((x[0], y[0], x[1], y[1]))
        base = (baselines or {}).get(table) or {}
        base_x = _value(base, "baseline." + cost_axis.key.removeprefix("pruned."), cost_axis.scale)
        base_y = _value(base, "baseline." + y_key.removeprefix("pruned."), QUALITY.scale)
        base_point = (base_x[0], base_y[0]) if base_x is not None and base_y is not None else None
        if series:
            panels.append((table, y_label, series, base_point))
    if not panels:
        return None
    figure, axes = _panel_grid(len(panels))
    for ax, (table, y_label, series, base_point) in zip(axes, panels, strict=False):
        points = [(x, y) for values in series.values() for x, y, _, _ in values]
        for label, values in series.items():
            xs, ys, x_err, y_err = (list(v) for v in zip(*sorted(values), strict=True))
            ax.errorbar(xs, ys, xerr=x_err, yerr=y_err, fmt="o", capsize=3, markersize=5, label=label)
        if base_point is not None:
            ax.plot(*base_point, marker="*", markersize=12, color="0.3", linestyle="none", label="baseline")
            points.append(base_point)
        front = pareto_front(points)
        front_x, front_y = zip(*front, strict=True)
        ax.step(
            front_x, front_y, where="post", color="black", linestyle="--", linewidth=1, label="Pareto front"
        )
        ax.plot(front_x, front_y, "o", markersize=11, markerfacecolor="none", markeredgecolor="black")
        ax.set_title(f"{table[0]} on {table[1]}")
        ax.set_xlabel(cost_axis.label)
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
    for name, cost_axis in PARETO_PLOTS.items():
        figure = pareto_figure(summary, cost_axis, baselines)
        if figure is not None:
            path = out_dir / f"{name}.png"
            figure.savefig(path, dpi=DPI)
            written[name] = path
    return written


def pareto_runs_figure(rows: Sequence[Mapping[str, Any]]) -> Figure | None:
    """Every completed run's quality (%) against its MACs (M), one panel per (model, data); the non-dominated runs
    (``pareto.front``, see :func:`~prunescope.reporting.pareto.mark_front`) in red, joined by the front's staircase.
    None when no run has both values."""
    panels = []
    for table, group in group_by(rows, TABLE_KEYS).items():
        metric = quality_metric(group)
        points = [(objectives(row, metric), row.get(FRONT_KEY) is True) for row in group]
        points = [(point, front) for point, front in points if point is not None]
        if points:
            panels.append((table, metric, points))
    if not panels:
        return None
    figure, axes = _panel_grid(len(panels))
    for ax, (table, metric, points) in zip(axes, panels, strict=False):
        dominated = [
            (cost * MACS.scale, quality * QUALITY.scale) for (quality, cost), front in points if not front
        ]
        front = sorted(
            (cost * MACS.scale, quality * QUALITY.scale) for (quality, cost), front in points if front
        )
        if dominated:
            ax.plot(*zip(*dominated, strict=True), "o", color="0.6", label="dominated")
        ax.step(*zip(*front, strict=True), where="post", color="black", linestyle="--", linewidth=1)
        ax.plot(
            *zip(*front, strict=True),
            "o",
            markersize=8,
            color="tab:red",
            label=f"non-dominated ({len(front)})",
        )
        ax.set_title(f"{table[0]} on {table[1]}: runs")
        ax.set_xlabel("MACs (M)")
        ax.set_ylabel(f"{metric} (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    return figure


def write_pareto_runs_plot(
    rows: Sequence[Mapping[str, Any]], out_dir: Path, dpi: int = DPI
) -> dict[str, Path]:
    """Write ``pareto_runs.png`` from rows marked by :func:`~prunescope.reporting.pareto.mark_front` when any run
    has both values; returns ``{name: path}``."""
    figure = pareto_runs_figure(rows)
    if figure is None:
        return {}
    path = out_dir / f"{PARETO_RUNS_PLOT}.png"
    figure.savefig(path, dpi=dpi)
    return {PARETO_RUNS_PLOT: path}
