"""Pareto front of runs (quality up, MACs down): the sweep-based marking equals a brute-force non-dominance check."""

from __future__ import annotations

import itertools
import random

from prunescope.reporting.pareto import FRONT_KEY, front_rows, mark_front, non_dominated


def dominated_brute_force(points: list[tuple[float, float] | None]) -> list[bool | None]:
    """True where no other point has quality >= and cost <= with one strict (the definition, pair by pair)."""
    flags: list[bool | None] = []
    for i, point in enumerate(points):
        if point is None:
            flags.append(None)
            continue
        beaten = any(
            other is not None
            and j != i
            and other[0] >= point[0]
            and other[1] <= point[1]
            and (other[0] > point[0] or other[1] < point[1])
            for j, other in enumerate(points)
        )
        flags.append(not beaten)
    return flags


def test_non_dominated_equals_brute_force_with_ties_and_gaps() -> None:
    rng = random.Random(0)
    for trial in range(300):
        n = rng.randint(1, 12)
        # few distinct values so equal costs, equal qualities and duplicate points are common
        points: list[tuple[float, float] | None] = [
            None if rng.random() < 0.15 else (rng.choice([0.1, 0.2, 0.3, 0.4]), rng.choice([1.0, 2.0, 3.0]))
            for _ in range(n)
        ]
        assert non_dominated(points) == dominated_brute_force(points), (trial, points)


def test_known_front() -> None:
    points = [(0.9, 10.0), (0.8, 5.0), (0.85, 7.0), (0.7, 6.0), (0.8, 5.0), (0.9, 11.0), None]
    assert non_dominated(points) == [True, True, True, False, True, False, None]


def _row(name: str, quality: float | None, macs: float | None, status: str = "completed", **extra) -> dict:
    row = {"run.name": name, "run.status": status, "run.model": "unet", "run.data": "digit_scenes"}
    row.update({"quality.metric": "miou", "run.method": "l1", "run.ratio": 0.5, "run.seed": 0, **extra})
    if quality is not None:
        row["pruned.miou"] = quality
    if macs is not None:
        row["pruned.macs"] = macs
    return row


def test_mark_front_per_table_skips_failed_and_incomplete_rows() -> None:
    rows = [
        _row("a", 0.6, 100.0),
        _row("b", 0.5, 50.0),
        _row("c", 0.4, 80.0),  # dominated by b
        _row("d", 0.9, 10.0, status="failed"),  # would dominate all, but failed
        _row("e", None, 20.0),  # no quality
        _row("f", 0.1, 1.0, **{"run.model": "segnet"}),  # alone in its table
    ]
    marked = mark_front(rows)
    assert [r[FRONT_KEY] for r in marked] == [True, True, False, None, None, True]
    assert FRONT_KEY not in rows[0]  # the input is not changed
    fronts = front_rows(marked)
    assert {table: [r["run.name"] for r in front] for table, front in fronts.items()} == {
        ("unet", "digit_scenes"): ["b", "a"],
        ("segnet", "digit_scenes"): ["f"],
    }


def test_mark_front_matches_brute_force_on_a_grid_of_runs() -> None:
    qualities, costs = [0.3, 0.5, 0.5, 0.7], [10.0, 20.0, 20.0, 40.0]
    rows = [_row(f"r{i}", q, c) for i, (q, c) in enumerate(itertools.product(qualities, costs))]
    flags = [r[FRONT_KEY] for r in mark_front(rows)]
    assert flags == dominated_brute_force([(r["pruned.miou"], r["pruned.macs"]) for r in rows])
    assert sum(flags) == 1  # only (0.7, 10) survives
