"""Every option of every config group composes and instantiates; YAML values equal the defaults of PruneScope's classes.

Like lightning-hydra-template's config tests, plus one rule of ours: a value written in ``conf/`` for a
PruneScope class (``_target_: prunescope.…``) equals that class's default for the argument, or the class has no
default for it (then the YAML is where the value lives). Interpolations (``${…}``) are not compared.
Third-party targets (Trainer, loggers, optimizers) are configured on purpose and only instantiated.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from prunescope.instantiate import instantiate_group
from prunescope.precision import trainer_precision
from support import CONFIG_DIR

HYDRA_KEYS = {"_target_", "_partial_", "_convert_", "_recursive_", "_args_"}
GROUPS = ("model", "data", "pruning", "cam", "callbacks", "logger", "trainer", "paths", "experiment")


def group_options(group: str) -> list[str]:
    """Selectable options of a group: its YAML files, except the ``base*`` files other options build on."""
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml") if not p.stem.startswith("base"))


def all_options() -> Iterator[tuple[str, str]]:
    for group in GROUPS:
        for option in group_options(group):
            yield group, option


def _default_of(target: Any, name: str) -> Any:
    """The default of argument/field ``name`` of ``target``, or ``inspect.Parameter.empty``."""
    if dataclasses.is_dataclass(target):
        for f in dataclasses.fields(target):
            if f.name == name:
                if f.default is not dataclasses.MISSING:
                    return f.default
                if f.default_factory is not dataclasses.MISSING:
                    return f.default_factory()
        return inspect.Parameter.empty
    parameter = inspect.signature(target).parameters.get(name)
    return parameter.default if parameter is not None else inspect.Parameter.empty


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


RECIPE_CHOICES: dict[tuple[str, str], set[str]] = {
    # the demo's U-Net recipe warms the LR up; the module it configures is shared by every segmentation model,
    # whose default (no warm-up) the other model configs keep
    ("model", "unet"): {"model.warmup_fraction", "model.channels_last"},
    # NHWC training is measured faster for these networks (README, "Training speed"); the shared modules keep NCHW
    ("model", "segnet"): {"model.channels_last"},
    ("model", "vgg16"): {"model.channels_last"},
}
"""Options whose config deliberately differs from a shared class's default, key by key."""


def default_mismatches(node: DictConfig, where: str, option: str | None = None) -> list[str]:
    """``where.key: yaml=… python=…`` for every value of ``node`` (and nested targets) that differs from its
    PruneScope class default; a value equal to the option's own name (``cam=eigencam`` → ``method: eigencam``)
    is the option's identity, not a default."""
    problems: list[str] = []
    target_name = node.get("_target_")
    if target_name is not None and str(target_name).startswith("prunescope."):
        target = get_object(str(target_name))
        for key in node:
            if key in HYDRA_KEYS:
                continue
            raw = OmegaConf.to_container(node, resolve=False)[key]
            if isinstance(raw, str) and "${" in raw:
                continue
            value = node[key]
            if option is not None and value == option:
                continue
            if isinstance(value, DictConfig) and "_target_" in value:
                problems += default_mismatches(value, f"{where}.{key}")
                continue
            default = _default_of(target, str(key))
            if default is inspect.Parameter.empty:
                continue
            yaml_value = (
                OmegaConf.to_container(value) if isinstance(value, DictConfig | ListConfig) else value
            )
            if isinstance(yaml_value, dict) and isinstance(_plain(default), dict):
                expected = _plain(default)
                for sub, sub_value in yaml_value.items():
                    if sub in expected and _plain(sub_value) != expected[sub]:
                        problems.append(f"{where}.{key}.{sub}: yaml={sub_value!r} python={expected[sub]!r}")
            elif _plain(yaml_value) != _plain(default):
                problems.append(f"{where}.{key}: yaml={yaml_value!r} python={default!r}")
    for key, value in node.items():
        if key not in HYDRA_KEYS and isinstance(value, DictConfig) and target_name is None:
            problems += default_mismatches(value, f"{where}.{key}")
    return problems


