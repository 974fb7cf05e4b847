"""Stop a fit as soon as it diverges: a non-finite training loss or non-finite weights end the stage with one line
that names the stage, the epoch and the step."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch


class DivergenceError(FloatingPointError):
    """A fit produced a non-finite loss or non-finite weights."""


class DivergenceGuard(pl.Callback):
    """Raise :class:`DivergenceError` on a non-finite loss (every batch) or non-finite weights (every epoch end).

    Args:
        stage: the run stage named in the message (``baseline``, ``fine-tune``, ``layer search``).
    """

    def __init__(self, stage: str) -> None:
        super().__init__()
        self.stage = stage

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor) and not bool(torch.isfinite(loss.detach()).all()):
            raise DivergenceError(
                f"{self.stage} diverged: training loss is {float(loss.detach().float().mean())} at epoch "
                f"{trainer.current_epoch}, step {trainer.global_step} (batch {batch_idx}); lower the learning rate"
            )

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        bad = [name for name, p in pl_module.named_parameters() if not bool(torch.isfinite(p.detach()).all())]
        if bad:
            raise DivergenceError(
                f"{self.stage} diverged: {len(bad)} weight tensors are non-finite (first: {bad[0]}) after epoch "
                f"{trainer.current_epoch}, step {trainer.global_step}; lower the learning rate"
            )


def assert_finite_weights(module: torch.nn.Module, what: str) -> None:
    """Raise :class:`DivergenceError` when any parameter of ``module`` is non-finite (``what`` names it)."""
    for name, parameter in module.named_parameters():
        if not bool(torch.isfinite(parameter.detach()).all()):
            raise DivergenceError(f"{what} has non-finite weights ({name}); it cannot be tested or scored")


__all__ = ["DivergenceError", "DivergenceGuard", "assert_finite_weights"]
