"""Criteria and statistics against hand computations on tiny real networks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from prunescope.models import build_model
from prunescope.pruning import PruningOptions, make_criterion, plan_pruning, prunable_units, prune
from prunescope.pruning.criteria.isd import layer_z_scores
from prunescope.pruning.criteria.next_conv_influence import next_conv_influence
from prunescope.pruning.criteria.pca_nci import components_for_variance, explained_variance_curve
from prunescope.pruning.statistics import FeatureStatistics, collect_unit_statistics, unit_readers


class ConcatNet(nn.Module):
    """conv1 -> BN -> ReLU -> conv2 -> BN -> ReLU; head reads cat(conv1 act, conv2 act)."""

    task = "segmentation"
    output_layer_names = ("head",)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 3, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(3)
        self.head = nn.Conv2d(7, 2, 1)

    def channel_ties(self) -> list[tuple[str, str]]:
        return []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.bn1(self.conv1(x)))
        b = F.relu(self.bn2(self.conv2(a)))
        return self.head(torch.cat([a, b], dim=1))


def tiny_net() -> ConcatNet:
    torch.manual_seed(0)
    net = ConcatNet()
    with torch.no_grad():
        for bn in (net.bn1, net.bn2):
            bn.weight.uniform_(-1, 1)
            bn.bias.uniform_(-0.2, 0.2)
    return net


def units_by_name(net: nn.Module, x: torch.Tensor) -> dict:
    _, units = prunable_units(net, x)
    return {unit.name: unit for unit in units}


def calibration_batches(
    count: int = 3, size: int = 16, classes: int = 2
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(5)
    return [
        (
            torch.randn(2, 3, size, size, generator=generator),
            torch.randint(0, classes, (2, size, size), generator=generator),
        )
        for _ in range(count)
    ]


# --- statistics ---------------------------------------------------------------------------------------------


def test_streaming_covariance_equals_torch_cov() -> None:
    generator = torch.Generator().manual_seed(0)
    batches = [torch.rand(3, 5, 4, 6, generator=generator) for _ in range(4)]
    stats = FeatureStatistics(5)
    for maps in batches:
        stats.update(maps)
    stacked = torch.cat([m.transpose(0, 1).reshape(5, -1) for m in batches], dim=1).double()
    torch.testing.assert_close(stats.covariance, torch.cov(stacked))
    torch.testing.assert_close(stats.mean, stacked.mean(dim=1))
    per_image_std = torch.cat([m.flatten(2).std(dim=2, correction=0) for m in batches]).double()
    torch.testing.assert_close(stats.spatial_std_mean, per_image_std.mean(dim=0))
    assert stats.pixels == 4 * 3 * 4 * 6 and stats.images == 12


def test_spatial_std_without_covariance_equals_torch_std() -> None:
    """The MSD-only path (no outer products) reads float32 maps and accumulates in float64."""
    generator = torch.Generator().manual_seed(1)
    batches = [
        3.0 + torch.rand(2, 4, 5, 7, generator=generator) for _ in range(3)
    ]  # mean well above the spread
    stats = FeatureStatistics(4, with_covariance=False)
    for maps in batches:
        stats.update(maps)
    per_image_std = torch.cat([m.double().flatten(2).std(dim=2, correction=0) for m in batches])
    torch.testing.assert_close(stats.spatial_std_mean, per_image_std.mean(dim=0))
    torch.testing.assert_close(stats.mean, torch.cat([m.double() for m in batches]).mean(dim=(0, 2, 3)))
    assert stats.outer.numel() == 0


def test_collection_observes_each_readers_input_and_cleans_up() -> None:
    net = tiny_net().train()
    x = torch.randn(2, 3, 8, 8)
    units = units_by_name(net, x)
    readers = unit_readers(units["conv1"])
    assert [(r.name, r.positions) for r in readers] == [("conv2", (0, 1, 2, 3)), ("head", (0, 1, 2, 3))]
    assert [(r.name, r.positions) for r in unit_readers(units["conv2"])] == [("head", (4, 5, 6))]
    bn_state = {k: v.clone() for k, v in net.bn1.state_dict().items()}
    stats = collect_unit_statistics(net, list(units.values()), [(x, None)], batches=5)
    assert net.training  # mode restored
    assert not any(m._forward_pre_hooks or m._forward_hooks for m in net.modules())  # hooks removed
    assert all(v.equal(bn_state[k]) for k, v in net.bn1.state_dict().items())  # eval pass: BN stats untouched
    net.eval()
    with torch.no_grad():
        expected = FeatureStatistics(4)
        expected.update(F.relu(net.bn1(net.conv1(x))))  # what conv2 and the head receive of conv1's channels
    for observed in stats["conv1"]:
        torch.testing.assert_close(observed.covariance, expected.covariance)
    assert stats["conv2"][0].channels == 3


def test_every_deeplab_unit_gets_statistics_of_its_width() -> None:
    """Depthwise convs of a unit (separable convs) read it too: their input is observed."""
    torch.manual_seed(0)
    net = build_model("deeplabv3plus", num_classes=3, decoder_channels=8)
    x = torch.randn(2, 3, 32, 32)
    _, units = prunable_units(net, x)
    stats = collect_unit_statistics(net, units, [(x, None)], batches=1, with_covariance=False)
    decoder = next(u for u in units if u.name == "model.decoder.block2.0.0")
    assert "model.decoder.block2.0.0" in [r.name for r in unit_readers(decoder)]
    for unit in units:
        assert [s.channels for s in stats[unit.name]] == [unit.channels] * len(unit_readers(unit))


def test_isd_msd_is_neutral_for_units_read_without_spatial_extent() -> None:
    """VGG's last conv is read only by the classifier after global pooling: no spatial std, MSD = 1."""
    torch.manual_seed(0)
    net = build_model("vgg16", num_classes=4, width_mult=0.125)
    x = torch.randn(2, 3, 32, 32)
    plan = plan_pruning(net, PruningOptions(method="isd", ratio=0.3), x, [(x, None)])
    last = next(u for u in plan.units if u.name == "features.40")
    assert [r.name for r in unit_readers(last)] == ["classifier.0"]
    assert plan.criterion.msd["features.40"].equal(torch.ones(last.channels, dtype=torch.float64))
    assert not plan.criterion.msd["features.37"].eq(1).all()


