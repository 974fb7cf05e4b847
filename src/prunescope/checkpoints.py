"""The PruneScope checkpoint format: save, read, load into a module, rebuild a module from a checkpoint.

A checkpoint is a ``torch.save``'d dict that loads with ``torch.load(..., weights_only=True)``:

- ``state_dict``: the LightningModule's weights (``net.*``) at the pruned shapes;
- ``pruning_record``: JSON-safe list of pruning operations, replayed on a fresh network before the weights load
  (:func:`prunescope.pruning.replay`);
- ``model_config``: the resolved ``model`` config node, enough to rebuild the module without the run config;
- ``data_config``: the resolved ``data`` config node the module was trained and scored with;
- optional plain extras (a cached baseline stores its test ``metrics``).

Lightning's own checkpoints (``last.ckpt``) carry the same keys, added by
:meth:`prunescope.modules.TaskModule.on_save_checkpoint` from :meth:`~prunescope.modules.TaskModule.checkpoint_payload`.
"""

from __future__ import annotations

import errno
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.plugins.io import TorchCheckpointIO

from prunescope.atomic_write import torch_save_atomic
from prunescope.modules import TaskModule

LAST_NAME = "last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, but every file is written to a temporary name and renamed into place."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        save_atomic(path, checkpoint)


WRITE_FAILURES = ("inline_container.cc", "PytorchStreamWriter", "file write failed")
"""Phrases of the ``RuntimeError`` ``torch.save`` raises when a write fails (it drops the ``errno``)."""


def save_atomic(path: str | os.PathLike[str], payload: Any) -> Path:
    """``torch.save(payload)`` to ``path`` atomically; a failed write (a full disk, a quota or file size limit) is
    an ``OSError`` (``ENOSPC``) naming ``path``: ``torch.save`` reports it as a ``RuntimeError`` without one. The
    file at ``path`` is left as it was."""
    try:
        return torch_save_atomic(path, payload)
    except RuntimeError as error:
        if not any(phrase in str(error) for phrase in WRITE_FAILURES):
            raise
        raise OSError(errno.ENOSPC, "the write failed: disk full or a file size limit", str(path)) from error


def resume_path(cfg: DictConfig) -> str | None:
    """The Lightning checkpoint a fit resumes from: ``ckpt_path``, else (``resume: true``) the run dir's
    ``checkpoints/last.ckpt`` when it exists, else ``None``."""
    if cfg.get("ckpt_path") is not None:
        return str(cfg.ckpt_path)
    last = Path(cfg.paths.output_dir) / "checkpoints" / LAST_NAME
    return str(last) if cfg.get("resume", True) and last.is_file() else None


def save_checkpoint(
    module: TaskModule, path: str | os.PathLike[str], extra: dict[str, Any] | None = None
) -> Path:
    """Write ``state_dict`` + the module's checkpoint payload (+ plain ``extra`` data) to ``path`` atomically."""
    payload = {"state_dict": module.state_dict(), **module.checkpoint_payload(), **(extra or {})}
    return save_atomic(path, payload)


class CheckpointError(ValueError):
    """A file that is not a usable PruneScope checkpoint; the message names the file, what it is and what was
    expected."""


EXPECTED = "expected a .ckpt written by prunescope-train (state_dict + pruning_record, torch.save format)"


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint on the CPU with ``weights_only=True``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: ``path`` is a directory, empty, truncated, not a torch file, or has no ``state_dict``.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a directory; {EXPECTED}")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"checkpoint {path} is an empty file (0 bytes); {EXPECTED}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (EOFError, RuntimeError, OSError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(
            f"checkpoint {path} ({size} bytes) cannot be read, it is truncated or not a torch file "
            f"({reason}); {EXPECTED}"
        ) from error
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"checkpoint {path} holds objects a weights-only load refuses (not written by prunescope-train); "
            f"{EXPECTED}"
        ) from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"checkpoint {path} has no state_dict; {EXPECTED}")
    return checkpoint


