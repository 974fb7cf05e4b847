"""Grid selection on hand-made pair records: spread rows of the run, fixed rows that ignore the pruned model."""

from __future__ import annotations

import dataclasses

import pytest

from prunescope.cam.pair_records import PairRecord
from prunescope.cam.selection import GridRow, fixed_class_rows, grid_rows, spread_rows


def record(sample: int, class_id: int, score: float, pixels: int = 10, **changes) -> PairRecord:
    base = PairRecord(sample, class_id, pixels, True, score, score, score, False)
    return dataclasses.replace(base, **changes)


def test_spread_rows_are_lowest_median_highest_of_the_scored_pairs() -> None:
    records = [
        record(0, 1, 0.5),
        record(1, 1, 0.0, skipped=True),  # skipped pairs are not part of Sp2PS: never the lowest
        record(2, 2, 0.1),
        record(3, 2, 0.9),
        record(4, 3, 0.3),
    ]
    # scored, by score: 0.1 (2), 0.3 (4), 0.5 (0), 0.9 (3): lower median = 0.3
    assert spread_rows(records) == [GridRow(2, "lowest"), GridRow(4, "median"), GridRow(3, "highest")]
    assert spread_rows([record(0, 1, 0.0, skipped=True)]) == []


def test_fixed_rows_ignore_scores_and_prefer_informative_baselines_then_area_then_first_sample() -> None:
    records = [
        record(0, 2, 0.9, pixels=50, baseline_informative=False),  # flat baseline CAM: last resort
        record(1, 2, 0.1, pixels=40),
        record(2, 2, 0.5, pixels=40),  # same area as sample 1: the earlier sample wins
        record(3, 0, 0.7, pixels=5),
        record(4, 5, 0.2, pixels=1),
    ]
    assert fixed_class_rows(records, 10) == [GridRow(3, "class"), GridRow(1, "class"), GridRow(4, "class")]
    assert fixed_class_rows(records, 2) == [GridRow(3, "class"), GridRow(1, "class")]
    rescored = [dataclasses.replace(r, score=1.0 - r.score, spatial=0.0) for r in records]
    assert fixed_class_rows(rescored, 10) == fixed_class_rows(records, 10)  # another pruned model: same rows
    assert grid_rows(records, 1) == [*spread_rows(records), GridRow(3, "class")]
    with pytest.raises(ValueError, match="classes >= 0"):
        fixed_class_rows(records, -1)