# --- PCA ------------------------------------------------------------------------------------------------------


def test_components_for_variance() -> None:
    curve = explained_variance_curve(torch.diag(torch.tensor([1.0, 4.0, 2.0, 3.0])))
    torch.testing.assert_close(curve, torch.tensor([0.4, 0.7, 0.9, 1.0], dtype=torch.float64))
    assert components_for_variance(curve, 0.1) == 1
    assert components_for_variance(curve, 0.7) == 2
    assert components_for_variance(curve, 0.71) == 3
    assert components_for_variance(curve, 1.0) == 4


@pytest.mark.parametrize("ratio", [0.3, 0.6])
def test_pca_bisection_meets_ratio(ratio: float) -> None:
    net = build_model("unet", num_classes=3, depth=3, base_channels=4)
    x = torch.randn(2, 3, 32, 32)
    calibration = calibration_batches(count=3, size=32, classes=3)
    result = prune(net, PruningOptions(method="pca_nci", ratio=ratio, calibration_batches=3), x, calibration)
    assert 0.0 < result.details["tau"] < 1.0
    assert result.removed_fraction == pytest.approx(ratio, abs=0.1)


def test_pca_fixed_variance_keeps_k_highest_nci_channels() -> None:
    net = tiny_net()
    x = torch.randn(2, 3, 12, 12)
    calibration = calibration_batches(count=2, size=12)
    plan = plan_pruning(
        net, PruningOptions(method="pca_nci", method_options={"variance": 0.8}), x, calibration
    )
    # hand computation for conv1: covariance of relu(bn1(conv1(x))) over all pixels, eval mode
    net.eval()
    with torch.no_grad():
        maps = torch.cat([F.relu(net.bn1(net.conv1(images))) for images, _ in calibration])
    samples = maps.transpose(0, 1).reshape(4, -1).double()
    eigenvalues = torch.linalg.eigvalsh(torch.cov(samples)).flip(0)
    k = int((eigenvalues.cumsum(0) / eigenvalues.sum() >= 0.8 - 1e-12).nonzero()[0]) + 1
    nci = net.conv2.weight.abs().sum(dim=(0, 2, 3)) + net.head.weight[:, :4].abs().sum(dim=(0, 2, 3))
    expected_removed = sorted(torch.argsort(nci.detach())[: 4 - k].tolist())
    assert plan.removal["conv1"] == expected_removed


# --- NCI and ISD ----------------------------------------------------------------------------------------------


def test_next_conv_influence_matches_hand_computation() -> None:
    net = tiny_net()
    units = units_by_name(net, torch.randn(1, 3, 8, 8))
    assert set(units) == {"conv1", "conv2"}  # head is an output layer
    # conv1's channels are read by conv2 and by the head (through the concatenation, offset 0)
    expected1 = net.conv2.weight.abs().sum(dim=(0, 2, 3)) + net.head.weight[:, :4].abs().sum(dim=(0, 2, 3))
    # conv2's channels are read by the head at offset 4
    expected2 = net.head.weight[:, 4:].abs().sum(dim=(0, 2, 3))
    torch.testing.assert_close(next_conv_influence(units["conv1"]), expected1.double().detach())
    torch.testing.assert_close(next_conv_influence(units["conv2"]), expected2.double().detach())


def test_isd_z_scores() -> None:
    nci = torch.tensor([1.0, 2.0, 4.0, 8.0])
    msd = torch.tensor([2.0, 1.0, 1.0, 2.0])
    s = (nci / 8) * (msd / 2)
    expected = (s - s.mean()) / s.std(correction=0)
    z = layer_z_scores(nci, msd)
    torch.testing.assert_close(z, expected.double())
    assert z.mean().abs() < 1e-12 and z.std(correction=0) == pytest.approx(1.0)
    assert layer_z_scores(torch.ones(3), torch.ones(3)).equal(torch.zeros(3, dtype=torch.float64))


