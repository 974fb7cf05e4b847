"""``target="params+macs"``: a (params, MACs) drop pair reached at once by cost-weighted scores, or refused in one line.

Measured here (random-init networks with BN statistics of the calibration images, l1): at -70 % params the MACs
drop spans about 25-94 % over the cost exponent on a quarter-width VGG-16 at 32x32, and 24-94 % on an
eighth-width SegNet at 32x32 (the plain ranking, exponent 0, gives about 60 %).
"""

from __future__ import annotations

import copy
import functools
import re

import pytest
import torch

from prunescope.models import build_model
from prunescope.pruning import PruningConfig, PruningOptions, plan_pruning, prune
from prunescope.pruning.api import check_reachable
from prunescope.pruning.criteria import make_criterion
from prunescope.pruning.criteria.pca_nci import bisect_variance, bisect_weighted_variance
from prunescope.pruning.selection import Limits, select_by_rank
from prunescope.pruning.target import PAIR, UnreachablePair, UnreachableRatio

MODELS = {
    "vgg16": dict(num_classes=10, width_mult=0.25),
    "segnet": dict(num_classes=5, width_mult=0.125),
}
PARAMS = 0.7
POINT = 0.01
SPAN = re.compile(
    r"^params\+macs: at -(\d+\.\d) % params the MACs drop spans (\d+\.\d)-(\d+\.\d) % over the cost"
)


@functools.cache
def calibration_for(name: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    classes = MODELS[name]["num_classes"]
    shape = (16,) if name == "vgg16" else (16, 32, 32)
    return [
        (
            torch.randn(16, 3, 32, 32, generator=generator),
            torch.randint(0, classes, shape, generator=generator),
        )
        for _ in range(2)
    ]


@functools.cache
def _template(name: str) -> torch.nn.Module:
    """The network with BN statistics of the calibration images (as after training: no dead channels)."""
    torch.manual_seed(0)
    net = build_model(name, **MODELS[name])
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    with torch.no_grad():
        net.train()(calibration_for(name)[0][0])
    return net.eval()


def fresh(name: str) -> torch.nn.Module:
    return copy.deepcopy(_template(name))


def example_for(name: str) -> torch.Tensor:
    return calibration_for(name)[0][0][:1]


def pair(method: str, macs: float, **changes) -> PruningOptions:
    options = dict(method=method, ratio=PARAMS, target=PAIR, macs_ratio=macs)
    options["method_options"] = {"seed": 0} if method == "random" else {}
    return PruningOptions(**{**options, **changes})


@functools.cache
def span(name: str, method: str) -> tuple[float, float]:
    """The MACs drops the extreme cost exponents give at -70 % params, read from the refusal of -0.1 %."""
    net = fresh(name)
    with pytest.raises(UnreachablePair) as error:
        plan_pruning(net, pair(method, 0.001), example_for(name), calibration_for(name))
    found = SPAN.match(str(error.value))
    assert found, str(error.value)
    assert abs(float(found.group(1)) / 100 - PARAMS) <= POINT
    return float(found.group(2)) / 100, float(found.group(3)) / 100


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("method", ["l1", "pca_nci", "isd"])
def test_pair_lands_both_drops_within_a_point(name: str, method: str) -> None:
    low, high = span(name, method)
    assert low < 0.4 and high > 0.85, (low, high)  # the exponent moves the MACs drop a long way
    for macs in (low + 0.25 * (high - low), low + 0.85 * (high - low)):
        net = fresh(name)
        before_params = sum(p.numel() for p in net.parameters())
        result = prune(net, pair(method, macs), example_for(name), calibration_for(name))
        assert result.target == PAIR and result.params_before == before_params
        params_drop = 1 - result.params_after / result.params_before
        macs_drop = 1 - result.macs_after / result.macs_before  # counted on the pruned network
        assert abs(params_drop - PARAMS) <= POINT, (macs, params_drop)
        assert abs(macs_drop - macs) <= POINT, (macs, macs_drop)
        assert result.details["macs_achieved"] == pytest.approx(macs_drop, abs=1e-9)
        assert result.details["target_achieved"] == pytest.approx(params_drop, abs=1e-9)
        assert isinstance(result.details["cost_exponent"], float)
        net(example_for(name))  # still runs


def test_exponent_sign_follows_the_asked_macs_drop() -> None:
    """More MACs than the plain ranking removes needs MAC-dense units first (exponent > 0), fewer needs < 0."""
    low, high = span("vgg16", "l1")
    exponents = []
    for macs in (low + 0.05, high - 0.05):
        plan = plan_pruning(fresh("vgg16"), pair("l1", macs), example_for("vgg16"), calibration_for("vgg16"))
        exponents.append(plan.match.exponent)
        assert abs(plan.match.macs_achieved - macs) <= POINT
    assert exponents[0] < 0 < exponents[1]


@pytest.mark.parametrize("macs", [0.05, 0.98])
def test_unreachable_pair_fails_in_one_line_before_removing_anything(macs: float) -> None:
    net = fresh("vgg16")
    state = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(UnreachablePair) as error:
        prune(net, pair("l1", macs), example_for("vgg16"), calibration_for("vgg16"))
    message = str(error.value)
    assert "\n" not in message
    found = SPAN.match(message)
    assert found, message
    assert f"-{100 * macs:.1f} % is out of reach" in message
    low, high = float(found.group(2)) / 100, float(found.group(3)) / 100
    assert not low - POINT <= macs <= high + POINT
    assert isinstance(error.value, UnreachableRatio)  # the CLI's one-line bad-input outcome
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(macs_ratio=None), r"target=params\+macs needs macs_ratio"),
        (dict(macs_ratio=1.0), r"macs_ratio must be in \(0, 1\)"),
        (dict(macs_ratio=0.0), r"macs_ratio must be in \(0, 1\)"),
        (dict(macs_ratio=-0.2), r"macs_ratio must be in \(0, 1\)"),
        (dict(macs_ratio="lots"), "macs_ratio must be a number or null"),
        (dict(target="params"), "valid targets: channels, params, macs, params\\+macs"),
        (dict(target="channels"), "set target=params\\+macs or macs_ratio=null"),
        (dict(scope="local"), "needs scope=global"),
        (dict(ratio=0.0), r"ratio \(the parameter drop\) must be in \(0, 1\)"),
        (dict(method_options={"variance": 0.9}), "threshold mode"),
    ],
)
def test_bad_pair_options_fail_in_one_line(changes: dict, message: str) -> None:
    options = pair("pca_nci" if "method_options" in changes else "l1", 0.6, **changes)
    with pytest.raises(ValueError, match=message) as error:
        options.validate()
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match=message):  # before any work
        prune(fresh("vgg16"), options, example_for("vgg16"), calibration_for("vgg16"))


