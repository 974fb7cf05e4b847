"""DigitScenesDataModule: determinism, mask content, shapes, contrast, loaders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from prunescope.data import DigitScenesDataModule
from prunescope.data.digit_scenes import SCENE_MEAN, SCENE_STD
from prunescope.data.sklearn_digits import DIGIT_SPLITS, load_digit_split

SMALL = {"num_train": 24, "num_val": 8, "num_test": 8, "image_size": 48}


def built(seed: int = 0, **options) -> DigitScenesDataModule:
    dm = DigitScenesDataModule(batch_size=8, seed=seed, **{**SMALL, **options})
    dm.setup("fit")
    return dm


def test_same_seed_gives_identical_tensors_and_other_seed_differs() -> None:
    first, again, other = built(seed=3), built(seed=3), built(seed=4)
    for split in ("train_dataset", "val_dataset", "test_dataset"):
        images, masks = getattr(first, split).tensors
        images_again, masks_again = getattr(again, split).tensors
        assert torch.equal(images, images_again) and torch.equal(masks, masks_again)
        assert not torch.equal(images, getattr(other, split).tensors[0])
        assert not torch.equal(masks, getattr(other, split).tensors[1])


def test_shapes_dtypes_and_description() -> None:
    dm = built(image_size=(40, 56))
    images, masks = dm.train_dataset.tensors
    assert images.shape == (24, 3, 40, 56) and images.dtype == torch.float32
    assert masks.shape == (24, 40, 56) and masks.dtype == torch.int64
    assert len(dm.val_dataset) == 8 and len(dm.test_dataset) == 8
    assert (dm.num_classes, dm.ignore_index, dm.task) == (11, None, "segmentation")
    assert len(dm.class_names) == 11 and dm.class_names[0] == "background"


def test_masks_hold_digit_labels_and_every_scene_has_a_digit() -> None:
    dm = built(num_train=64)
    masks = dm.train_dataset.tensors[1]
    assert masks.min() >= 0 and masks.max() <= 10
    digit_pixels = (masks > 0).flatten(1).sum(1)
    assert (digit_pixels > 0).all()
    assert len(masks.unique()) >= 8  # 64 scenes of 1–3 digits cover most classes


def test_digit_strokes_contrast_with_background() -> None:
    dm = built(num_train=32)
    images, masks = dm.train_dataset.tensors
    pixels = images * SCENE_STD + SCENE_MEAN
    assert pixels.min() >= -1e-6 and pixels.max() <= 1 + 1e-6
    for image, mask in zip(pixels, masks, strict=True):
        stroke = image[:, mask > 0].mean(1)
        background = image[:, mask == 0].mean(1)
        assert (stroke - background).abs().min() > 0.2  # every channel differs clearly


@pytest.mark.parametrize(
    ("polarity", "lighter"), [("light_on_dark", [True]), ("dark_on_light", [False]), ("mixed", [True, False])]
)
def test_polarity_decides_whether_digits_are_lighter_than_the_background(
    polarity: str, lighter: list
) -> None:
    images, masks = built(num_train=32, polarity=polarity).train_dataset.tensors
    brightness = images.mean(1)  # (N, H, W), normalised
    digit_is_lighter = {
        bool(image[mask > 0].mean() > image[mask == 0].mean())
        for image, mask in zip(brightness, masks, strict=True)
    }
    assert digit_is_lighter == set(lighter)


def test_background_weight_becomes_class_weights() -> None:
    weighted = DigitScenesDataModule(background_weight=0.2).class_weights
    assert weighted is not None and weighted.shape == (11,)
    assert weighted[0].item() == pytest.approx(0.2) and torch.all(weighted[1:] == 1)
    assert DigitScenesDataModule(background_weight=None).class_weights is None
    assert DigitScenesDataModule(background_weight=1.0).class_weights is None


def test_digit_splits_are_disjoint_and_cover_sklearn_digits() -> None:
    ranges = [set(range(1797)[part]) for part in DIGIT_SPLITS.values()]
    assert sum(len(r) for r in ranges) == 1797 and len(set.union(*ranges)) == 1797
    images, labels = load_digit_split("val")
    assert images.shape == (300, 8, 8) and images.max() <= 1.0 and set(np.unique(labels)) == set(range(10))


def test_train_loader_is_seeded_and_batches_have_contract_shapes() -> None:
    orders = []
    for _ in range(2):
        dm = built(seed=5)
        images, masks = next(iter(dm.train_dataloader()))
        assert images.shape == (8, 3, 48, 48) and masks.shape == (8, 48, 48)
        orders.append(masks)
    assert torch.equal(orders[0], orders[1])
    other = next(iter(built(seed=6).train_dataloader()))[1]
    assert not torch.equal(orders[0], other)


def test_invalid_options_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="min_digits"):
        DigitScenesDataModule(batch_size=4, min_digits=3, max_digits=2)
    with pytest.raises(ValueError, match="num_classes=10"):
        DigitScenesDataModule(batch_size=4, num_classes=10)
    with pytest.raises(ValueError, match="image_size"):
        DigitScenesDataModule(batch_size=4, image_size=(1, 2, 3))
    with pytest.raises(
        ValueError, match="unknown polarity 'inverted'; valid: light_on_dark, dark_on_light, mixed"
    ):
        DigitScenesDataModule(polarity="inverted")
    with pytest.raises(ValueError, match="background_weight must be > 0"):
        DigitScenesDataModule(background_weight=0.0)
