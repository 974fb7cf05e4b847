"""PCA + next-convolution influence (López-González et al., Neural Networks 2024).

*How many*: for layer l with covariance eigenvalues ``lambda_1 >= ... >= lambda_C``,
``k_l(tau) = min { k : sum_{i<=k} lambda_i >= tau sum_i lambda_i }`` channels are kept. With a target ratio R,
``tau`` is found by bisection so that ``sum_l w_l (C_l - k_l(tau)) / sum_l w_l C_l ~= R``; or ``variance=tau`` is
given directly. *Which*: layer l keeps its ``k_l`` channels of highest NCI.

The covariance is that of the layer's channels as the next layers receive them (see
:mod:`prunescope.pruning.statistics`); with several readers, ``k_l`` is the largest over the readers. A unit read
without spatial extent (the units of a hidden Linear, or a conv read after global pooling) has one sample per
calibration image: its covariance has rank below the image count, so fewer images than units leave fewer than C
principal components and that unit loses channels at any ``tau``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
import torch_pruning as tp
from torch import nn

from prunescope.pruning.criteria.base import Criterion
from prunescope.pruning.criteria.next_conv_influence import next_conv_influence
from prunescope.pruning.criteria.registry import register_criterion
from prunescope.pruning.groups import ChannelUnit
from prunescope.pruning.selection import Limits, lowest, select_by_rank
from prunescope.pruning.statistics import collect_unit_statistics


def explained_variance_curve(covariance: torch.Tensor) -> torch.Tensor:
    """Cumulative explained-variance fractions of the eigenvalues in decreasing order, shape (C,)."""
    eigenvalues = torch.linalg.eigvalsh(covariance.to(torch.float64)).flip(0).clamp(min=0)
    total = eigenvalues.sum()
    if total <= 0:
        return torch.ones_like(eigenvalues)
    return eigenvalues.cumsum(0) / total


def components_for_variance(curve: torch.Tensor, tau: float) -> int:
    """``k(tau)``: smallest k >= 1 whose top-k eigenvalues explain at least ``tau`` of the variance."""
    reached = (curve >= tau - 1e-12).nonzero()
    return int(reached[0]) + 1 if len(reached) else len(curve)


def bisect_variance(
    curves: dict[str, torch.Tensor],
    units: Sequence[ChannelUnit],
    ratio: float,
    limits: Limits,
    steps: int = 60,
) -> float:
    """``tau`` in [0, 1] whose removed fraction ``sum_u w_u n_u(tau) / sum_u w_u C_u`` is closest to ``ratio``."""
    total = sum(u.weight * u.channels for u in units)

    def removed_fraction(tau: float) -> float:
        removed = sum(
            u.weight * limits.removal(u.channels, u.channels - components_for_variance(curves[u.name], tau))
            for u in units
        )
        return removed / total

    low, high = 0.0, 1.0  # removed_fraction decreases with tau
    for _ in range(steps):
        middle = (low + high) / 2
        if removed_fraction(middle) > ratio:
            low = middle
        else:
            high = middle
    return min((low, high), key=lambda tau: abs(removed_fraction(tau) - ratio))


def bisect_weighted_variance(
    curves: dict[str, torch.Tensor],
    units: Sequence[ChannelUnit],
    ratio: float,
    limits: Limits,
    factors: dict[str, float],
    steps: int = 64,
) -> float:
    """Unexplained variance ``u`` whose cost-weighted removal ``sum_u w_u n_u / sum_u w_u C_u`` is closest to ``ratio``.

    Unit ``u`` keeps ``k_u(1 - u f_u)`` channels: it may leave ``f_u`` times the unexplained variance of a unit of
    factor 1 (``target="params+macs"`` weights, :func:`prunescope.pruning.target.cost_weights`); with every
    ``f_u = 1`` this is :func:`bisect_variance` with ``tau = 1 - u``. Bisected on ``log u``.
    """
    total = sum(u.weight * u.channels for u in units)

    def removed_fraction(log_unexplained: float) -> float:
        removed = 0
        for unit in units:
            tau = 1.0 - math.exp(log_unexplained) * factors[unit.name]
            keep = components_for_variance(curves[unit.name], tau)
            removed += unit.weight * limits.removal(unit.channels, unit.channels - keep)
        return removed / total

    logs = [math.log(factors[u.name]) for u in units]
    low, high = math.log(1e-15) - max(logs), -min(logs)  # removed_fraction increases with log u
    for _ in range(steps):
        middle = (low + high) / 2
        if removed_fraction(middle) < ratio:
            low = middle
        else:
            high = middle
    return math.exp(min((low, high), key=lambda value: abs(removed_fraction(value) - ratio)))


@register_criterion("pca_nci")
class PCANCICriterion(Criterion):
    """Scores are NCI; the per-layer counts come from PCA of the activations (see module docstring).

    Options:
        variance: Explained-variance threshold ``tau`` in (0, 1]; ``None`` finds ``tau`` from ``ratio``.

    With ``scope="local"`` and no ``variance``, every layer keeps ``C_l - round(R C_l)`` channels of highest NCI.
    ``k`` is the largest over the unit's readers (several for concatenations, residual streams and ties).
    With ``cost_weights`` (``target="params+macs"``) unit u keeps ``k_u(1 - (1 - tau) f_u)``
    (:func:`bisect_weighted_variance`).
    """

    needs_calibration = True

    def __init__(self, variance: float | None = None) -> None:
        if variance is not None and not 0.0 < float(variance) <= 1.0:
            raise ValueError(f"pca_nci variance must be in (0, 1], got {variance}")
        self.variance = None if variance is None else float(variance)
        self.curves: dict[str, torch.Tensor] = {}
        self.tau: float | None = None

    @property
    def uses_ratio(self) -> bool:
        return self.variance is None

    def prepare(
        self,
        model: nn.Module,
        graph: tp.DependencyGraph,
        units: Sequence[ChannelUnit],
        calibration: Iterable | None,
        batches: int,
    ) -> None:
        stats = collect_unit_statistics(model, units, calibration, batches, with_covariance=True)
        self.curves = {}
        for unit in units:
            curves = [explained_variance_curve(s.covariance) for s in stats[unit.name]]
            # elementwise min over readers: k(tau) is then the max of the readers' k
            self.curves[unit.name] = torch.stack(curves).min(dim=0).values

    def __call__(self, unit: ChannelUnit) -> torch.Tensor:
        return next_conv_influence(unit)

    def select(
        self, units: Sequence[ChannelUnit], ratio: float, scope: str, limits: Limits
    ) -> dict[str, list[int]]:
        if self.variance is None and scope == "local":
            return select_by_rank(units, {u.name: self.scores(u) for u in units}, ratio, scope, limits)
        weights = self.cost_weights if self.variance is None else None
        if weights is None:
            self.tau = (
                self.variance
                if self.variance is not None
                else bisect_variance(self.curves, units, ratio, limits)
            )
        else:  # target="params+macs": unit u may leave weights[u] times the unexplained variance 1 - tau
            unexplained = bisect_weighted_variance(self.curves, units, ratio, limits, weights)
            self.tau = 1.0 - unexplained
        removal = {}
        for unit in units:
            tau = self.tau if weights is None else 1.0 - unexplained * weights[unit.name]
            keep = components_for_variance(self.curves[unit.name], tau)
            removal[unit.name] = lowest(
                self.scores(unit), limits.removal(unit.channels, unit.channels - keep)
            )
        return removal
