"""Which fit a run dir's ``checkpoints/last.ckpt`` belongs to, so that a re-run resumes only its own.

A run makes at most one resumable fit in its run dir: a run without pruning trains the baseline there (stage
``baseline``), a pruning run fine-tunes there (stage ``fine-tune``). Every Lightning checkpoint of that fit carries
its :func:`fit_identity`; a re-run in the same dir resumes from ``last.ckpt`` only when the identities match.
Without this check a baseline run started in the dir of an earlier pruning run resumed that run's pruned,
fine-tuned network (its pruning record is replayed on load) with its LR schedule, and reported it as a baseline.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from prunescope.baselines.cache import baseline_key
from prunescope.baselines.material import baseline_key_material
from prunescope.checkpoints import resume_path
from prunescope.config_checks import ConfigError, pruning_enabled

IDENTITY_KEY = "fit_identity"
"""Checkpoint entry holding :func:`fit_identity`."""


def fit_identity(cfg: DictConfig) -> str:
    """``<stage>:<key>`` of the fit this run makes in its run dir.

    ``baseline``: key of :func:`~prunescope.baselines.material.baseline_key_material` (model, data, training length,
    baseline seed) and ``seed``. ``fine-tune``: key of that plus the resolved ``pruning`` node and ``finetune_epochs``.
    """
    material: dict[str, Any] = {"baseline": baseline_key_material(cfg), "seed": cfg.get("seed")}
    if not pruning_enabled(cfg):
        return f"baseline:{baseline_key(material)}"
    material["pruning"] = OmegaConf.to_container(cfg.pruning, resolve=True)
    material["finetune_epochs"] = cfg.get("finetune_epochs")
    return f"fine-tune:{baseline_key(material)}"


class FitIdentityStamp(pl.Callback):
    """Writes ``identity`` into every checkpoint of the fit (under :data:`IDENTITY_KEY`)."""

    def __init__(self, identity: str) -> None:
        self.identity = identity

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[IDENTITY_KEY] = self.identity


def check_resumable(cfg: DictConfig) -> None:
    """Refuse, before any data is read, a re-run whose run dir holds another fit's ``last.ckpt``.

    Nothing happens without ``resume`` (default true), with an explicit ``ckpt_path`` (the user's choice) or
    without ``checkpoints/last.ckpt``. The checkpoint is only read (weights-only, memory-mapped), never changed.

    Raises:
        ConfigError: ``last.ckpt`` carries another identity, or none (written before identities were recorded).
    """
    if cfg.get("ckpt_path") is not None or (last := resume_path(cfg)) is None:
        return
    expected = fit_identity(cfg)
    try:
        found = torch.load(last, map_location="cpu", weights_only=True, mmap=True).get(IDENTITY_KEY)
    except Exception as error:  # noqa: BLE001 - an unreadable file is reported as what it is
        found = f"unreadable ({type(error).__name__})"
    if found == expected:
        return
    what = f"fit {found}" if found else "a fit of unknown identity (no fit_identity entry)"
    raise ConfigError(
        f"{last} belongs to {what}, not to this run's fit {expected}, so it is not resumed and is left as it is; "
        f"valid: resume=false (train this run from the start in this dir, its checkpoints are replaced), "
        f"ckpt_path={last} (resume from it anyway) or another hydra.run.dir"
    )
