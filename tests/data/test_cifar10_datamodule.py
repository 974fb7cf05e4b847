"""CIFAR10DataModule on the shared tars (skipped without them), unpacked once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from prunescope.data import CIFAR10DataModule, DatasetNotFoundError
from prunescope.data.cifar10 import CIFAR10_CLASSES


@pytest.fixture(scope="session")
def cifar10_folder(cifar10_tar_root: Path, data_cache_dir: Path) -> Path:
    """The tars unpacked once into the session cache; returns the folder holding train/ and test/."""
    dm = CIFAR10DataModule(cifar10_tar_root, batch_size=8, cache_dir=data_cache_dir / "cifar10")
    return dm.image_folder_root()


def test_unpacked_folders_hold_50000_train_and_10000_test_images(cifar10_folder: Path) -> None:
    for split, expected in {"train": 50000, "test": 10000}.items():
        class_dirs = sorted(p.name for p in (cifar10_folder / split).iterdir())
        assert class_dirs == CIFAR10_CLASSES
        assert sum(1 for _ in (cifar10_folder / split).rglob("*.jpg")) == expected


def test_split_lengths_with_and_without_validation_hold_out(
    cifar10_tar_root: Path, data_cache_dir: Path, cifar10_folder: Path
) -> None:
    held_out = CIFAR10DataModule(cifar10_tar_root, batch_size=8, cache_dir=data_cache_dir / "cifar10")
    held_out.setup()
    assert (len(held_out.train_dataset), len(held_out.val_dataset), len(held_out.test_dataset)) == (
        45000,
        5000,
        10000,
    )
    assert not set(held_out.train_dataset.indices) & set(held_out.val_dataset.indices)
    no_val = CIFAR10DataModule(cifar10_folder, batch_size=8, val_size=0)  # root with train/ test/ directly
    no_val.setup()
    assert (len(no_val.train_dataset), len(no_val.val_dataset), len(no_val.test_dataset)) == (
        50000,
        10000,
        10000,
    )


def test_batches_shapes_labels_and_seeded_limits(cifar10_folder: Path) -> None:
    def module(seed: int) -> CIFAR10DataModule:
        dm = CIFAR10DataModule(cifar10_folder, batch_size=32, seed=seed, val_size=500,
                               limit_train=64, limit_val=32, limit_test=40)  # fmt: skip
        dm.setup()
        return dm

    dm = module(0)
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (64, 32, 40)
    for loader in (dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()):
        images, labels = next(iter(loader))
        assert images.shape == (32, 3, 32, 32) and images.dtype == torch.float32
        assert labels.dtype == torch.int64 and labels.min() >= 0 and labels.max() <= 9
    assert (dm.num_classes, dm.task, dm.ignore_index, dm.class_names) == (
        10,
        "classification",
        None,
        CIFAR10_CLASSES,
    )
    assert module(0).train_dataset.indices == dm.train_dataset.indices
    assert module(1).train_dataset.indices != dm.train_dataset.indices
    val_image, _ = dm.val_dataset[0]
    assert torch.equal(val_image, dm.val_dataset[0][0])  # validation is not augmented


def test_missing_roots_raise_errors_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="no_cifar") as error:
        CIFAR10DataModule(tmp_path / "no_cifar", batch_size=8)
    assert "train.tar" in str(error.value)
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py"):
        CIFAR10DataModule(tmp_path, batch_size=8, format="torchvision")
    with pytest.raises(ValueError, match="imagefolder"):
        CIFAR10DataModule(tmp_path, batch_size=8, format="lmdb")
