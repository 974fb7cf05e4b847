"""The baseline cache key: every setting is either keyed or declared unkeyed, with a reason.

The key is the whole resolved config minus ``UNKEYED``: a test here changes every leaf of every option of every
config group and checks that the key follows, and fails on a Trainer parameter nobody classified.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import pytorch_lightning as pl
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from prunescope.baselines import baseline_key
from prunescope.baselines.material import (
    TRAINER_KEYED,
    UNKEYED,
    baseline_key_material,
    early_stop_reason,
    is_unkeyed,
)
from support import CONFIG_DIR

SKIPPED_GROUPS = {"hydra"}  # Hydra's own settings: unkeyed as a whole


def _compose(*overrides: str, hydra_node: bool = False) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides), return_hydra_config=hydra_node)


def _group_options() -> list[tuple[str, str]]:
    options = []
    for group in sorted(p for p in CONFIG_DIR.iterdir() if p.is_dir() and p.name not in SKIPPED_GROUPS):
        for option in sorted(group.glob("*.yaml")):
            if option.stem.startswith("base"):  # shared bases, composed through the options that use them
                continue
            options.append((group.name, option.stem))
    return options


def _leaf_paths(node: DictConfig, prefix: str = "") -> list[str]:
    paths = []
    for key in node:
        path = f"{prefix}.{key}" if prefix else str(key)
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_interpolation() and len(child) > 0:
            paths += _leaf_paths(child, path)
        else:
            paths.append(path)
    return paths


def _key(cfg: DictConfig) -> str:
    return baseline_key(baseline_key_material(cfg))


def _changed(cfg: DictConfig, path: str) -> DictConfig:
    """A copy of ``cfg`` whose setting ``path`` holds a value it cannot have had."""
    changed = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    with open_dict(changed):
        OmegaConf.update(changed, path, "__changed__", merge=False, force_add=True)
    return changed


def test_every_trainer_parameter_is_classified() -> None:
    parameters = {name for name in inspect.signature(pl.Trainer.__init__).parameters if name != "self"}
    unkeyed = {path.split(".", 1)[1] for path in UNKEYED if path.startswith("trainer.")}
    assert not set(TRAINER_KEYED) & unkeyed, "a Trainer parameter is both keyed and unkeyed"
    unclassified = parameters - set(TRAINER_KEYED) - unkeyed
    assert not unclassified, (
        f"classify these Trainer parameters in baselines/material.py: {sorted(unclassified)}"
    )
    stale = (set(TRAINER_KEYED) | unkeyed) - parameters
    assert not stale, f"no such Trainer parameters: {sorted(stale)}"


def test_every_leaf_of_every_config_group_is_keyed_unless_declared() -> None:
    """Change each setting of each group option (first config that has it): the key changes iff it is keyed."""
    seen: dict[str, tuple[str, str]] = {}
    configs: dict[tuple[str, str], DictConfig] = {}
    for group, option in _group_options():
        cfg = _compose(f"{group}={option}", hydra_node=True)
        configs[(group, option)] = cfg
        for path in _leaf_paths(cfg):
            seen.setdefault(path, (group, option))
    assert len(seen) > 100  # the walk reached the groups' settings
    missed = []
    for path, where in sorted(seen.items()):
        if is_unkeyed(path):
            continue
        cfg = configs[where]
        if _key(_changed(cfg, path)) == _key(cfg):
            missed.append(f"{path} ({where[0]}={where[1]})")
    assert not missed, f"settings that do not change the baseline key: {missed}"
    # every unkeyed entry names a real setting (no stale declarations)
    parameters = {f"trainer.{p}" for p in inspect.signature(pl.Trainer.__init__).parameters}
    prefixes = {".".join(p.split(".")[:i]) for p in seen for i in range(1, len(p.split(".")) + 1)}
    stale = [path for path in UNKEYED if path not in prefixes and path not in parameters]
    assert not stale, f"UNKEYED entries that name no setting of any config: {stale}"


@pytest.mark.parametrize(
    "path",
    [
        "trainer.fast_dev_run",
        "trainer.max_steps",
        "trainer.accumulate_grad_batches",
        "trainer.gradient_clip_val",
    ]
    + [
        "trainer.overfit_batches",
        "trainer.max_time",
        "model.optimizer.lr",
        "data.scale_range",
        "model.compile",
    ],
)
def test_settings_that_change_weights_change_the_key_even_when_added(path: str) -> None:
    cfg = _compose("experiment=smoke")
    assert not is_unkeyed(path)
    assert _key(_changed(cfg, path)) != _key(cfg)


@pytest.mark.parametrize(
    "override",
    [
        "trainer.enable_progress_bar=true",
        "logger=tensorboard",
        "pruning=l1",
        "pruning.ratio=0.7",
        "cam=layercam",
    ]
    + [
        "tags=[x]",
        "baseline.lock=soft",
        "finetune_epochs=9",
        "+trainer.profiler=simple",
        "data.pin_memory=true",
    ],
)
def test_settings_that_do_not_change_weights_keep_the_key(override: str) -> None:
    assert _key(_compose("experiment=smoke", override)) == _key(_compose("experiment=smoke"))


def test_the_baseline_seed_is_keyed_not_the_run_seed() -> None:
    fixed = ["experiment=smoke", "baseline.seed=0", "data.seed=0"]
    assert _key(_compose(*fixed, "seed=1")) == _key(_compose(*fixed, "seed=2"))
    assert _key(_compose(*fixed, "seed=1", "baseline.seed=1")) != _key(_compose(*fixed, "seed=1"))


def test_early_stop_reasons() -> None:
    cfg = _compose("experiment=smoke", "trainer.max_epochs=3")
    assert early_stop_reason(cfg) is None and early_stop_reason(cfg, 3) is None
    assert "ended after 2 of trainer.max_epochs=3" in early_stop_reason(cfg, 2)
    assert "fast_dev_run" in early_stop_reason(_compose("experiment=smoke", "trainer.fast_dev_run=true"))
    assert "overfit_batches" in early_stop_reason(
        _compose("experiment=smoke", "+trainer.overfit_batches=2"), 1
    )
    timed = _compose("experiment=smoke", "trainer.max_epochs=3", "+trainer.max_time=00:00:00:01")
    assert "max_time=00:00:00:01" in early_stop_reason(timed, 1)


def test_key_material_is_readable_without_hydra_runtime(tmp_path: Path) -> None:
    """Unkeyed settings are never resolved: paths.output_dir needs Hydra's runtime, the key does not."""
    cfg = _compose("experiment=smoke")
    material = baseline_key_material(cfg)
    assert "paths" not in material and "pruning" not in material and "logger" not in material
    assert material["trainer"]["max_epochs"] == 1 and material["seed"] == 0
    assert isinstance(material["data"]["digit_size"], list) and not isinstance(material["data"], ListConfig)
