"""Does a pruned model's state before fine-tuning tell early how well it recovers? Spearman rank correlations,
across the completed pruning runs of one (model, data) (methods × ratios × seeds), of the final quality
``pruned.<metric>`` with ``sp2ps.before_finetune`` and with ``quality.before_finetune``: ``correlations.csv`` and a
short section of ``results.md``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prunescope.reporting.collect import is_completed
from prunescope.reporting.csv_files import write_csv
from prunescope.reporting.rank_correlation import spearman
from prunescope.reporting.summary import TABLE_KEYS, as_number, group_by, quality_metric

PREDICTORS: tuple[str, ...] = ("sp2ps.before_finetune", "quality.before_finetune")
CORRELATION_COLUMNS: tuple[str, ...] = (*TABLE_KEYS, "quality.metric", "predictor", "n", "spearman")
CORRELATIONS_FILENAME = "correlations.csv"


def early_correlations(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (model, data) and predictor: ``n`` completed pruning runs with both figures and their ``spearman`` ρ.

    A (model, data) none of whose pruning runs has a before-fine-tune figure gives no rows.
    """
    pruning = [row for row in rows if is_completed(row) and row.get("run.method") not in (None, "none")]
    out: list[dict[str, Any]] = []
    for table, group in group_by(pruning, TABLE_KEYS).items():
        if not any(as_number(row.get(key)) is not None for row in group for key in PREDICTORS):
            continue
        metric = quality_metric(group)
        for predictor in PREDICTORS:
            pairs = [
                (early, final)
                for row in group
                if (early := as_number(row.get(predictor))) is not None
                and (final := as_number(row.get(f"pruned.{metric}"))) is not None
            ]
            rho = spearman([p[0] for p in pairs], [p[1] for p in pairs])
            out.append(
                {
                    **dict(zip(TABLE_KEYS, table, strict=True)),
                    "quality.metric": metric,
                    "predictor": predictor,
                    "n": len(pairs),
                    "spearman": rho,
                }
            )
    return out


def write_correlations_csv(path: Path, correlations: Sequence[Mapping[str, Any]]) -> Path:
    """``correlations.csv``: one line per (model, data, predictor)."""
    return write_csv(path, correlations, CORRELATION_COLUMNS)


def correlation_lines(correlations: Sequence[Mapping[str, Any]]) -> list[str]:
    """The ``results.md`` section: one line per (model, data); nothing without correlations."""
    if not correlations:
        return []
    lines = [
        "## Early predictors of the final quality",
        "",
        "Spearman ρ across the completed pruning runs (methods × ratios × seeds) of the final quality with each "
        "figure measured before fine-tuning (n: runs with both).",
        "",
    ]
    for table, group in group_by(correlations, TABLE_KEYS).items():
        parts = []
        for entry in group:
            rho = entry["spearman"]
            parts.append(f"{entry['predictor']} {'–' if rho is None else f'{rho:+.2f}'} (n = {entry['n']})")
        lines.append(
            f"- {' on '.join(str(v) for v in table)}, final {group[0]['quality.metric']}: {'; '.join(parts)}"
        )
    return [*lines, ""]
