"""Checks of a composed run config that fail fast, before data is read or a model is trained."""

from __future__ import annotations

from omegaconf import DictConfig

from prunescope.baselines.locks import DEFAULT_STALE_AFTER_S, check_lock_options
from prunescope.objectives import check_objectives, configured_objectives

TASK_OF_MODULE = {
    "prunescope.modules.SegmentationModule": "segmentation",
    "prunescope.modules.segmentation.SegmentationModule": "segmentation",
    "prunescope.modules.ClassificationModule": "classification",
    "prunescope.modules.classification.ClassificationModule": "classification",
}


class ConfigError(ValueError):
    """A run config that cannot work; the message names the key, the value and the valid choices."""


def pruning_enabled(cfg: DictConfig) -> bool:
    """True when the ``pruning`` group selects a method (``pruning=none`` is an empty node)."""
    return cfg.get("pruning") is not None and cfg.pruning.get("_target_") is not None


def check_train_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` for a model/data task mismatch or impossible run settings."""
    module_target = cfg.model.get("_target_")
    model_task = TASK_OF_MODULE.get(module_target)
    if model_task is None:
        raise ConfigError(
            f"model._target_={module_target!r} is not a PruneScope module; valid: {sorted(TASK_OF_MODULE)}"
        )
    data_task = cfg.data.get("task")
    if data_task is not None and data_task != model_task:
        raise ConfigError(
            f"model is a {model_task} model but data={cfg.data.get('_target_')} is a {data_task} dataset; "
            "segmentation models (unet, smp_unet, deeplabv3plus, segnet) take digit_scenes/camvid, "
            "vgg16 takes digits/cifar10"
        )
    if not cfg.get("train") and not cfg.get("test") and not pruning_enabled(cfg):
        raise ConfigError("nothing to do: train=false, test=false and pruning=none")
    if pruning_enabled(cfg):
        if cfg.get("finetune_epochs") is None or int(cfg.finetune_epochs) < 1:
            raise ConfigError(
                f"finetune_epochs must be >= 1 for a pruning run, got {cfg.get('finetune_epochs')}"
            )
        if cfg.baseline.get("ckpt_path") is None and not cfg.get("train") and not cfg.baseline.get("cache"):
            raise ConfigError(
                "a pruning run needs a baseline: set baseline.ckpt_path, baseline.cache=true or train=true"
            )
    try:
        check_objectives(configured_objectives(cfg.get("objectives")))
        check_lock_options(
            cfg.baseline.get("lock", "file"), cfg.baseline.get("lock_stale_s", DEFAULT_STALE_AFTER_S)
        )
    except ValueError as error:
        raise ConfigError(str(error)) from None


def check_layer_names(names: list[str], valid: list[str], key: str) -> None:
    """Raise :class:`ConfigError` if a module name in ``names`` is not among ``valid``."""
    unknown = [n for n in names if n not in set(valid)]
    if unknown:
        sample = ", ".join(valid[:8]) + (", ..." if len(valid) > 8 else "")
        raise ConfigError(f"{key}: unknown layer name(s) {unknown}; valid module names include: {sample}")
