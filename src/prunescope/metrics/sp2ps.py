"""Sp2PS: spatial-spectral similarity of the CAMs of a baseline and a pruned model (Renza & Ballesteros, 2023).

For one pair of CAMs H⁰ (baseline) and H¹ (pruned) of the same sample and target, both in [0, 1]:

- spatial  S_sp = clip(SSIM(H⁰, H¹), 0, 1), Gaussian window 11×11, σ = 1.5, data range 1 (as torchmetrics);
- spectral S_sf = 1 − Σ|A⁰ − A¹| / (ΣA⁰ + ΣA¹), with A = |FFT2(H − mean(H))|;
- score    = 2·S_sp·S_sf / (S_sp + S_sf)  (0 when both are 0).

Sp2PS is the mean of the per-pair score. The paper's aggregation ("integrated by the harmonic mean for all
samples") can also be read as the harmonic mean of the mean S_sp and the mean S_sf; :class:`Sp2PS` reports that
too, as ``hm_of_means``.

Degenerate pairs: both maps constant → skipped (no score, counted in ``skipped``); exactly one constant →
spatial = spectral = score = 0. Identical non-constant maps score 1. Sp2PS is the mean score over the pairs
that were not skipped.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric

CONSTANT_MAP_TOLERANCE = 1e-6
"""A map whose max − min is at most this is constant."""
SSIM_SIGMA = 1.5
SSIM_PAD = 5
"""Half-width of torchmetrics' Gaussian window for σ = 1.5 (int(3.5σ + 0.5) = 5, 11 taps)."""
SSIM_K1, SSIM_K2 = 0.01, 0.03


class Sp2PSTerms(NamedTuple):
    """Per-pair Sp2PS terms, each of shape (B,).

    Attributes:
        spatial: S_sp in [0, 1].
        spectral: S_sf in [0, 1].
        score: harmonic mean of S_sp and S_sf.
        valid: False for skipped pairs (both maps constant); their three terms are 0.
    """

    spatial: Tensor
    spectral: Tensor
    score: Tensor
    valid: Tensor


def _check_maps(h0: Tensor, h1: Tensor) -> None:
    if h0.shape != h1.shape or h0.ndim != 3:
        raise ValueError(
            f"Sp2PS needs two CAM batches of equal shape (B, H, W); got {tuple(h0.shape)} and {tuple(h1.shape)}"
        )
    if min(h0.shape[-2:]) <= SSIM_PAD:
        raise ValueError(
            f"Sp2PS needs maps larger than 5×5 (SSIM reflect padding); got {tuple(h0.shape[-2:])}"
        )


def spectral_similarity(h0: Tensor, h1: Tensor) -> Tensor:
    """S_sf = 1 − Σ|A⁰ − A¹| / (ΣA⁰ + ΣA¹), A = |FFT2(H − mean(H))|, per map of a (B, H, W) batch.

    The spectra of real maps are Hermitian (A[u, v] = A[−u, −v]), so the sums over the full FFT2 are taken over
    the half spectrum of ``rfft2`` with the mirrored columns counted twice (same value, half the work).
    Returns 0 where both amplitude sums are 0 (both maps constant).
    """
    width = h0.shape[-1]
    a0 = torch.fft.rfft2(h0 - h0.mean(dim=(-2, -1), keepdim=True)).abs()
    a1 = torch.fft.rfft2(h1 - h1.mean(dim=(-2, -1), keepdim=True)).abs()
    column_count = torch.full((a0.shape[-1],), 2.0, dtype=a0.dtype, device=a0.device)
    column_count[0] = 1.0  # the DC column has no mirror, nor has the Nyquist column of an even width
    if width % 2 == 0:
        column_count[-1] = 1.0
    difference = ((a0 - a1).abs().sum(dim=-2) * column_count).sum(dim=-1)
    total = ((a0 + a1).sum(dim=-2) * column_count).sum(dim=-1)
    spectral = 1.0 - difference / total.clamp_min(torch.finfo(total.dtype).tiny)
    return torch.where(total > 0, spectral, torch.zeros_like(spectral)).clamp(0.0, 1.0)


