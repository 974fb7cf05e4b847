"""CIFAR10DataModule on the shared tars (skipped without them), unpacked once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from prunescope.data import CIFAR10DataModule, DatasetNotFoundError
from prunescope.data.cifar10 import CIFAR10_CLASSES, DecodedImages
from prunescope.data.file_checks import DataFileError


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
    held_out = CIFAR10DataModule(
        cifar10_tar_root, batch_size=8, cache_dir=data_cache_dir / "cifar10", on_device=False
    )
    held_out.setup()
    assert (len(held_out.train_dataset), len(held_out.val_dataset), len(held_out.test_dataset)) == (
        45000,
        5000,
        10000,
    )
    assert not set(held_out.train_dataset.indices) & set(held_out.val_dataset.indices)
    no_val = CIFAR10DataModule(
        cifar10_folder, batch_size=8, val_size=0, on_device=False
    )  # train/ test/ directly
    no_val.setup()
    assert (len(no_val.train_dataset), len(no_val.val_dataset), len(no_val.test_dataset)) == (
        50000,
        10000,
        10000,
    )


def test_batches_shapes_labels_and_seeded_limits(cifar10_folder: Path) -> None:
    def module(seed: int) -> CIFAR10DataModule:
        dm = CIFAR10DataModule(cifar10_folder, batch_size=32, seed=seed, val_size=500, on_device=False,
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


def test_in_memory_splits_give_the_same_samples_as_the_files(cifar10_folder: Path) -> None:
    """``in_memory=True`` decodes once at setup; every split yields what reading the files yields (augmentation
    included, under the same random state)."""

    def module(in_memory: bool) -> CIFAR10DataModule:
        dm = CIFAR10DataModule(cifar10_folder, batch_size=16, seed=3, val_size=300, in_memory=in_memory, on_device=False,
                               limit_train=48, limit_val=20, limit_test=30)  # fmt: skip
        dm.setup()
        return dm

    files, memory = module(False), module(True)
    assert (
        isinstance(memory.train_dataset, DecodedImages) and memory.train_dataset.images.dtype == torch.uint8
    )
    for split in ("train", "val", "test"):
        from_files, from_memory = getattr(files, f"{split}_dataset"), getattr(memory, f"{split}_dataset")
        assert len(from_files) == len(from_memory)
        for index in (0, len(from_files) // 2, len(from_files) - 1):
            torch.manual_seed(index)
            file_image, file_label = from_files[index]
            torch.manual_seed(index)
            memory_image, memory_label = from_memory[index]
            assert file_label == memory_label
            torch.testing.assert_close(memory_image, file_image, rtol=0, atol=0)
    images, labels = next(iter(memory.train_dataloader()))
    assert images.shape == (16, 3, 32, 32) and images.dtype == torch.float32 and labels.dtype == torch.int64

    testing = CIFAR10DataModule(cifar10_folder, batch_size=16, seed=3, val_size=300, in_memory=True, on_device=False,
                                limit_train=48, limit_val=20, limit_test=30)  # fmt: skip
    testing.setup("test")  # a test-only command decodes the test split alone
    assert isinstance(testing.test_dataset, DecodedImages)
    assert not any(isinstance(d, DecodedImages) for d in (testing.train_dataset, testing.val_dataset))
    testing.setup("fit")
    assert isinstance(testing.train_dataset, DecodedImages) and isinstance(testing.val_dataset, DecodedImages)


def test_in_memory_setup_fails_naming_an_undecodable_file(tmp_path: Path, cifar10_folder: Path) -> None:
    for split in ("train", "test"):
        for name in CIFAR10_CLASSES:
            (tmp_path / split / name).mkdir(parents=True)
            for index in range(2):
                source = next((cifar10_folder / split / name).iterdir())
                (tmp_path / split / name / f"{index}.jpg").write_bytes(source.read_bytes())
    bad = tmp_path / "test" / "cat" / "1.jpg"
    bad.write_bytes(bad.read_bytes()[:40])  # truncated JPEG: non-empty, so only decoding finds it
    dm = CIFAR10DataModule(tmp_path, batch_size=4, val_size=4, in_memory=True, on_device=False)
    with pytest.raises(DataFileError, match="1.jpg"):
        dm.setup()
