"""Iterative pruning schedules: how much of the original channels is gone after each step, and when steps happen.

A schedule reaches a target ratio ``R`` (fraction of the *original* prunable channels removed) in ``n`` steps.
Step ``i`` (1-based) reaches the cumulative ratio ``c_i``:

- ``linear``:    ``c_i = R · i / n`` (the same number of channels every step);
- ``geometric``: ``c_i = 1 - (1 - R)^(i / n)`` (the same fraction of the *current* channels every step).

``prune()`` takes a ratio of the channels the *current* model still has, so a step from ``c_{i-1}`` to ``c_i`` uses

    r_i = (c_i - c_{i-1}) / (1 - c_{i-1})

because the current model keeps ``(1 - c_{i-1}) · N`` of the ``N`` original channels and must lose ``(c_i - c_{i-1}) · N``
more. For the geometric schedule ``r_i = 1 - (1 - R)^(1/n)`` for every step.
"""

from __future__ import annotations

from collections.abc import Sequence

SCHEDULE_KINDS: tuple[str, ...] = ("linear", "geometric")
"""Valid ``kind`` values of :func:`cumulative_ratios`."""


def _check_target(target: float, steps: int) -> None:
    if not 0.0 <= target < 1.0:
        raise ValueError(f"pruning ratio must be in [0, 1), got {target}")
    if steps < 1:
        raise ValueError(f"schedule steps must be >= 1, got {steps}")


def linear_schedule(target: float, steps: int) -> list[float]:
    """Cumulative ratios ``c_i = target · i / steps`` for ``i = 1..steps`` (``steps=1`` → ``[target]``, one-shot)."""
    _check_target(target, steps)
    return [target * i / steps for i in range(1, steps + 1)]


def geometric_schedule(target: float, steps: int) -> list[float]:
    """Cumulative ratios ``c_i = 1 - (1 - target)^(i / steps)`` for ``i = 1..steps`` (the last one is exactly ``target``)."""
    _check_target(target, steps)
    ratios = [1.0 - (1.0 - target) ** (i / steps) for i in range(1, steps + 1)]
    ratios[-1] = target  # exact despite rounding
    return ratios


def cumulative_ratios(kind: str, target: float, steps: int) -> list[float]:
    """Cumulative removed fraction of the original prunable channels after each step.

    Args:
        kind: ``"linear"`` or ``"geometric"``.
        target: final fraction removed, in [0, 1).
        steps: number of pruning steps, >= 1.

    Returns:
        ``steps`` non-decreasing values, the last equal to ``target``.

    Raises:
        ValueError: unknown ``kind``, ``target`` outside [0, 1) or ``steps < 1``.
    """
    if kind == "linear":
        return linear_schedule(target, steps)
    if kind == "geometric":
        return geometric_schedule(target, steps)
    raise ValueError(f"unknown schedule kind {kind!r}; valid: {', '.join(SCHEDULE_KINDS)}")


def step_ratio(done: float, goal: float) -> float:
    """Ratio to pass to ``prune()`` on the current model to go from cumulative ``done`` to cumulative ``goal``.

    ``r = (goal - done) / (1 - done)``: the current model keeps ``1 - done`` of the original channels.

    Raises:
        ValueError: ``not 0 <= done <= goal < 1``.
    """
    if not 0.0 <= done <= goal < 1.0:
        raise ValueError(f"need 0 <= done <= goal < 1, got done={done}, goal={goal}")
    return (goal - done) / (1.0 - done)


def step_epochs(steps: int, at_epochs: Sequence[int] | None = None, every_n_epochs: int = 1) -> list[int]:
    """Epochs (0-based, of the fine-tune run) at whose start each pruning step happens.

    Args:
        steps: number of pruning steps, >= 1.
        at_epochs: explicit epochs, one per step, strictly increasing, >= 0; ``None`` → every ``every_n_epochs``
            epochs from epoch 0: ``[0, n, 2n, ...]``.
        every_n_epochs: spacing when ``at_epochs`` is ``None``, >= 1.

    Raises:
        ValueError: ``steps < 1``, ``every_n_epochs < 1``, or ``at_epochs`` of the wrong length / not strictly
            increasing / negative.
    """
    if steps < 1:
        raise ValueError(f"schedule steps must be >= 1, got {steps}")
    if at_epochs is None:
        if every_n_epochs < 1:
            raise ValueError(f"schedule every_n_epochs must be >= 1, got {every_n_epochs}")
        return [i * every_n_epochs for i in range(steps)]
    epochs = [int(e) for e in at_epochs]
    if len(epochs) != steps:
        raise ValueError(f"schedule at_epochs has {len(epochs)} entries, expected one per step ({steps})")
    if epochs[0] < 0 or any(b <= a for a, b in zip(epochs, epochs[1:], strict=False)):
        raise ValueError(f"schedule at_epochs must be >= 0 and strictly increasing, got {epochs}")
    return epochs
