"""LightningModules: one per task, sharing :class:`TaskModule`."""

from prunescope.modules.classification import ClassificationModule
from prunescope.modules.segmentation import SegmentationModule
from prunescope.modules.task_module import TaskModule

__all__ = ["ClassificationModule", "SegmentationModule", "TaskModule"]
