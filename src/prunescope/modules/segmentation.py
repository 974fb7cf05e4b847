"""Semantic segmentation: pixel-wise cross-entropy, mIoU / pixel accuracy / per-class IoU."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

from prunescope.modules.task_module import OptimizerFactory, SchedulerFactory, TaskModule


def segmentation_metrics(num_classes: int, ignore_index: int | None) -> MetricCollection:
    """mIoU (macro Jaccard), pixel accuracy (micro) and per-class IoU, all ignoring ``ignore_index``.

    A class absent from both the targets and the predictions has no IoU: NaN in ``iou_per_class`` (``null`` in
    ``metrics.json``), and the macro mean leaves it out, so ``miou`` is the mean of the other classes' IoUs.
    """
    return MetricCollection(
        {
            "miou": MulticlassJaccardIndex(num_classes, average="macro", ignore_index=ignore_index),
            "pixel_acc": MulticlassAccuracy(num_classes, average="micro", ignore_index=ignore_index),
            "iou_per_class": MulticlassJaccardIndex(
                num_classes, average="none", ignore_index=ignore_index, zero_division=math.nan
            ),
        }
    )


class SegmentationModule(TaskModule):
    """Cross-entropy segmentation with ``ignore_index`` and optional class weights.

    Logs ``{train,val}/loss``, ``{val,test}/miou``, ``{val,test}/pixel_acc`` and ``test/iou_<k>`` per class (NaN
    for a class absent from both the test targets and the predictions).

    Args:
        net: network returning logits ``(B, num_classes, H, W)``.
        optimizer: partial optimizer. scheduler: partial scheduler or ``None``.
        num_classes: number of classes (void excluded).
        ignore_index: label value ignored by loss and metrics, or ``None``.
        class_weights: per-class loss weights (length ``num_classes``) or ``None``.
        scheduler_interval, warmup_fraction, channels_last, compile: see :class:`TaskModule`.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        num_classes: int = 2,
        ignore_index: int | None = None,
        class_weights: Sequence[float] | None = None,
        scheduler_interval: str = "epoch",
        warmup_fraction: float = 0.0,
        channels_last: bool = False,
        compile: bool = False,  # noqa: A002 - the config key model.compile
    ) -> None:
        super().__init__(
            net, optimizer, scheduler, scheduler_interval, warmup_fraction, channels_last, compile
        )
        if class_weights is not None and len(class_weights) != num_classes:
            raise ValueError(
                f"class_weights has {len(class_weights)} entries, expected num_classes={num_classes}"
            )
        if (
            class_weights is not None
        ):  # plain floats: Hydra passes a ListConfig, which weights_only loads reject
            class_weights = [float(w) for w in class_weights]
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"])
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        weights = (
            torch.tensor(list(class_weights), dtype=torch.float32) if class_weights is not None else None
        )
        self.register_buffer("class_weights", weights, persistent=False)
        self.val_metrics = segmentation_metrics(num_classes, ignore_index).clone(prefix="val/")
        self.test_metrics = segmentation_metrics(num_classes, ignore_index).clone(prefix="test/")

    @property
    def quality_metric(self) -> str:
        return "miou"

    def task_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        ignore = self.ignore_index if self.ignore_index is not None else -100
        return F.cross_entropy(logits, targets, weight=self.class_weights, ignore_index=ignore)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, masks = batch
        logits = self(images)
        loss = self.training_loss(images, logits, masks)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, masks = batch
        logits = self(images)
        self.log("val/loss", self.task_loss(logits, masks), on_epoch=True, prog_bar=True)
        self.val_metrics.update(logits.argmax(dim=1), masks)

    def on_validation_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        self.log("val/miou", values["val/miou"], prog_bar=True)
        self.log("val/pixel_acc", values["val/pixel_acc"])
        self.val_metrics.reset()

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, masks = batch
        self.test_metrics.update(self(images).argmax(dim=1), masks)

    def on_test_epoch_end(self) -> None:
        values = self.test_metrics.compute()
        self.log("test/miou", values["test/miou"])
        self.log("test/pixel_acc", values["test/pixel_acc"])
        for k, iou in enumerate(values["test/iou_per_class"]):
            self.log(f"test/iou_{k}", iou)
        self.test_metrics.reset()
