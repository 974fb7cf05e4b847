"""Sp2PS metric: known answers on constructed maps, degenerate pairs, accumulation and per-class accounting."""

from __future__ import annotations

import pytest
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from prunescope.metrics import Sp2PS, sp2ps_pair
from prunescope.metrics.sp2ps import sp2ps_terms, spatial_similarity, spectral_similarity


def gaussian_blob(height: int, width: int, cy: float, cx: float, sigma: float) -> torch.Tensor:
    """A Gaussian blob min–max normalised to [0, 1]."""
    y, x = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
    blob = torch.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sigma**2))
    return (blob - blob.min()) / (blob.max() - blob.min())


def smooth_random_maps(count: int, height: int, width: int, seed: int) -> torch.Tensor:
    """Random smooth maps in [0, 1] (upsampled noise), like CAMs."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 1, height // 8, width // 8, generator=generator)
    maps = torch.nn.functional.interpolate(
        coarse, size=(height, width), mode="bilinear", align_corners=False
    )[:, 0]
    low = maps.amin(dim=(1, 2), keepdim=True)
    high = maps.amax(dim=(1, 2), keepdim=True)
    return (maps - low) / (high - low)


def test_identical_maps_score_one() -> None:
    maps = smooth_random_maps(6, 48, 64, seed=0)
    spatial, spectral, score = sp2ps_pair(maps, maps.clone())
    for term in (spatial, spectral, score):
        torch.testing.assert_close(term, torch.ones(6), atol=1e-6, rtol=0)


def test_shifted_blob_keeps_spectrum_but_not_place() -> None:
    blob = gaussian_blob(64, 64, 32, 32, 5)
    circular = torch.roll(blob, shifts=(10, 10), dims=(0, 1))
    inside = gaussian_blob(64, 64, 40, 40, 5)
    spatial, spectral, score = sp2ps_pair(torch.stack([blob, blob]), torch.stack([circular, inside]))
    assert spectral[0] > 0.999  # circular shift: identical amplitude spectrum
    assert spectral[1] > 0.95
    assert (spatial < 0.8).all()
    assert (score < spectral).all()


def test_blob_of_very_different_width_has_low_spectral_similarity() -> None:
    narrow = gaussian_blob(64, 64, 32, 32, 3)
    wide = gaussian_blob(64, 64, 32, 32, 16)
    shifted = torch.roll(narrow, shifts=(6, 6), dims=(0, 1))
    spectral = spectral_similarity(torch.stack([narrow, narrow]), torch.stack([wide, shifted]))
    assert spectral[0] < 0.6
    assert spectral[1] > spectral[0] + 0.3


def test_spatial_term_is_torchmetrics_ssim_clipped() -> None:
    h0 = smooth_random_maps(5, 40, 56, seed=1)
    h1 = (h0 + 0.4 * smooth_random_maps(5, 40, 56, seed=2)).clamp(0, 1)
    h1[4] = 1 - h0[4]  # anti-correlated: negative SSIM, clipped to 0
    reference = structural_similarity_index_measure(
        h1[:, None],
        h0[:, None],
        gaussian_kernel=True,
        kernel_size=11,
        sigma=1.5,
        data_range=1.0,
        reduction="none",
    )
    assert reference[4] < 0
    torch.testing.assert_close(spatial_similarity(h0, h1), reference.clamp(0, 1), atol=1e-5, rtol=0)


def test_score_is_harmonic_mean_of_terms() -> None:
    h0 = smooth_random_maps(8, 32, 32, seed=3)
    h1 = smooth_random_maps(8, 32, 32, seed=4)
    spatial, spectral, score = sp2ps_pair(h0, h1)
    torch.testing.assert_close(score, 2 * spatial * spectral / (spatial + spectral))
    assert ((score >= 0) & (score <= 1)).all()


def test_constant_maps_one_scores_zero_both_are_skipped() -> None:
    informative = smooth_random_maps(1, 32, 32, seed=5)[0]
    zeros, halves = torch.zeros(32, 32), torch.full((32, 32), 0.5)
    terms = sp2ps_terms(torch.stack([informative, zeros, zeros]), torch.stack([zeros, informative, halves]))
    assert terms.valid.tolist() == [True, True, False]
    for term in (terms.spatial, terms.spectral, terms.score):
        assert term.tolist() == [0.0, 0.0, 0.0]

    metric = Sp2PS()
    metric.update(torch.stack([informative, zeros, zeros]), torch.stack([informative, informative, halves]))
    result = metric.compute()
    assert result["pairs"] == 2 and result["skipped"] == 1
    assert result["sp2ps"] == pytest.approx(0.5, abs=1e-6)  # (1 + 0) / 2, the skipped pair left out


def test_no_pairs_gives_zeros_not_nan() -> None:
    metric = Sp2PS(num_classes=3)
    both_constant = torch.zeros(2, 16, 16)
    metric.update(both_constant, both_constant, torch.tensor([0, 1]))
    result = metric.compute()
    assert result == {
        "sp2ps": 0.0,
        "spatial": 0.0,
        "spectral": 0.0,
        "hm_of_means": 0.0,
        "pairs": 0,
        "skipped": 2,
        "per_class": {},
    }


def test_batch_split_invariance() -> None:
    h0 = smooth_random_maps(12, 32, 40, seed=6)
    h1 = (h0 + 0.5 * smooth_random_maps(12, 32, 40, seed=7)).clamp(0, 1)
    h1[3] = 0.0  # a one-constant pair
    h0[7], h1[7] = 0.2, 0.7  # a skipped pair
    class_ids = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3])
    whole = Sp2PS(num_classes=4)
    whole.update(h0, h1, class_ids)
    split = Sp2PS(num_classes=4)
    for chunk in (slice(0, 1), slice(1, 5), slice(5, 6), slice(6, 12)):
        split.update(h0[chunk], h1[chunk], class_ids[chunk])
    expected, got = whole.compute(), split.compute()
    assert got["pairs"] == expected["pairs"] == 11 and got["skipped"] == expected["skipped"] == 1
    for key in ("sp2ps", "spatial", "spectral"):
        assert got[key] == pytest.approx(expected[key], abs=1e-6)
    assert got["per_class"].keys() == expected["per_class"].keys()
    for c, value in expected["per_class"].items():
        assert got["per_class"][c] == pytest.approx(value, abs=1e-6)
    _, _, score = sp2ps_pair(h0, h1)
    valid = torch.ones(12, dtype=torch.bool)
    valid[7] = False
    assert expected["sp2ps"] == pytest.approx(float(score[valid].mean()), abs=1e-6)


def test_per_class_accounting() -> None:
    maps = smooth_random_maps(4, 32, 32, seed=8)
    other = smooth_random_maps(4, 32, 32, seed=9)
    h0 = torch.stack([maps[0], maps[1], maps[2], maps[3], torch.zeros(32, 32)])
    h1 = torch.stack([maps[0], maps[1], other[2], torch.zeros(32, 32), torch.zeros(32, 32)])
    metric = Sp2PS(num_classes=5)
    metric.update(h0, h1, torch.tensor([0, 0, 2, 2, 4]))
    result = metric.compute()
    _, _, score = sp2ps_pair(h0, h1)
    assert set(result["per_class"]) == {0, 2}  # class 4 only has a skipped pair; 1 and 3 none
    assert result["per_class"][0] == pytest.approx(1.0, abs=1e-6)
    assert result["per_class"][2] == pytest.approx(float(score[2]) / 2, abs=1e-6)  # (s + 0) / 2
    assert result["pairs"] == 4 and result["skipped"] == 1


def test_invalid_inputs_raise() -> None:
    maps = smooth_random_maps(2, 32, 32, seed=10)
    with pytest.raises(ValueError, match="num_classes=None"):
        Sp2PS().update(maps, maps, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="class ids must lie"):
        Sp2PS(num_classes=2).update(maps, maps, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="equal shape"):
        sp2ps_pair(maps, maps[:1])
    with pytest.raises(ValueError, match="num_classes"):
        Sp2PS(num_classes=0)


def test_metric_flags_follow_torchmetrics_conventions() -> None:
    assert Sp2PS.is_differentiable is False
    assert Sp2PS.higher_is_better is True
    assert Sp2PS.full_state_update is False
    metric = Sp2PS(num_classes=3)
    assert all(isinstance(getattr(metric, name), torch.Tensor) for name in metric._defaults)


def test_hm_of_means_from_the_sum_states() -> None:
    metric = Sp2PS()
    metric.spatial_sum += 1.2
    metric.spectral_sum += 0.6
    metric.pairs += 2
    assert metric.compute()["hm_of_means"] == pytest.approx(2 * 0.6 * 0.3 / (0.6 + 0.3))  # = 0.4

    h0 = smooth_random_maps(6, 32, 32, seed=10)
    h1 = (h0 + smooth_random_maps(6, 32, 32, seed=11)).clamp(0, 1)
    spatial, spectral, score = sp2ps_pair(h0, h1)
    metric = Sp2PS()
    metric.update(h0[:2], h1[:2])
    metric.update(h0[2:], h1[2:])
    result = metric.compute()
    mean_spatial, mean_spectral = float(spatial.mean()), float(spectral.mean())
    expected = 2 * mean_spatial * mean_spectral / (mean_spatial + mean_spectral)
    assert result["hm_of_means"] == pytest.approx(expected, abs=1e-6)
    assert result["hm_of_means"] != pytest.approx(result["sp2ps"], abs=1e-4)  # a different aggregate
