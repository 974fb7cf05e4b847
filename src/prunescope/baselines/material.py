"""What determines a baseline: the part of a run config that the baseline cache is keyed by."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from prunescope.seeding import baseline_seed


def baseline_key_material(cfg: DictConfig) -> dict[str, Any]:
    """The part of a run config that determines its baseline: model, data, training length, seed."""
    trainer = cfg.trainer
    return {
        "model": OmegaConf.to_container(cfg.model, resolve=True),
        "data": OmegaConf.to_container(cfg.data, resolve=True),
        "trainer": {
            key: OmegaConf.select(trainer, key)
            for key in ("max_epochs", "min_epochs", "limit_train_batches", "limit_val_batches", "precision")
        },
        "seed": baseline_seed(cfg),
    }
