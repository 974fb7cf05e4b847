"""Base LightningDataModule: seeded loaders and the dataset description shared by all datamodules."""

from __future__ import annotations

import sys

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from prunescope.data.epoch_sampler import EpochShuffleSampler
from prunescope.data.resident import ResidentSplit, resident_loader

# Loader workers are forked on Linux, whatever the process's default start method: inside a joblib/loky sweep job
# (hydra/launcher=joblib) the default context is loky's, which DataLoader workers cannot use.
WORKER_START_METHOD = "fork" if sys.platform.startswith("linux") else None
STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("test",)}
"""The splits each Lightning stage reads (what ``in_memory`` / ``on_device`` decode; all three for ``stage=None``)."""


class SeededDataModule(pl.LightningDataModule):
    """Holds train/val/test datasets and serves them through seeded ``DataLoader``s.

    The training loader shuffles with a ``torch.Generator`` seeded by ``seed`` (same seed → same order, epoch
    by epoch) and drops the last incomplete batch when the set has more than one batch (a batch of one breaks
    BatchNorm after global pooling). Subclasses set ``num_classes``, ``ignore_index``, ``task``,
    ``class_names`` and the input normalisation ``input_mean`` / ``input_std`` (per channel, for pixels scaled
    to [0, 1]: a network sees ``(x - mean) / std``) and fill ``train_dataset`` / ``val_dataset`` / ``test_dataset`` in ``setup``.
    A split held on the device (:class:`~prunescope.data.resident.ResidentSplit`, ``data.on_device``) is served by
    :func:`~prunescope.data.resident.resident_loader` instead (same order, no workers, batches already on the device).

    Args:
        batch_size: samples per batch (all three loaders).
        num_workers: loader worker processes.
        seed: seed of the shuffling generator (and of the subclass's own randomness); ``None`` → 0, so data
            stays reproducible when a run disables global seeding.
        pin_memory: pin host memory for faster GPU transfer.
    """

    num_classes: int
    ignore_index: int | None
    task: str
    class_names: list[str]
    input_mean: tuple[float, ...]
    input_std: tuple[float, ...]

    def __init__(
        self, batch_size: int, num_workers: int = 0, seed: int | None = 0, pin_memory: bool = False
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = 0 if seed is None else int(seed)
        self.pin_memory = pin_memory
        self.train_dataset: Dataset | None = None
        self.val_dataset: Dataset | None = None
        self.test_dataset: Dataset | None = None

    @property
    def validation_is_test(self) -> bool:
        """Whether the validation loader reads the test images (CIFAR-10 with ``val_size=0``); then no run records
        validation figures, since nothing may be chosen on them."""
        return False

    def check_declared(self, num_classes: int | None, task: str | None, ignore_index: int | None) -> None:
        """Check the config's ``num_classes`` / ``task`` / ``ignore_index`` keys against the dataset's.

        ``None`` means "not declared" and is not checked.

        Raises:
            ValueError: a declared value differs from the dataset's.
        """
        declared = {"num_classes": num_classes, "task": task, "ignore_index": ignore_index}
        for key, value in declared.items():
            actual = getattr(self, key)
            if value is not None and value != actual:
                raise ValueError(
                    f"{type(self).__name__}: config declares {key}={value!r} but the dataset has {key}={actual!r}"
                )

    @staticmethod
    def split_limits(
        limit_train: int | None, limit_val: int | None, limit_test: int | None
    ) -> dict[str, int | None]:
        """``{"train": limit_train, "val": limit_val, "test": limit_test}``, each ``None`` (all) or >= 1.

        Raises:
            ValueError: a limit is below 1.
        """
        limits = {"train": limit_train, "val": limit_val, "test": limit_test}
        for split, limit in limits.items():
            if limit is not None and limit < 1:
                raise ValueError(f"limit_{split} must be >= 1 or null, got {limit}")
        return limits

    def _loader(self, dataset: Dataset | None, split: str, train: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}: {split} dataset not built; call setup() first")
        if isinstance(dataset, ResidentSplit):  # data.on_device: batches built where the split lives
            return resident_loader(dataset, self.batch_size, self.seed, train)
        generator = torch.Generator().manual_seed(self.seed) if train else None  # worker seeds
        sampler = EpochShuffleSampler(len(dataset), self.seed) if train else None  # type: ignore[arg-type]
        drop_last = train and len(dataset) > self.batch_size  # type: ignore[arg-type]
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=drop_last,
            generator=generator,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            multiprocessing_context=WORKER_START_METHOD if self.num_workers > 0 else None,
        )

    def train_dataloader(self) -> DataLoader:
        """Training loader shuffled by (seed, epoch) (:class:`~prunescope.data.epoch_sampler.EpochShuffleSampler`)."""
        return self._loader(self.train_dataset, "train", train=True)

    def val_dataloader(self) -> DataLoader:
        """Validation loader in dataset order."""
        return self._loader(self.val_dataset, "val", train=False)

    def test_dataloader(self) -> DataLoader:
        """Test loader in dataset order."""
        return self._loader(self.test_dataset, "test", train=False)
