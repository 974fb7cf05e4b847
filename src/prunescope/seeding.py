"""Seeding of a run: one place that decides how ``cfg.seed`` seeds Python, NumPy, torch and dataloader workers."""

from __future__ import annotations

import pytorch_lightning as pl
from omegaconf import DictConfig


def seed_run(cfg: DictConfig) -> None:
    """Seed Python, NumPy and torch (and dataloader workers) from ``cfg.seed``; ``seed: null`` leaves them as they are."""
    if cfg.get("seed") is not None:
        pl.seed_everything(int(cfg.seed), workers=True)
