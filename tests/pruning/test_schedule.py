"""Pruning schedules: cumulative ratios, the per-step conversion and the step epochs."""

from __future__ import annotations

import math

import pytest

from prunescope.pruning.schedule import (
    SCHEDULE_KINDS,
    cumulative_ratios,
    geometric_schedule,
    linear_schedule,
    step_epochs,
    step_ratio,
)


def test_linear_values() -> None:
    assert linear_schedule(0.6, 3) == pytest.approx([0.2, 0.4, 0.6])


def test_geometric_values_keep_the_same_fraction_each_step() -> None:
    ratios = geometric_schedule(0.75, 2)
    assert ratios == pytest.approx([0.5, 0.75])
    kept = [1.0] + [1.0 - c for c in ratios]
    per_step_kept = [b / a for a, b in zip(kept, kept[1:], strict=False)]
    assert per_step_kept == pytest.approx([0.5, 0.5])


@pytest.mark.parametrize("kind", SCHEDULE_KINDS)
@pytest.mark.parametrize("target", [0.0, 0.3, 0.9])
@pytest.mark.parametrize("steps", [1, 2, 5])
def test_monotone_and_final_equals_target(kind: str, target: float, steps: int) -> None:
    ratios = cumulative_ratios(kind, target, steps)
    assert len(ratios) == steps
    assert ratios[-1] == target
    assert all(b >= a for a, b in zip([0.0, *ratios], ratios, strict=False))


@pytest.mark.parametrize("kind", SCHEDULE_KINDS)
def test_one_step_is_one_shot(kind: str) -> None:
    assert cumulative_ratios(kind, 0.5, 1) == [0.5]


@pytest.mark.parametrize("kind", SCHEDULE_KINDS)
def test_step_ratios_compose_to_the_schedule(kind: str) -> None:
    ratios = cumulative_ratios(kind, 0.8, 4)
    remaining, done = 1.0, 0.0
    for goal in ratios:
        remaining *= 1.0 - step_ratio(done, goal)
        done = goal
        assert 1.0 - remaining == pytest.approx(goal)


def test_geometric_step_ratio_is_constant() -> None:
    ratios = geometric_schedule(0.9, 3)
    steps = [step_ratio(a, b) for a, b in zip([0.0, *ratios], ratios, strict=False)]
    assert steps == pytest.approx([1 - math.pow(0.1, 1 / 3)] * 3)


def test_step_ratio_rejects_going_backwards() -> None:
    with pytest.raises(ValueError, match="done"):
        step_ratio(0.5, 0.4)


@pytest.mark.parametrize(
    ("kind", "target", "steps", "message"),
    [("cubic", 0.5, 2, "linear, geometric"), ("linear", 1.0, 2, r"\[0, 1\)"), ("linear", 0.5, 0, ">= 1")],
)
def test_invalid_arguments(kind: str, target: float, steps: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cumulative_ratios(kind, target, steps)


def test_step_epochs_every_n() -> None:
    assert step_epochs(3) == [0, 1, 2]
    assert step_epochs(3, every_n_epochs=2) == [0, 2, 4]


def test_step_epochs_explicit() -> None:
    assert step_epochs(2, at_epochs=[1, 3]) == [1, 3]


@pytest.mark.parametrize("at_epochs", [[1], [2, 2], [3, 1], [-1, 2]])
def test_step_epochs_rejects_bad_explicit_epochs(at_epochs: list[int]) -> None:
    with pytest.raises(ValueError, match="at_epochs"):
        step_epochs(2, at_epochs=at_epochs)
