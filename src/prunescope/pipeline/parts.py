"""The parts of a run, built once from its config: validated options, datamodule, module, loggers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from prunescope.config_checks import (
    ConfigError,
    check_layer_names,
    check_schedule_fits,
    check_train_config,
    instantiate_checked,
    pruning_enabled,
)
from prunescope.instantiate import build_module, instantiate_group
from prunescope.modules import TaskModule
from prunescope.pruning.api import check_reachable
from prunescope.pruning.layers import supports_level_pruning
from prunescope.pruning.options import PruningConfig
from prunescope.seeding import seed_run


@dataclass
class RunParts:
    """What every stage of a run uses.

    Attributes:
        cfg: the composed run config.
        datamodule: the run's data.
        module: the run's LightningModule (fresh; the baseline's weights are loaded into it for pruning runs).
        pruning: validated pruning options, or ``None`` for a run without pruning.
        loggers: the run's Lightning loggers.
        example: one test image ``(1, C, H, W)``: the input of MACs and latency.
        latency_repeats: timed forwards per latency figure.
    """

    cfg: DictConfig
    datamodule: pl.LightningDataModule
    module: TaskModule
    pruning: PruningConfig | None
    loggers: list[Any]
    example: torch.Tensor
    latency_repeats: int


def pruning_config(cfg: DictConfig) -> PruningConfig:
    """The run's :class:`PruningConfig`; taylor's calibration loss skips the dataset's void label."""
    config: PruningConfig = instantiate_checked(cfg.pruning, cfg)
    if config.method == "taylor" and cfg.data.get("ignore_index") is not None:
        config = config.with_method_options(ignore_index=int(cfg.data.ignore_index))
    return config


def example_input(datamodule: pl.LightningDataModule) -> torch.Tensor:
    """One test image ``(1, C, H, W)``: the input for MACs and latency."""
    datamodule.setup("test")
    images, _ = next(iter(datamodule.test_dataloader()))
    return images[:1].clone()


def build_parts(cfg: DictConfig) -> RunParts:
    """Check the config, seed, build the datamodule, module and loggers (logging the config as hyper-parameters).

    Raises:
        ConfigError: a model/data mismatch, impossible run settings or unknown layer names (``pruning.ignored_layers``,
            ``cam.target_layer``), before any data is read;
            a ``pruning.ratio`` out of the network's reach (:func:`prunescope.pruning.api.check_reachable`), before
            any training.
        ValueError: invalid pruning options (one message listing all of them).
    """
    check_train_config(cfg)
    pruning = pruning_config(cfg) if pruning_enabled(cfg) else None
    if pruning is not None:
        check_schedule_fits(pruning, cfg.finetune_epochs)
        if cfg.get("sp2ps") and cfg.get("cam") is not None:
            instantiate_checked(cfg.cam, cfg)  # bad cam options fail here, not after the baseline is trained
    seed_run(cfg)
    datamodule = instantiate_checked(cfg.data, cfg)
    module = build_module(cfg, datamodule)
    if pruning is not None:
        names = [name for name, _ in module.net.named_modules() if name]
        check_layer_names(list(pruning.ignored_layers), names, "pruning.ignored_layers")
        if cfg.get("sp2ps") and cfg.get("cam") is not None and cfg.cam.get("target_layer") is not None:
            check_layer_names(
                [str(cfg.cam.target_layer)], names, "cam.target_layer"
            )  # else it fails at the test
        if pruning.layers.requested and not supports_level_pruning(module.net):
            raise ConfigError(
                f"pruning.layers.levels={pruning.layers.levels!r} needs a network with remove_deepest_levels(k) "
                f"(model=unet); {type(module.net).__name__} has none; set pruning.layers.levels=0"
            )
        levels, depth = pruning.layers.levels, getattr(module.net, "depth", None)
        if isinstance(levels, int) and isinstance(depth, int) and levels > depth - 1:
            raise ConfigError(
                f"pruning.layers.levels={levels} removes more levels than {type(module.net).__name__} of depth "
                f"{depth} has to lose (at most {depth - 1}); set pruning.layers.levels to 0..{depth - 1} or auto"
            )
    example = example_input(datamodule)
    if pruning is not None and not pruning.layers.requested:  # else checked after the levels are removed
        check_reachable(module.net, pruning, example)  # a ratio out of reach fails before any training
    loggers = instantiate_group(cfg.get("logger"))
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    return RunParts(
        cfg=cfg,
        datamodule=datamodule,
        module=module,
        pruning=pruning,
        loggers=loggers,
        example=example,
        latency_repeats=int(cfg.efficiency.latency_repeats),
    )