@pytest.fixture
def compose_option(make_cfg: Callable[..., DictConfig]) -> Callable[[str, str], DictConfig]:
    def _compose(group: str, option: str) -> DictConfig:
        overrides = [f"{group}={option}"]
        if group == "model" and option == "vgg16":
            overrides.append("data=digits")
        if group == "data" and option in ("digits", "cifar10"):
            overrides.append("model=vgg16")
        if group == "pruning" and option != "none":
            overrides.append("pruning.ratio=0.5")
        if group == "logger" and option == "wandb":  # ${hydra:...} resolves only under prunescope-train
            overrides += ["logger.wandb.name=test", "logger.wandb.group=test"]
        return make_cfg(*overrides, small=False)

    return _compose


@pytest.mark.parametrize(("group", "option"), list(all_options()))
def test_every_option_composes_and_instantiates(
    group: str, option: str, compose_option: Callable[[str, str], DictConfig]
) -> None:
    cfg = compose_option(group, option)
    node = cfg.get(group) if group != "experiment" else cfg
    if group in ("callbacks", "logger"):
        built = instantiate_group(node)
        assert all(obj is not None for obj in built)
    elif group == "experiment":
        assert cfg.model.net._target_ and cfg.data._target_
    elif group == "paths":
        assert Path(cfg.paths.data_dir).name == "data"
    elif node is not None and node.get("_target_") is not None:
        if group == "trainer" and option == "ddp":
            pytest.skip("a DDP trainer needs 2 devices; its config is covered by test_ddp_trainer_config")
        if (
            group == "trainer"
        ):  # `auto` is resolved by a run (prunescope.precision) before any Trainer is built
            node.precision = trainer_precision(node.precision)
        assert instantiate(node) is not None


def test_ddp_trainer_config(make_cfg: Callable[..., DictConfig]) -> None:
    cfg = make_cfg("trainer=ddp", small=False)
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.devices == 2


@pytest.mark.parametrize(("group", "option"), [(g, o) for g, o in all_options() if g != "experiment"])
def test_yaml_values_equal_class_defaults(
    group: str, option: str, compose_option: Callable[[str, str], DictConfig]
) -> None:
    cfg = compose_option(group, option)
    node = cfg.get(group)
    if node is None:
        return
    overridden = {"pruning.ratio"} if group == "pruning" else set()  # set by compose_option itself
    overridden |= RECIPE_CHOICES.get((group, option), set())
    problems = [p for p in default_mismatches(node, group, option) if p.split(":")[0] not in overridden]
    assert problems == []


def test_a_changed_yaml_default_is_caught(compose_option: Callable[[str, str], DictConfig]) -> None:
    cfg = compose_option("pruning", "l1")
    cfg.pruning.scope = "local"
    cfg.pruning.finetune.lr = 0.5
    cfg.cam.grid_classes = 7
    problems = default_mismatches(cfg.pruning, "pruning") + default_mismatches(cfg.cam, "cam")
    assert "pruning.scope: yaml='local' python='global'" in problems
    assert "pruning.finetune.lr: yaml=0.5 python=0.001" in problems
    assert "cam.grid_classes: yaml=7 python=12" in problems


@pytest.mark.parametrize(
    ("overrides", "seed"),
    [(["seed=5"], 5), (["seed=null"], None), (["seed=5", "pruning.method_options.seed=9"], 9)],
)
def test_random_pruning_draws_from_the_run_seed(
    make_cfg: Callable[..., DictConfig], overrides: list[str], seed: int | None
) -> None:
    """``pruning=random`` is reproducible by ``seed`` like every other part of a run (null: a fresh draw)."""
    from prunescope.pipeline.parts import pruning_config

    config = pruning_config(make_cfg("experiment=smoke", "pruning=random", *overrides))
    assert config.method_options["seed"] == seed
