"""Build run objects from config nodes: datamodule, module, trainer, loggers, callbacks."""

from __future__ import annotations

import copy
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.loggers import Logger

from prunescope.checkpoints import AtomicCheckpointIO
from prunescope.config_checks import instantiate_checked
from prunescope.models.contract import NetworkContractError, check_network
from prunescope.modules import TaskModule
from prunescope.precision import trainer_precision
from prunescope.sync_batchnorm import resolve_sync_batchnorm


def instantiate_group(node: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a group node (``callbacks``, ``logger``) that carries a ``_target_``."""
    if node is None:
        return []
    return [
        instantiate(entry) for entry in node.values() if isinstance(entry, DictConfig) and "_target_" in entry
    ]


def build_module(cfg: DictConfig, datamodule: pl.LightningDataModule) -> TaskModule:
    """The LightningModule of ``cfg.model``; the datamodule's class weights are used when the config gives none."""
    overrides: dict[str, Any] = {}
    weights = getattr(datamodule, "class_weights", None)
    if "class_weights" in cfg.model and cfg.model.class_weights is None and weights is not None:
        overrides["class_weights"] = [float(w) for w in weights]
    module = instantiate_checked(cfg.model, cfg, **overrides)
    try:
        check_network(module.net)  # the network contract, once per built model
    except NetworkContractError as error:
        raise NetworkContractError(f"model.net._target_={cfg.model.net.get('_target_')}: {error}") from None
    module.model_config = OmegaConf.to_container(cfg.model, resolve=True)
    module.data_config = OmegaConf.to_container(cfg.data, resolve=True)
    return module


def build_trainer(
    cfg: DictConfig,
    callbacks: list[Callback],
    loggers: list[Logger] | bool,
    default_root_dir: str | None = None,
    **overrides: Any,
) -> pl.Trainer:
    """A Trainer from ``cfg.trainer`` with the given callbacks/loggers and keyword overrides."""
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer_cfg.update(overrides)
    trainer_cfg.update(resolve_sync_batchnorm(trainer_cfg))  # auto: on only where the fit runs on CUDA
    # a run has resolved ``auto`` (prunescope.precision); what is still ``auto`` (eval, sp2ps) tests in fp32
    if "precision" in trainer_cfg:
        trainer_cfg["precision"] = trainer_precision(trainer_cfg["precision"])
    if default_root_dir is not None:
        trainer_cfg["default_root_dir"] = default_root_dir
    target = trainer_cfg.pop("_target_")
    trainer_cfg.setdefault("plugins", [AtomicCheckpointIO()])
    return instantiate({"_target_": target}, callbacks=callbacks, logger=loggers, **trainer_cfg)


def fresh_callbacks(cfg: DictConfig) -> list[Callback]:
    """New instances of the configured callbacks (each trainer needs its own)."""
    return instantiate_group(copy.deepcopy(cfg.get("callbacks")))
