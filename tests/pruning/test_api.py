"""``prune`` on every network with every criterion and scope, plus argument validation."""

from __future__ import annotations

import copy
import functools
import itertools
import json

import pytest
import torch

from prunescope.models import build_model
from prunescope.pruning import CRITERIA, PruningOptions, prunable_layers, prune
from support import TINY_MODELS

RATIOS = (0.2, 0.5, 0.8)
# every criterion x scope x model x ratio
CASES = list(itertools.product(TINY_MODELS, CRITERIA, ("global", "local"), RATIOS))


@functools.cache
def _template(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, **TINY_MODELS[name])


def fresh(name: str) -> torch.nn.Module:
    """A new copy of the tiny network ``name`` (built once per session, copied per test)."""
    return copy.deepcopy(_template(name))


def inputs_for(name: str, batches: int = 2) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
    generator = torch.Generator().manual_seed(0)
    classes = TINY_MODELS[name]["num_classes"]
    shape = (2,) if name == "vgg16" else (2, 32, 32)
    calibration = [
        (
            torch.randn(2, 3, 32, 32, generator=generator),
            torch.randint(0, classes, shape, generator=generator),
        )
        for _ in range(batches)
    ]
    return calibration[0][0], calibration


def assert_no_layer_emptied(net: torch.nn.Module) -> None:
    for name, module in net.named_modules():
        if isinstance(module, torch.nn.Conv2d | torch.nn.ConvTranspose2d | torch.nn.Linear):
            assert module.weight.numel() > 0, f"{name} was emptied"
        if isinstance(module, torch.nn.BatchNorm2d):
            assert module.num_features > 0, f"{name} was emptied"


@pytest.mark.parametrize(("model", "method", "scope", "ratio"), CASES)
def test_prune_every_criterion_scope_and_model(model: str, method: str, scope: str, ratio: float) -> None:
    torch.manual_seed(0)
    net = fresh(model)
    x, calibration = inputs_for(model)
    shape = net(x).shape
    result = prune(net, PruningOptions(method=method, ratio=ratio, scope=scope), x, calibration)

    output = net(x)
    assert output.shape == shape
    output.square().mean().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    assert result.params_after < result.params_before
    assert result.params_after == sum(p.numel() for p in net.parameters())
    assert result.macs_after < result.macs_before
    assert_no_layer_emptied(net)
    assert all(len(kept) >= 1 for kept in result.kept.values())
    for layer in net.output_layer_names:
        assert layer not in result.removed
    json.dumps(result.record)  # JSON-safe
    if method not in (
        "bn_scale",
        "pca_nci",
    ):  # ranking criteria meet the ratio up to limits/producer protection
        assert result.removed_fraction == pytest.approx(ratio, abs=0.06)


def test_ratio_zero_leaves_the_model_unchanged() -> None:
    net = fresh("segnet").eval()
    x, calibration = inputs_for("segnet")
    with torch.no_grad():
        before = net(x)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    result = prune(net, PruningOptions(method="pca_nci", ratio=0.0), x, calibration)
    assert result.record == []
    assert result.params_after == result.params_before
    assert all(v.equal(state[k]) for k, v in net.state_dict().items())
    with torch.no_grad():
        assert net(x).equal(before)


class ExplodingCalibration:
    """Any attempt to read calibration data fails: validation must happen first."""

    def __iter__(self):
        raise AssertionError("calibration was read before argument validation")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(ratio=1.0), "ratio"),
        (dict(ratio=1.5), "ratio"),
        (dict(ratio=-0.1), "ratio"),
        (dict(method="magnitude"), "valid: random, l1, l2, fpgm, bn_scale, taylor, pca_nci, isd"),
        (dict(ignored_layers=["enc9.0.conv"]), "unknown layer"),
        (dict(scope="everywhere"), "scope"),
        (dict(method_options={"tau": 0.9}), "valid: \\['variance'\\]"),
        (dict(min_channels=0), "min_channels"),
        (dict(round_to=0), "round_to"),
    ],
)
def test_invalid_arguments_raise_before_any_work(kwargs: dict, message: str) -> None:
    net = fresh("segnet")
    state = {k: v.clone() for k, v in net.state_dict().items()}
    wrong_input = torch.randn(1, 7, 32, 32)  # would fail on a forward: proves nothing was traced
    options = PruningOptions(**(dict(method="pca_nci", ratio=0.5) | kwargs))
    with pytest.raises(ValueError, match=message):
        prune(net, options, wrong_input, ExplodingCalibration())
    assert all(v.equal(state[k]) for k, v in net.state_dict().items())


def test_statistics_methods_need_calibration() -> None:
    net = fresh("vgg16")
    with pytest.raises(ValueError, match="needs calibration"):
        prune(net, PruningOptions(method="isd", ratio=0.5), torch.randn(1, 3, 32, 32))


def test_ignored_and_output_layers_keep_their_channels() -> None:
    net = fresh("vgg16")
    x, _ = inputs_for("vgg16")
    layers = prunable_layers(net, x)
    assert "classifier.0" not in layers and "features.0" in layers
    widths = {name: net.get_submodule(name).out_channels for name in layers}
    result = prune(
        net, PruningOptions(method="l1", ratio=0.6, ignored_layers=["features.0", "features.3"]), x
    )
    assert net.features[0].out_channels == widths["features.0"]
    assert net.features[3].out_channels == widths["features.3"]
    assert "features.0" not in result.removed
    assert net.features[7].out_channels < widths["features.7"]


def test_round_to_and_min_channels() -> None:
    net = fresh("unet")
    x, _ = inputs_for("unet")
    result = prune(net, PruningOptions(method="l2", ratio=0.7, scope="global", round_to=4, min_channels=4), x)
    assert result.kept
    for layer, kept in result.kept.items():
        assert len(kept) % 4 == 0 and len(kept) >= 4, (layer, len(kept))
        module = net.get_submodule(layer)
        assert (module.weight.shape[1] if module.transposed else module.weight.shape[0]) == len(kept)


def test_kept_and_removed_partition_the_original_channels() -> None:
    net = fresh("smp_unet")
    x, _ = inputs_for("smp_unet")
    widths = {n: m.out_channels for n, m in net.named_modules() if isinstance(m, torch.nn.Conv2d)}
    result = prune(net, PruningOptions(method="fpgm", ratio=0.5, scope="local"), x)
    for layer, kept in result.kept.items():
        assert sorted(kept + result.removed[layer]) == list(range(widths[layer]))
        assert net.get_submodule(layer).out_channels == len(kept)