def load_state(module: TaskModule, checkpoint: dict[str, Any], source: str | os.PathLike[str]) -> None:
    """Replay ``checkpoint``'s pruning record on ``module.net`` and load its weights.

    Raises:
        CheckpointError: the pruning record or the weights do not fit the module's architecture (the record's
            layer or index that does not fit; both model configs).
    """
    from prunescope.pruning.api import RecordMismatch

    try:
        module.apply_pruning_record(checkpoint.get("pruning_record") or [])
    except RecordMismatch as error:
        made_for = _describe(checkpoint.get("model_config"))
        builds = _describe(module.model_config)
        other = "" if made_for == builds else f"; the checkpoint has model {made_for}"
        raise CheckpointError(
            f"checkpoint {source}: its pruning record does not fit the model {builds}: {error}{other}"
        ) from error
    try:
        module.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        mismatches = sum("size mismatch" in line or "Missing key" in line for line in str(error).splitlines())
        raise CheckpointError(
            f"checkpoint {source} was made for another architecture ({mismatches} mismatching tensors): it has "
            f"model {_describe(checkpoint.get('model_config'))}, this run builds {_describe(module.model_config)}"
        ) from error


def _describe(model_config: dict[str, Any] | None) -> str:
    if not model_config:
        return "(unknown config)"
    net = {k: v for k, v in dict(model_config.get("net") or {}).items() if k != "_target_"}
    target = str(dict(model_config.get("net") or {}).get("_target_", "?")).rsplit(".", 1)[-1]
    return f"{target}({', '.join(f'{k}={v}' for k, v in net.items())})"


def load_checkpoint_into(module: TaskModule, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Replay the checkpoint's pruning record on ``module.net``, then load its weights; returns the checkpoint."""
    checkpoint = read_checkpoint(path)
    load_state(module, checkpoint, path)
    return checkpoint


DATA_IDENTITY_KEYS = ("_target_", "image_size", "num_classes", "ignore_index", "task")
"""Data settings that must agree for two checkpoints to be compared on one test set."""


def data_differences(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    """``key: a != b`` for every :data:`DATA_IDENTITY_KEYS` entry on which two data configs differ."""
    return [
        f"{key}: {first.get(key)!r} != {second.get(key)!r}"
        for key in DATA_IDENTITY_KEYS
        if first.get(key) != second.get(key)
    ]


def check_baseline_data(
    path: str | os.PathLike[str], run_data: DictConfig | dict[str, Any], force: bool = False
) -> None:
    """Refuse a baseline checkpoint trained with other data settings than the run's (the comparison of
    ``prunescope-sp2ps``, :func:`data_differences`), before the run does any work with it.

    A checkpoint that records no data settings (written before ``data_config``) is accepted.

    Args:
        path: the run's ``baseline.ckpt_path``.
        run_data: the run's ``data`` config.
        force: ``baseline.force``: accept differing settings.

    Raises:
        FileNotFoundError, CheckpointError: as :func:`read_checkpoint`; or the data settings differ and ``force`` is
            false (one line naming each differing setting, checkpoint's value first).
    """
    recorded = read_checkpoint(path).get("data_config")
    if recorded is None or force:
        return
    if isinstance(run_data, DictConfig):
        run_data = OmegaConf.to_container(run_data, resolve=True)
    differences = data_differences(dict(recorded), dict(run_data))
    if differences:
        raise CheckpointError(
            f"baseline checkpoint {path} was trained with other data settings than this run's (checkpoint != run: "
            + "; ".join(differences)
            + "); choose the data it was trained with, or pass baseline.force=true to prune it on this run's data "
            "anyway"
        )


def module_from_checkpoint(
    checkpoint: dict[str, Any], source: str | os.PathLike[str] = "(given)"
) -> TaskModule:
    """Rebuild the module saved in ``checkpoint`` (read from ``source``) from its ``model_config``, replay its
    pruning, load its weights.

    Raises:
        CheckpointError: the checkpoint has no ``model_config`` (it was not written by ``prunescope-train``), its
            ``model_config`` does not build (a key this version does not take, a bad value: the key is named), or
            its record or weights do not fit the model.
    """
    model_config = checkpoint.get("model_config")
    if model_config is None:
        raise CheckpointError(
            f"checkpoint {source} has no model_config; it was not written by prunescope-train"
        )
    from hydra.errors import InstantiationException

    from prunescope.config_checks import instantiate_checked, one_line

    root = OmegaConf.create({"model": model_config})  # errors name the keys model.net.<key>
    try:
        module = instantiate_checked(root.model, root)
    except (ValueError, TypeError, InstantiationException) as error:
        text = one_line(str(error))
        raise CheckpointError(
            f"checkpoint {source}: its model_config does not build with this version of PruneScope ({text})"
        ) from error
    module.model_config = model_config
    load_state(module, checkpoint, source)
    return module
