"""LightningDataModules: embedded digit data (no download), CamVid and CIFAR-10."""

from prunescope.data.camvid import CamVidDataModule
from prunescope.data.cifar10 import CIFAR10DataModule
from prunescope.data.dataset_root import DatasetNotFoundError
from prunescope.data.digit_scenes import DigitScenesDataModule
from prunescope.data.digits import DigitsDataModule
from prunescope.data.file_checks import DataFileError
from prunescope.data.seeded_datamodule import SeededDataModule

DATAMODULES: dict[str, type[SeededDataModule]] = {
    "digit_scenes": DigitScenesDataModule,
    "digits": DigitsDataModule,
    "camvid": CamVidDataModule,
    "cifar10": CIFAR10DataModule,
}
"""Datamodule classes keyed by their ``conf/data/<name>.yaml`` name."""

__all__ = [
    "DATAMODULES",
    "CIFAR10DataModule",
    "CamVidDataModule",
    "DataFileError",
    "DatasetNotFoundError",
    "DigitScenesDataModule",
    "DigitsDataModule",
    "SeededDataModule",
]