def test_config_refuses_a_pair_over_several_steps() -> None:
    with pytest.raises(ValueError, match=r"prunes in one step .* schedule\.steps=2"):
        PruningConfig(method="l1", ratio=0.7, target=PAIR, macs_ratio=0.6, schedule={"steps": 2})
    config = PruningConfig(method="l1", ratio=0.7, target=PAIR, macs_ratio=0.6)
    assert config.step_options().macs_ratio == 0.6


def test_check_reachable_names_a_macs_ratio_above_what_can_go() -> None:
    net, example = fresh("vgg16"), example_for("vgg16")
    assert check_reachable(net, pair("l1", 0.9, min_channels=8), example) is not None
    with pytest.raises(
        UnreachableRatio,
        match=r"^pruning\.macs_ratio=0\.96 \(pruning\.target=params\+macs\) .* at most 0\.937 ",
    ):  # every layer keeps 8 channels: at most 93.7 % of the MACs can go
        check_reachable(net, pair("l1", 0.96, min_channels=8), example)
    with pytest.raises(UnreachableRatio, match=r"^pruning\.ratio=0\.999 .*parameters"):
        check_reachable(net, pair("l1", 0.5, ratio=0.999, min_channels=8), example)


@pytest.mark.parametrize("method", ["l1", "isd", "random"])
def test_unit_weights_of_one_keep_the_plain_ranking(method: str) -> None:
    """Exponent 0 (every factor 1) selects what the criterion selects unweighted (isd's negative z-scores are
    shifted, all alike)."""
    from prunescope.pruning.api import prunable_units

    net, example = fresh("vgg16"), example_for("vgg16")
    graph, units = prunable_units(net, example)
    criterion = make_criterion(method, {"seed": 0} if method == "random" else {})
    criterion.prepare(net, graph, units, calibration_for("vgg16"), 2)
    scores = {u.name: criterion.scores(u) for u in units}
    ones = {u.name: 1.0 for u in units}
    plain = select_by_rank(units, scores, 0.6, "global", Limits(), criterion.normalise)
    assert select_by_rank(units, scores, 0.6, "global", Limits(), criterion.normalise, ones) == plain
    heavy = {u.name: 1e6 if i == 0 else 1.0 for i, u in enumerate(units)}
    weighted = select_by_rank(units, scores, 0.6, "global", Limits(), criterion.normalise, heavy)
    assert len(weighted[units[0].name]) == units[0].channels - 1  # a huge factor empties it to min_channels


def test_pca_nci_weighted_bisection_with_factors_of_one_is_the_plain_one() -> None:
    from prunescope.pruning.api import prunable_units
    from prunescope.pruning.criteria.pca_nci import components_for_variance

    net, example = fresh("vgg16"), example_for("vgg16")
    graph, units = prunable_units(net, example)
    criterion = make_criterion("pca_nci", {})
    criterion.prepare(net, graph, units, calibration_for("vgg16"), 2)
    ones = {u.name: 1.0 for u in units}
    for ratio in (0.3, 0.7):
        tau = bisect_variance(criterion.curves, units, ratio, Limits())
        unexplained = bisect_weighted_variance(criterion.curves, units, ratio, Limits(), ones)
        plain = [components_for_variance(criterion.curves[u.name], tau) for u in units]
        weighted = [components_for_variance(criterion.curves[u.name], 1 - unexplained) for u in units]
        assert sum(u.weight * k for u, k in zip(units, plain, strict=True)) == sum(
            u.weight * k for u, k in zip(units, weighted, strict=True)
        )