def test_isd_threshold_mode_removes_every_channel_below_minus_alpha() -> None:
    net = build_model("vgg16", num_classes=4, width_mult=0.125)
    x = torch.randn(2, 3, 32, 32)
    calibration = [(x, torch.randint(0, 4, (2,)))]
    criterion = make_criterion("isd", {"alpha": 0.5})
    plan = plan_pruning(
        net, PruningOptions(method="isd", ratio=0.0, method_options={"alpha": 0.5}), x, calibration
    )
    criterion.msd = plan.criterion.msd
    total = 0
    for unit in plan.units:
        z = criterion(unit)
        expected = sorted((z < -0.5).nonzero().flatten().tolist())
        assert plan.removal[unit.name] == expected
        total += len(expected)
    assert total > 0  # ratio=0 does not switch threshold mode off
    result = prune(
        net, PruningOptions(method="isd", ratio=0.0, method_options={"alpha": 0.5}), x, calibration
    )
    assert result.params_after < result.params_before


# --- baselines -------------------------------------------------------------------------------------------------


def test_magnitude_and_bn_criteria_match_definitions() -> None:
    net = tiny_net()
    unit = units_by_name(net, torch.randn(1, 3, 8, 8))["conv1"]
    w = net.conv1.weight.detach().flatten(1).double()
    torch.testing.assert_close(make_criterion("l1")(unit), w.abs().sum(1))
    torch.testing.assert_close(make_criterion("l2")(unit), w.norm(dim=1))
    torch.testing.assert_close(make_criterion("fpgm")(unit), torch.cdist(w, w).sum(1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(make_criterion("bn_scale")(unit), net.bn1.weight.detach().abs().double())


def test_taylor_matches_autograd_hand_computation() -> None:
    net = tiny_net()
    calibration = calibration_batches(count=2, size=8)
    calibration[0][1][0, 0, :4] = 255  # ignored pixels
    graph, units = prunable_units(net, calibration[0][0])
    criterion = make_criterion("taylor", {"ignore_index": 255})
    criterion.prepare(net, graph, units, calibration, batches=2)
    unit = next(u for u in units if u.name == "conv2")
    net.eval()
    grad = sum(
        torch.autograd.grad(F.cross_entropy(net(x), y, ignore_index=255), net.conv2.weight)[0]
        for x, y in calibration
    )
    expected = (net.conv2.weight * grad).abs().flatten(1).sum(1).detach().double()
    torch.testing.assert_close(criterion(unit), expected)
    assert net.conv2.weight.grad is None  # no side effect on .grad


def test_random_is_reproducible_with_a_seed() -> None:
    net = tiny_net()
    unit = units_by_name(net, torch.randn(1, 3, 8, 8))["conv1"]
    first = make_criterion("random", {"seed": 7})(unit)
    assert first.equal(make_criterion("random", {"seed": 7})(unit))
    assert not first.equal(make_criterion("random", {"seed": 8})(unit))


def test_global_scope_compares_layers_after_mean_normalisation() -> None:
    net = tiny_net()
    with torch.no_grad():
        net.conv2.weight.mul_(100.0)  # raw L1 of conv2 is now far larger than conv1's
    x = torch.randn(1, 3, 8, 8)
    plan = plan_pruning(net, PruningOptions(method="l1", ratio=3 / 7, scope="global"), x)
    assert plan.removal["conv1"] and plan.removal["conv2"]  # both layers lose channels despite the scale gap


# --- real data ---------------------------------------------------------------------------------------------------

DATA_DIR = Path(
    os.environ.get("PRUNESCOPE_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data")
)


@pytest.mark.data
@pytest.mark.skipif(not (DATA_DIR / "camvid" / "train").is_dir(), reason="CamVid not found (../shared/data)")
def test_pca_nci_and_taylor_on_camvid_images() -> None:
    """Real CamVid images (half-size crops) as calibration: PCA bisection meets the ratio; taylor ignores void."""
    paths = sorted((DATA_DIR / "camvid" / "train").glob("*.png"))[:4]
    images = torch.stack(
        [
            torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1).float() / 255
            for p in paths
        ]
    )
    labels = torch.stack(
        [
            torch.from_numpy(np.array(Image.open(DATA_DIR / "camvid" / "trainannot" / p.name))).long()
            for p in paths
        ]
    )
    images = (images - images.mean(dim=(0, 2, 3), keepdim=True)) / images.std(dim=(0, 2, 3), keepdim=True)
    images, labels = images[..., :64, :96], labels[..., :64, :96]
    calibration = [(images[:2], labels[:2]), (images[2:], labels[2:])]
    torch.manual_seed(0)
    net = build_model("unet", num_classes=11, depth=3, base_channels=8)
    result = prune(
        net, PruningOptions(method="pca_nci", ratio=0.4, calibration_batches=2), images[:1], calibration
    )
    assert 0.0 < result.details["tau"] < 1.0
    assert result.removed_fraction == pytest.approx(0.4, abs=0.1)
    result = prune(
        net,
        PruningOptions(method="taylor", ratio=0.3, method_options={"ignore_index": 11}),
        images[:1],
        calibration,
    )
    assert result.params_after < result.params_before