def _gaussian_blur_operator(n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """(n, n) matrix of torchmetrics' SSIM window along one axis: reflect-pad by 5, 11-tap Gaussian, σ = 1.5."""
    offsets = torch.arange(-SSIM_PAD, SSIM_PAD + 1, dtype=dtype, device=device)
    taps = torch.exp(-((offsets / SSIM_SIGMA) ** 2) / 2)
    taps = (taps / taps.sum()).view(1, 1, -1)
    impulses = torch.eye(n, dtype=dtype, device=device).unsqueeze(1)
    return F.conv1d(F.pad(impulses, (SSIM_PAD, SSIM_PAD), mode="reflect"), taps).squeeze(1).T


def spatial_similarity(h0: Tensor, h1: Tensor) -> Tensor:
    """S_sp = clip(SSIM(H¹, H⁰), 0, 1) per map of a (B, H, W) batch.

    The same SSIM as ``torchmetrics.functional.structural_similarity_index_measure(gaussian_kernel=True,
    kernel_size=11, sigma=1.5, data_range=1.0, reduction="none")``: local means μ, variances σ² and covariance
    σ₀₁ under the reflect-padded 11×11 Gaussian window, SSIM = mean_xy (2μ₀μ₁ + C₁)(2σ₀₁ + C₂) /
    ((μ₀² + μ₁² + C₁)(σ₀² + σ₁² + C₂)), C₁ = 0.01², C₂ = 0.03². The separable window is applied as two
    matrix products (about 6× faster on CPU than torchmetrics' 2-D grouped convolution; equal to ~1e-6).
    """
    height, width = h0.shape[-2:]
    blur_rows = _gaussian_blur_operator(height, h0.dtype, h0.device)
    blur_cols = _gaussian_blur_operator(width, h0.dtype, h0.device)
    moments = blur_rows @ torch.stack([h1, h0, h1 * h1, h0 * h0, h1 * h0]) @ blur_cols.T
    mu1, mu0, var1, var0, covariance = moments  # second moments, made central in place below
    mu11, mu00, mu10 = mu1 * mu1, mu0 * mu0, mu1 * mu0
    var1.sub_(mu11).clamp_min_(0.0)
    var0.sub_(mu00).clamp_min_(0.0)
    covariance.sub_(mu10)
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    numerator = mu10.mul_(2).add_(c1).mul_(covariance.mul_(2).add_(c2))  # (2μ₀μ₁ + C₁)(2σ₀₁ + C₂)
    denominator = mu11.add_(mu00).add_(c1).mul_(var1.add_(var0).add_(c2))  # (μ₀² + μ₁² + C₁)(σ₀² + σ₁² + C₂)
    return numerator.div_(denominator).flatten(1).mean(dim=1).clamp(0.0, 1.0)


def sp2ps_terms(h0: Tensor, h1: Tensor) -> Sp2PSTerms:
    """All Sp2PS terms of a batch of CAM pairs, with the ``valid`` mask of pairs that are not skipped.

    Args:
        h0: baseline CAMs (B, H, W) in [0, 1].
        h1: pruned-model CAMs (B, H, W) in [0, 1], same targets.

    Returns:
        ``Sp2PSTerms`` in float32; skipped pairs (both constant) have 0 terms and ``valid`` False,
        pairs with exactly one constant map have 0 terms and ``valid`` True.
    """
    _check_maps(h0, h1)
    h0 = h0.detach().float()
    h1 = h1.detach().float()
    constant0 = (h0.amax(dim=(-2, -1)) - h0.amin(dim=(-2, -1))) <= CONSTANT_MAP_TOLERANCE
    constant1 = (h1.amax(dim=(-2, -1)) - h1.amin(dim=(-2, -1))) <= CONSTANT_MAP_TOLERANCE
    informative = ~(constant0 | constant1)
    spatial = torch.zeros(h0.shape[0], dtype=h0.dtype, device=h0.device)
    spectral = torch.zeros_like(spatial)
    if bool(informative.all()):
        spatial, spectral = spatial_similarity(h0, h1), spectral_similarity(h0, h1)
    elif bool(informative.any()):  # score only the pairs that need it; the rest stay 0
        spatial[informative] = spatial_similarity(h0[informative], h1[informative])
        spectral[informative] = spectral_similarity(h0[informative], h1[informative])
    denominator = spatial + spectral
    score = torch.where(denominator > 0, 2 * spatial * spectral / denominator.clamp_min(1e-12), 0.0)
    return Sp2PSTerms(spatial, spectral, score, ~(constant0 & constant1))


def sp2ps_pair(h0: Tensor, h1: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Spatial, spectral and Sp2PS score of each CAM pair of a batch.

    Args:
        h0: baseline CAMs (B, H, W) in [0, 1].
        h1: pruned-model CAMs (B, H, W) in [0, 1].

    Returns:
        ``(spatial, spectral, score)``, three (B,) float32 tensors. Skipped pairs (both maps constant) get 0 in
        all three; use ``sp2ps_terms`` for the ``valid`` mask that tells them apart.
    """
    terms = sp2ps_terms(h0, h1)
    return terms.spatial, terms.spectral, terms.score


class Sp2PS(Metric):
    """Mean Sp2PS over CAM pairs, accumulated as sums (safe under distributed reduction).

    ``compute()`` returns a JSON-safe dict: ``sp2ps``, ``spatial``, ``spectral`` (float means over the pairs
    not skipped; 0.0 when there are none), ``hm_of_means`` (harmonic mean of ``spatial`` and ``spectral``, 0.0
    when both are 0), ``pairs`` (int, pairs scored), ``skipped`` (int, both maps constant),
    ``per_class`` ({class_id: mean score} for classes with at least one scored pair; empty without
    ``num_classes``).

    Args:
        num_classes: size of the per-class accumulators; required to pass ``class_ids`` to ``update``.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    score_sum: Tensor
    spatial_sum: Tensor
    spectral_sum: Tensor
    pairs: Tensor
    skipped: Tensor
    class_score_sum: Tensor
    class_pairs: Tensor

    def __init__(self, num_classes: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"Sp2PS num_classes must be a positive int or None; got {num_classes}")
        self.num_classes = num_classes
        for name in ("score_sum", "spatial_sum", "spectral_sum"):
            self.add_state(name, default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        for name in ("pairs", "skipped"):
            self.add_state(name, default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        size = num_classes or 0
        self.add_state(
            "class_score_sum", default=torch.zeros(size, dtype=torch.float64), dist_reduce_fx="sum"
        )
        self.add_state("class_pairs", default=torch.zeros(size, dtype=torch.long), dist_reduce_fx="sum")

    def update(
        self, h0: Tensor, h1: Tensor, class_ids: Tensor | None = None, terms: Sp2PSTerms | None = None
    ) -> None:
        """Score a batch of CAM pairs (B, H, W); ``class_ids`` (B,) int gives each pair's class.

        ``terms``: ``sp2ps_terms(h0, h1)`` when the caller has already computed them (to keep the per-pair
        values, as ``Sp2PSCallback`` does for ``sp2ps_pairs.csv``); they are added instead of scoring again.
        """
        if terms is None:
            terms = sp2ps_terms(h0, h1)
        elif terms.score.numel() != h0.shape[0]:
            raise ValueError(
                f"Sp2PS.update got terms of {terms.score.numel()} pairs for {h0.shape[0]} CAM pairs"
            )
        valid = terms.valid
        self.score_sum += terms.score[valid].double().sum()
        self.spatial_sum += terms.spatial[valid].double().sum()
        self.spectral_sum += terms.spectral[valid].double().sum()
        self.pairs += valid.sum()
        self.skipped += (~valid).sum()
        if class_ids is None:
            return
        if self.num_classes is None:
            raise ValueError("Sp2PS.update got class_ids but the metric was built with num_classes=None")
        class_ids = class_ids.to(device=valid.device, dtype=torch.long).reshape(-1)
        if class_ids.numel() != valid.numel():
            raise ValueError(
                f"Sp2PS.update needs one class id per pair; got {class_ids.numel()} for {valid.numel()}"
            )
        if class_ids.numel() and (class_ids.min() < 0 or class_ids.max() >= self.num_classes):
            raise ValueError(f"Sp2PS class ids must lie in [0, {self.num_classes}); got {class_ids.tolist()}")
        self.class_score_sum.index_add_(0, class_ids[valid], terms.score[valid].double())
        self.class_pairs.index_add_(0, class_ids[valid], torch.ones_like(class_ids[valid]))

    def compute(self) -> dict[str, Any]:
        """Means over the scored pairs, counts, and the per-class mean score."""
        pairs = int(self.pairs)
        denominator = max(pairs, 1)
        per_class = {
            int(c): float(self.class_score_sum[c] / self.class_pairs[c])
            for c in torch.nonzero(self.class_pairs).flatten()
        }
        spatial = float(self.spatial_sum) / denominator
        spectral = float(self.spectral_sum) / denominator
        return {
            "sp2ps": float(self.score_sum) / denominator,
            "spatial": spatial,
            "spectral": spectral,
            "hm_of_means": 2 * spatial * spectral / (spatial + spectral) if spatial + spectral > 0 else 0.0,
            "pairs": pairs,
            "skipped": int(self.skipped),
            "per_class": per_class,
        }
