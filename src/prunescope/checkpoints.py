"""The PruneScope checkpoint format: save, read, load into a module, rebuild a module from a checkpoint.

A checkpoint is a ``torch.save``'d dict that loads with ``torch.load(..., weights_only=True)``:

- ``state_dict``: the LightningModule's weights (``net.*``) at the pruned shapes;
- ``pruning_record``: JSON-safe list of pruning operations, replayed on a fresh network before the weights load
  (:func:`prunescope.pruning.replay`);
- ``model_config``: the resolved ``model`` config node, enough to rebuild the module without the run config;
- optional plain extras (a cached baseline stores its test ``metrics``).

Lightning's own checkpoints (``last.ckpt``) carry the same keys, added by
:meth:`prunescope.modules.TaskModule.on_save_checkpoint` from :meth:`~prunescope.modules.TaskModule.checkpoint_payload`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from prunescope.atomic_write import torch_save_atomic
from prunescope.modules import TaskModule


def save_checkpoint(
    module: TaskModule, path: str | os.PathLike[str], extra: dict[str, Any] | None = None
) -> Path:
    """Write ``state_dict`` + the module's checkpoint payload (+ plain ``extra`` data) to ``path`` atomically."""
    payload = {"state_dict": module.state_dict(), **module.checkpoint_payload(), **(extra or {})}
    return torch_save_atomic(path, payload)


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint on the CPU with ``weights_only=True``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not a readable PruneScope checkpoint (the message says what was found).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{path} is not a PruneScope checkpoint: it has no state_dict")
    return checkpoint


def load_checkpoint_into(module: TaskModule, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Replay the checkpoint's pruning record on ``module.net``, then load its weights; returns the checkpoint."""
    checkpoint = read_checkpoint(path)
    module.apply_pruning_record(checkpoint.get("pruning_record") or [])
    module.load_state_dict(checkpoint["state_dict"])
    return checkpoint


def module_from_checkpoint(checkpoint: dict[str, Any]) -> TaskModule:
    """Rebuild the module saved in ``checkpoint`` from its ``model_config``, replay its pruning, load its weights.

    Raises:
        ValueError: the checkpoint has no ``model_config`` (it was not written by ``prunescope-train``).
    """
    model_config = checkpoint.get("model_config")
    if model_config is None:
        raise ValueError("checkpoint has no model_config; it was not written by prunescope-train")
    module = instantiate(OmegaConf.create(model_config))
    module.model_config = model_config
    module.apply_pruning_record(checkpoint.get("pruning_record") or [])
    module.load_state_dict(checkpoint["state_dict"])
    return module
