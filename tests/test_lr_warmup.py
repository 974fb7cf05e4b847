"""LR warm-up of the baseline fit (``warmup_fraction``): the first steps run at a linearly rising fraction of the
scheduled LR, the scheduler itself is unaffected, and a pruning fine-tune switches it off."""

from __future__ import annotations

import functools

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from prunescope.fitting.finetune_optimizer import install_finetune_optimizer
from prunescope.modules import ClassificationModule
from prunescope.pruning.options import FinetuneOptions

BATCHES, EPOCHS, LR = 4, 5, 0.1


class LearningRates(pl.Callback):
    """The LR each optimizer step runs at (read inside the step, after the closure)."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.seen.append(optimizer.param_groups[0]["lr"])


def _fit(warmup_fraction: float) -> list[float]:
    torch.manual_seed(0)
    module = ClassificationModule(
        nn.Linear(4, 3),
        optimizer=functools.partial(torch.optim.SGD, lr=LR),
        scheduler=functools.partial(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=EPOCHS),
        num_classes=3,
        warmup_fraction=warmup_fraction,
    )
    data = TensorDataset(torch.randn(BATCHES * 2, 4), torch.randint(0, 3, (BATCHES * 2,)))
    rates = LearningRates()
    trainer = pl.Trainer(
        max_epochs=EPOCHS,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[rates],
    )
    trainer.fit(module, train_dataloaders=DataLoader(data, batch_size=2))
    return rates.seen


def test_warmup_scales_the_first_steps_and_leaves_the_schedule_alone() -> None:
    plain = _fit(0.0)
    warm = _fit(0.3)  # 0.3 x 20 steps = 6 warm-up steps
    assert len(plain) == len(warm) == BATCHES * EPOCHS
    warmup_steps = 0.3 * BATCHES * EPOCHS
    for step, (scheduled, used) in enumerate(zip(plain, warm, strict=True)):
        expected = scheduled * min(1.0, (step + 1) / warmup_steps)
        assert used == pytest.approx(expected, rel=1e-9), f"step {step}"
    assert warm[0] < plain[0] / 5  # the warm-up did something
    assert warm[-1] == pytest.approx(plain[-1])  # cosine decay unchanged after it


def test_finetune_optimizer_switches_warmup_off() -> None:
    module = ClassificationModule(
        nn.Linear(4, 3),
        optimizer=functools.partial(torch.optim.SGD, lr=LR),
        num_classes=3,
        warmup_fraction=0.3,
    )
    install_finetune_optimizer(module, FinetuneOptions(), epochs=2)
    assert module.warmup_fraction == 0.0


def test_warmup_fraction_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"warmup_fraction must be in \[0, 1\)"):
        ClassificationModule(nn.Linear(4, 3), optimizer=torch.optim.SGD, num_classes=3, warmup_fraction=1.0)
