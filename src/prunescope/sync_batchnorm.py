"""``trainer.sync_batchnorm``: ``auto`` (``conf/trainer/ddp.yaml``) turns SyncBatchNorm on only where it works.

PyTorch's SyncBatchNorm runs on CUDA devices only: a multi-process fit on CPU with it on dies in DDP's wrapper
(``ValueError: SyncBatchNorm layers only work with GPU modules``). ``auto`` resolves to ``true`` when the fit runs on
CUDA (``accelerator`` ``cuda`` / ``gpu``, or ``auto`` with a CUDA device present) and to ``false`` otherwise (CPU,
MPS, ...). An explicit ``true`` on an accelerator without CUDA is refused with one line.
"""

from __future__ import annotations

from typing import Any

import torch

from prunescope.config_checks import ConfigError

AUTO = "auto"
CUDA_ACCELERATORS = ("cuda", "gpu")


def runs_on_cuda(accelerator: Any) -> bool:
    """Whether Lightning's ``accelerator`` (a name or an ``Accelerator``) puts the fit on CUDA devices here."""
    if not isinstance(accelerator, str):  # an Accelerator instance
        return type(accelerator).__name__ == "CUDAAccelerator"
    name = accelerator.lower()
    if name in CUDA_ACCELERATORS:
        return True
    return name == AUTO and torch.cuda.is_available()


def resolve_sync_batchnorm(trainer_cfg: dict[str, Any]) -> dict[str, Any]:
    """``{"sync_batchnorm": bool}`` for a ``trainer`` config dict that sets it, else ``{}`` (Lightning's default).

    Raises:
        ConfigError: ``sync_batchnorm`` is neither a bool nor ``auto``, or is ``true`` where the fit does not run on
            CUDA.
    """
    if "sync_batchnorm" not in trainer_cfg:
        return {}
    value = trainer_cfg["sync_batchnorm"]
    accelerator = trainer_cfg.get("accelerator", AUTO)
    on_cuda = runs_on_cuda(accelerator)
    if isinstance(value, str) and value.lower() == AUTO:
        return {"sync_batchnorm": on_cuda}
    if not isinstance(value, bool):
        raise ConfigError(f"trainer.sync_batchnorm={value!r} is not valid; valid: auto, true, false")
    if value and not on_cuda:
        where = (
            "trainer.accelerator=auto finds no CUDA device here"
            if accelerator == AUTO
            else f"trainer.accelerator={accelerator} is not CUDA"
        )
        raise ConfigError(
            f"trainer.sync_batchnorm=true needs CUDA devices (SyncBatchNorm runs on GPUs only), and {where}; "
            "valid: trainer.sync_batchnorm=auto (on when the fit runs on CUDA) or false"
        )
    return {"sync_batchnorm": value}
