"""Seeding of a run: one place that decides how ``cfg.seed`` seeds Python, NumPy, torch and dataloader workers."""

from __future__ import annotations

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf


def baseline_seed(cfg: DictConfig) -> int | None:
    """The seed of a pruning run's baseline training: ``baseline.seed`` (defaults to ``seed``)."""
    return OmegaConf.select(cfg, "baseline.seed", default=cfg.get("seed"))


def seed_run(cfg: DictConfig, *, baseline: bool = False) -> None:
    """Seed Python, NumPy and torch (and dataloader workers) from ``cfg.seed`` (``baseline.seed`` when training a
    pruning run's baseline); a null seed leaves them as they are."""
    seed = baseline_seed(cfg) if baseline else cfg.get("seed")
    if seed is not None:
        pl.seed_everything(int(seed), workers=True)
