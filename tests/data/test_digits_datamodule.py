"""DigitsDataModule: shapes, labels, split sizes, determinism."""

from __future__ import annotations

import pytest
import torch

from prunescope.data import DigitsDataModule


def test_split_sizes_shapes_and_labels() -> None:
    dm = DigitsDataModule(batch_size=16)
    dm.setup("fit")
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (1197, 300, 300)
    images, labels = dm.train_dataset.tensors
    assert images.shape == (1197, 3, 32, 32) and images.dtype == torch.float32
    assert labels.dtype == torch.int64 and set(labels.tolist()) == set(range(10))
    assert (dm.num_classes, dm.task, dm.ignore_index) == (10, "classification", None)
    batch_images, batch_labels = next(iter(dm.val_dataloader()))
    assert batch_images.shape == (16, 3, 32, 32) and batch_labels.shape == (16,)


def test_same_seed_identical_and_other_seed_differs_on_random_background() -> None:
    def images(seed: int) -> torch.Tensor:
        dm = DigitsDataModule(batch_size=8, seed=seed, limit_train=20, limit_val=5, limit_test=5)
        dm.setup()
        return dm.train_dataset.tensors[0]

    assert torch.equal(images(1), images(1))
    assert not torch.equal(images(1), images(2))


def test_plain_background_is_white_paper_with_dark_strokes() -> None:
    dm = DigitsDataModule(
        batch_size=8, background="plain", image_size=16, limit_train=10, limit_val=2, limit_test=2
    )
    dm.setup()
    pixels = dm.train_dataset.tensors[0] * 0.25 + 0.5
    assert pixels.shape == (10, 3, 16, 16)
    assert torch.allclose(pixels[:, :, 0, 0], torch.ones(10, 3))  # corners of sklearn digits are empty
    assert pixels.amin(dim=(1, 2, 3)).max() < 0.3  # every digit has dark strokes


def test_invalid_options_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="background"):
        DigitsDataModule(batch_size=8, background="noise")
    with pytest.raises(ValueError, match="task"):
        DigitsDataModule(batch_size=8, task="segmentation")
