"""Registries and config groups name the same things: every registered model, criterion and CAM method has its YAML
(file name = registry key = CLI value) and every YAML option is registered."""

from __future__ import annotations

import inspect
import pkgutil
import re
import sys
from pathlib import Path

import pytest
from hydra.utils import get_class
from omegaconf import OmegaConf
from torch import nn

import prunescope.models
import prunescope.pruning.criteria
from prunescope.benchmarks.sp2ps_cost import MODELS as SP2PS_COST_MODELS
from prunescope.cam import CAM_METHODS
from prunescope.models import MODELS, Network, NetworkContractError, build_model, check_network
from prunescope.pruning import CRITERIA
from support import CONFIG_DIR, TINY_MODELS


def options(group: str, *not_options: str) -> dict[str, Path]:
    """The group's selectable YAML files by name, without the ``base*`` files they build on and ``not_options``."""
    return {
        path.stem: path
        for path in (CONFIG_DIR / group).glob("*.yaml")
        if not path.stem.startswith("base") and path.stem not in not_options
    }


def test_every_model_has_its_yaml_building_that_class() -> None:
    yamls = options("model")
    assert set(yamls) == set(MODELS)
    for name, path in yamls.items():
        assert get_class(OmegaConf.load(path).net._target_) is MODELS[name], name


def test_every_criterion_has_its_yaml_naming_that_method() -> None:
    yamls = options("pruning", "none")  # none: no pruning, no criterion
    assert set(yamls) == set(CRITERIA)
    for name, path in yamls.items():
        assert OmegaConf.load(path).method == name


def test_every_cam_method_has_its_yaml_naming_that_method() -> None:
    yamls = options("cam")
    assert set(yamls) == set(CAM_METHODS)
    for name, path in yamls.items():
        assert OmegaConf.load(path).method == name


def readme_choices(group: str) -> set[str]:
    """The backticked words of the "choices" cell of ``group``'s row in README's "Config groups" table."""
    text = (CONFIG_DIR.parent / "README.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith(f"| `{group}` |")]
    assert len(rows) == 1, f"README's config-groups table has {len(rows)} rows for {group}"
    return set(re.findall(r"`([^`]+)`", rows[0].split(" | ")[1]))


@pytest.mark.parametrize(
    ("group", "registry"),
    [
        ("model", MODELS),
        ("pruning", CRITERIA),
        ("cam", CAM_METHODS),
        ("data", None),
        ("trainer", None),
        ("logger", None),
    ],
)
def test_readme_config_groups_table_names_every_option(group: str, registry: dict | None) -> None:
    """README lists the options by hand: this keeps it in step with the YAML files and the registries."""
    named = readme_choices(group)
    yamls = set(options(group))
    assert yamls <= named, f"README's {group} row misses {sorted(yamls - named)}"
    if registry is not None:
        assert set(registry) <= named, (
            f"README's {group} row misses registered {sorted(set(registry) - named)}"
        )


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_keeps_the_network_contract(name: str) -> None:
    net = build_model(name, **TINY_MODELS[name])  # build_model checks it; isinstance reads the same protocol
    assert isinstance(net, Network)
    net.get_submodule(net.cam_target_layer)


def test_a_network_without_the_contract_is_named_in_one_line() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 1))
    net.task = "segmentation"
    with pytest.raises(NetworkContractError) as raised:
        check_network(net)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("Sequential is not a PruneScope network: it has no cam_target_layer, ")
    assert "output_layer_names, channel_ties" in message and "task" not in message.split("has no")[1]


def test_bench_names_registered_models_criteria_and_cam_methods() -> None:
    """conf/bench.yaml sizes registered models (its ``_target_`` is the registered class) and names registered
    methods; ``pruning_time.criteria: null`` times every registered criterion."""
    bench = OmegaConf.load(CONFIG_DIR / "bench.yaml")
    for name, spec in bench.models.items():
        assert get_class(spec.net._target_) is MODELS[name], name
    assert bench.speedup.method in CRITERIA
    assert bench.pruning_time.criteria is None or set(bench.pruning_time.criteria) <= set(CRITERIA)
    assert bench.sp2ps.method in CAM_METHODS
    assert set(SP2PS_COST_MODELS) <= set(MODELS)


def test_every_model_size_file_sizes_a_registered_model() -> None:
    """conf/sizes/model/<experiment>_<model>.yaml: the model is registered and takes every key the file sets."""
    paths = sorted((CONFIG_DIR / "sizes" / "model").glob("*.yaml"))
    assert paths
    for path in paths:
        model = max((name for name in MODELS if path.stem.endswith(f"_{name}")), key=len, default=None)
        assert model is not None, f"{path.name} names no registered model"
        parameters = inspect.signature(MODELS[model].__init__).parameters
        assert set(OmegaConf.load(path).model.net) <= set(parameters), path.name


@pytest.mark.parametrize("package", [prunescope.models, prunescope.pruning.criteria])
def test_a_new_module_needs_no_import(package) -> None:
    """Importing the package imports each of its modules, so a new file's ``@register_*`` runs without an import
    line anywhere else."""
    for module in pkgutil.iter_modules(package.__path__):
        assert f"{package.__name__}.{module.name}" in sys.modules, module.name
