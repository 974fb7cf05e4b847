"""Image classification: cross-entropy and top-1 accuracy."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics.classification import MulticlassAccuracy

from prunescope.modules.task_module import OptimizerFactory, SchedulerFactory, TaskModule


class ClassificationModule(TaskModule):
    """Cross-entropy classification; logs ``{train,val}/loss`` and ``{val,test}/acc`` (top-1, micro).

    Args:
        net: network returning logits ``(B, num_classes)``.
        optimizer: partial optimizer. scheduler: partial scheduler or ``None``.
        num_classes: number of classes.
        label_smoothing: cross-entropy label smoothing.
        scheduler_interval, warmup_fraction, channels_last, compile: see :class:`TaskModule`.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        num_classes: int = 10,
        label_smoothing: float = 0.0,
        scheduler_interval: str = "epoch",
        warmup_fraction: float = 0.0,
        channels_last: bool = False,
        compile: bool = False,  # noqa: A002 - the config key model.compile
    ) -> None:
        super().__init__(
            net, optimizer, scheduler, scheduler_interval, warmup_fraction, channels_last, compile
        )
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"])
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")

    @property
    def quality_metric(self) -> str:
        return "acc"

    def task_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels = batch
        logits = self(images)
        loss = self.training_loss(images, logits, labels)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        logits = self(images)
        self.log("val/loss", self.task_loss(logits, labels), on_epoch=True, prog_bar=True)
        self.val_acc.update(logits, labels)
        self.log("val/acc", self.val_acc, on_epoch=True, prog_bar=True)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        self.test_acc.update(self(images), labels)
        self.log("test/acc", self.test_acc, on_epoch=True)
