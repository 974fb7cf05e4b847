"""Adding a criterion touches two files: its class (``@register_criterion(name)``, in a module of
``pruning/criteria/``) and ``conf/pruning/<name>.yaml``.

The test does both at run time: it registers a criterion of its own (a channel's score is its index, so every unit
loses its first channels) and writes its YAML into a copy of ``conf/``; then ``pruning=<name>`` composes, builds
the :class:`~prunescope.pruning.options.PruningConfig`, prunes a tiny network through ``prune()``, and runs
``prunescope-train`` end to end.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from prunescope.models import build_model
from prunescope.pruning import CRITERIA, PruningConfig, plan_pruning, prune, register_criterion
from prunescope.pruning.criteria import Criterion
from prunescope.pruning.groups import ChannelUnit
from prunescope.train import run
from support import CONFIG_DIR, TINY_MODELS

NAME = "first_channels"


@pytest.fixture
def new_criterion(tmp_path: Path) -> Iterator[Path]:
    """The two files of a new criterion: its registered class and its YAML; yields the config dir."""

    @register_criterion(NAME)
    class FirstChannelsCriterion(Criterion):
        """``s_c = c + 1``: the lowest channel indices go first (a criterion of the test's own)."""

        def __call__(self, unit: ChannelUnit) -> torch.Tensor:
            return torch.arange(1, unit.channels + 1, dtype=torch.float64)

    config_dir = tmp_path / "conf"
    shutil.copytree(CONFIG_DIR, config_dir)
    (config_dir / "pruning" / f"{NAME}.yaml").write_text(
        f"defaults:\n  - base\n  - _self_\n\nmethod: {NAME}\n"
    )
    try:
        yield config_dir
    finally:
        del CRITERIA[NAME]


@pytest.mark.parametrize("scope", ["global", "local"])
def test_a_registered_criterion_with_its_yaml_prunes(new_criterion: Path, scope: str) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(new_criterion), version_base="1.3"):
        cfg = compose("train", overrides=[f"pruning={NAME}", f"pruning.scope={scope}"])
    config = instantiate(cfg.pruning)
    assert isinstance(config, PruningConfig)
    assert (config.method, config.ratio) == (NAME, 0.5)  # the rest comes from conf/pruning/base.yaml

    torch.manual_seed(0)
    net = build_model("unet", **TINY_MODELS["unet"]).eval()
    x = torch.randn(1, 3, 32, 32)
    options = config.step_options()
    plan = plan_pruning(copy.deepcopy(net), options, x)
    assert sum(map(len, plan.removal.values())) > 0
    for unit in plan.units:  # the lowest scores are the first channels of every unit
        assert sorted(plan.removal[unit.name]) == list(range(len(plan.removal[unit.name]))), unit.name

    result = prune(net, options, x)
    assert result.params_after < result.params_before
    assert result.kept == plan.per_layer()[0]
    assert net(x).shape == (1, TINY_MODELS["unet"]["num_classes"], 32, 32)


def test_a_registered_criterion_with_its_yaml_runs_a_pruning_run(new_criterion: Path, make_cfg) -> None:
    cfg = make_cfg(f"pruning={NAME}", "pruning.ratio=0.5", "sp2ps=false", config_dir=new_criterion)
    values = run(cfg)
    assert values["run.status"] == "completed", values.get("run.error")
    assert values["run.method"] == NAME
    assert values["pruned.params"] < values["baseline.params"]


def test_a_criterion_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="registered already"):

        @register_criterion("l1")
        class AnotherL1(Criterion):
            pass

    assert CRITERIA["l1"].__name__ == "L1Criterion"
