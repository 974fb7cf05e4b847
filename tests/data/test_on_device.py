"""``data.on_device=true`` (issue #26, item 4): splits decoded once onto the training device give the DataLoader
path's batches: equal when nothing is augmented, the same augmentation statistics when something is, deterministic
by (seed, epoch); a run trains and tests on them; a split that does not fit is refused at setup with one line.

CIFAR-10 inputs are real JPEGs (``cifar_small``); CamVid inputs are the first files of the real copy, or a tiny
synthetic split with a known pattern where the test must recover crop, scale and flip from the pixels.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import DictConfig, open_dict
from PIL import Image
from torch.nn import functional as nnf

from prunescope.config_checks import ConfigError
from prunescope.data import CamVidDataModule, CIFAR10DataModule
from prunescope.data import resident as resident_module
from prunescope.data.cifar10 import CIFAR10_MEAN, CIFAR10_STD
from prunescope.data.epoch_sampler import EpochShuffleSampler
from prunescope.data.resident import ResidentSplit, available_bytes, require_room
from prunescope.data.segmentation_transforms import IMAGENET_MEAN, IMAGENET_STD

EPOCHS = 4


def cifar(root: Path, **kwargs) -> CIFAR10DataModule:
    options = dict(batch_size=10, num_workers=0, seed=3, val_size=10, on_device=False) | kwargs
    dm = CIFAR10DataModule(root, **options)
    dm.setup()
    return dm


def camvid(root: Path, **kwargs) -> CamVidDataModule:
    options = dict(batch_size=4, num_workers=0, seed=3, limit_train=8, limit_val=4, limit_test=5) | kwargs
    dm = CamVidDataModule(root, **options)
    dm.setup()
    return dm


def epoch_batches(dm, epoch: int, global_seed: int | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The training batches of ``epoch`` (the DataLoader path draws its augmentation from the global RNG)."""
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(epoch)
    if global_seed is not None:
        torch.manual_seed(global_seed)
    return list(loader)


def assert_same_batches(a: list, b: list) -> None:
    assert len(a) == len(b) > 0
    for (images_a, targets_a), (images_b, targets_b) in zip(a, b, strict=True):
        assert images_a.dtype == images_b.dtype == torch.float32 and targets_b.dtype == torch.int64
        assert torch.equal(images_a, images_b) and torch.equal(targets_a, targets_b)


# --- un-augmented batches are the DataLoader path's -------------------------------------------------------


def test_cifar_batches_equal_the_loader_path_without_augmentation(cifar_small: Path) -> None:
    files, device = cifar(cifar_small, augment=False), cifar(cifar_small, augment=False, on_device=True)
    assert (
        isinstance(device.train_dataset, ResidentSplit) and device.train_dataset.images.dtype == torch.uint8
    )
    for epoch in (0, 1):
        assert_same_batches(epoch_batches(files, epoch), epoch_batches(device, epoch))
    assert_same_batches(list(files.val_dataloader()), list(device.val_dataloader()))
    assert_same_batches(list(files.test_dataloader()), list(device.test_dataloader()))


@pytest.mark.parametrize("image_size", [None, (64, 80)])
def test_camvid_batches_equal_the_loader_path_without_augmentation(
    camvid_root: Path, image_size: tuple[int, int] | None
) -> None:
    files = camvid(camvid_root, hflip=False, image_size=image_size)
    device = camvid(camvid_root, hflip=False, image_size=image_size, on_device=True)
    assert isinstance(device.test_dataset, ResidentSplit) and device.test_dataset.targets.dtype == torch.uint8
    assert_same_batches(epoch_batches(files, 1), epoch_batches(device, 1))
    assert_same_batches(list(files.val_dataloader()), list(device.val_dataloader()))
    assert_same_batches(list(files.test_dataloader()), list(device.test_dataloader()))  # 4 + a batch of 1
    image, mask = device.test_dataset[4]  # one sample, as the Sp2PS grid reads it
    assert torch.equal(image, files.test_dataset[4][0]) and torch.equal(mask, files.test_dataset[4][1])


# --- augmented batches: same statistics as the DataLoader path --------------------------------------------


def as_uint8(images: torch.Tensor, mean, std) -> torch.Tensor:
    """Undo ``(x / 255 - mean) / std`` exactly (the pixels were uint8)."""
    pixels = images * torch.tensor(std).view(3, 1, 1) + torch.tensor(mean).view(3, 1, 1)
    return (pixels * 255).round().clamp(0, 255).to(torch.uint8)


def crop_and_flip(augmented: torch.Tensor, original: torch.Tensor) -> tuple[int, int, bool] | None:
    """The (row offset, column offset, flip) that turn ``original`` into ``augmented`` with 4-px zero padding."""
    padded = nnf.pad(original, (4, 4, 4, 4))
    for flip in (False, True):
        windows = (padded.flip(-1) if flip else padded).unfold(1, 32, 1).unfold(2, 32, 1)  # (3, 9, 9, 32, 32)
        hits = (windows == augmented[:, None, None]).all(dim=(0, 3, 4)).nonzero().tolist()
        if hits:
            top, left = hits[0]
            return top, 8 - left if flip else left, flip
    return None


def cifar_augmentation_statistics(dm: CIFAR10DataModule, originals: CIFAR10DataModule) -> dict[str, float]:
    sampler = EpochShuffleSampler(len(dm.train_dataset), dm.seed)
    params, pixels = [], []
    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)
        order = list(sampler)
        images = torch.cat([batch[0] for batch in epoch_batches(dm, epoch, global_seed=epoch)])
        pixels.append(images)
        for image, index in zip(images, order, strict=True):
            original = as_uint8(originals.train_dataset[index][0], CIFAR10_MEAN, CIFAR10_STD)
            params.append(crop_and_flip(as_uint8(image, CIFAR10_MEAN, CIFAR10_STD), original))
    assert None not in params  # every sample is a padded crop (and flip) of its own image
    rows, columns, flips = (torch.tensor(values, dtype=torch.float32) for values in zip(*params, strict=True))
    assert {0, 8} <= set(rows.long().tolist()) and {0, 8} <= set(columns.long().tolist())
    everything = torch.cat(pixels)
    return {
        "samples": len(params),
        "flipped": float(flips.mean()),
        "row offset": float(rows.mean()),
        "column offset": float(columns.mean()),
        "cropped": float(((rows != 4) | (columns != 4)).float().mean()),
        "pixel mean": float(everything.mean()),
        "pixel std": float(everything.std()),
    }


def test_cifar_augmentation_statistics_match_the_loader_path(cifar_small: Path) -> None:
    """Every augmented sample is found among the 9×9×2 padded crops and flips of its image; the offsets and flips
    are uniform as RandomCrop(32, padding=4) + RandomHorizontalFlip draw them, in both paths."""
    originals = cifar(cifar_small, augment=False)
    files = cifar_augmentation_statistics(cifar(cifar_small), originals)
    device = cifar_augmentation_statistics(cifar(cifar_small, on_device=True), originals)
    assert files["samples"] == device["samples"] == EPOCHS * 50
    for stats in (files, device):
        assert 0.38 < stats["flipped"] < 0.62
        assert 3.4 < stats["row offset"] < 4.6 and 3.4 < stats["column offset"] < 4.6
        assert stats["cropped"] > 0.9  # 80 of 81 offsets move the image
    assert abs(files["pixel mean"] - device["pixel mean"]) < 0.03
    assert abs(files["pixel std"] - device["pixel std"]) < 0.03


SYNTHETIC = (48, 64)
VOID_ROWS = 8


def synthetic_camvid(root: Path, count: int = 16) -> Path:
    """Images whose red channel is 4 × column and masks whose label is column // 8 (so label = red // 32), the
    last 8 rows void; blue is 200 everywhere, so only padding is black."""
    height, width = SYNTHETIC
    columns = np.broadcast_to(np.arange(width), (height, width))
    mask = (columns // 8).astype(np.uint8)
    mask[-VOID_ROWS:] = 11
    for split, annot in (("train", "trainannot"), ("val", "valannot"), ("test", "testannot")):
        (root / split).mkdir(parents=True)
        (root / annot).mkdir(parents=True)
        for index in range(count if split == "train" else 2):
            green = np.random.default_rng(index).integers(0, 256, (height, width))
            image = np.stack([columns * 4, green, np.full_like(green, 200)], axis=-1).astype(np.uint8)
            Image.fromarray(image).save(root / split / f"{index:03d}.png")
            Image.fromarray(mask).save(root / annot / f"{index:03d}.png")
    return root


def camvid_augmentation_statistics(dm: CamVidDataModule) -> dict[str, float]:
    flips, void, labels_seen, aligned, pixels = [], [], [], [], []
    for epoch in range(EPOCHS):
        for images, masks in epoch_batches(dm, epoch, global_seed=epoch):
            assert images.shape[-2:] == masks.shape[-2:] == SYNTHETIC
            pixels.append(images)
            for image, mask in zip(as_uint8(images, IMAGENET_MEAN, IMAGENET_STD), masks, strict=True):
                padding = (image == 0).all(dim=0)
                assert (mask[padding] == 11).all()  # padding carries the void label
                valid = mask != 11
                columns = torch.arange(mask.shape[1]).expand_as(mask)[valid].float()
                labels = mask[valid].float()
                flips.append(float(torch.corrcoef(torch.stack([columns, labels]))[0, 1] < 0))
                void.append(float((~valid).float().mean()))
                labels_seen.append(len(labels.unique()))
                # away from label borders, the red channel still says the label: image and mask moved together
                inner = valid.clone()
                inner[:, 1:-1] &= (mask[:, :-2] == mask[:, 2:]) & (mask[:, :-2] == mask[:, 1:-1])
                inner[:, 0] = inner[:, -1] = False
                aligned.append(((image[0][inner].long() // 32) == mask[inner]).float().mean())
    everything = torch.cat(pixels)
    return {
        "samples": len(flips),
        "flipped": float(np.mean(flips)),
        "void": float(np.mean(void)),
        "labels seen": float(np.mean(labels_seen)),
        "aligned": float(torch.stack(aligned).nanmean()),
        "worst aligned": float(torch.stack(aligned).nan_to_num(1.0).min()),
        "pixel mean": float(everything.mean()),
        "pixel std": float(everything.std()),
    }


def test_camvid_augmentation_statistics_match_the_loader_path(tmp_path: Path) -> None:
    """Rescale 0.5–1.5, crop back to 48×64 (void-padded where smaller), flip: same flip rate, void share, visible
    labels (the scale) and pixel statistics in both paths, and image and mask stay aligned."""
    root = synthetic_camvid(tmp_path / "camvid")
    options = dict(
        image_size=SYNTHETIC, scale_range=(0.5, 1.5), crop_size=SYNTHETIC, hflip=True, limit_train=16
    )
    files = camvid_augmentation_statistics(camvid(root, **options))
    device = camvid_augmentation_statistics(camvid(root, on_device=True, **options))
    assert files["samples"] == device["samples"] == EPOCHS * 16
    for stats in (files, device):
        assert 0.3 < stats["flipped"] < 0.7
        assert stats["aligned"] > 0.95 and stats["worst aligned"] > 0.8
        assert 0.2 < stats["void"] < 0.5  # 1/6 void rows + padding of the samples scaled below 1
    assert abs(files["void"] - device["void"]) < 0.06
    assert abs(files["labels seen"] - device["labels seen"]) < 0.6
    assert abs(files["pixel mean"] - device["pixel mean"]) < 0.1
    assert abs(files["pixel std"] - device["pixel std"]) < 0.1


# --- deterministic by (seed, epoch) ----------------------------------------------------------------------


@pytest.mark.parametrize("dataset", ["cifar10", "camvid"])
def test_order_and_augmentation_depend_only_on_seed_and_epoch(
    dataset: str, cifar_small: Path, tmp_path: Path
) -> None:
    def build(seed: int):
        if dataset == "cifar10":
            return cifar(cifar_small, seed=seed, on_device=True)
        root = tmp_path / "camvid"
        if not root.exists():
            synthetic_camvid(root, count=8)
        return camvid(root, seed=seed, on_device=True, image_size=SYNTHETIC, scale_range=(0.5, 1.5),
                      crop_size=SYNTHETIC)  # fmt: skip

    first, again, other_seed = build(3), build(3), build(4)
    epoch1 = epoch_batches(first, 1)
    next(iter(first.train_dataloader()))  # a second loader at epoch 0 (pruning calibration) changes nothing
    assert_same_batches(epoch1, epoch_batches(again, 1))
    assert_same_batches(epoch_batches(first, 1), epoch1)
    assert not torch.equal(epoch_batches(first, 0)[0][0], epoch1[0][0])
    assert not torch.equal(epoch_batches(other_seed, 1)[0][0], epoch1[0][0])


# --- memory check ---------------------------------------------------------------------------------------


def test_splits_that_do_not_fit_are_refused_in_one_line(cifar_small: Path, monkeypatch) -> None:
    meminfo = Path("/proc/meminfo").read_text()
    free = int(re.search(r"MemAvailable:\s+(\d+) kB", meminfo).group(1)) * 1024
    assert abs(available_bytes(torch.device("cpu")) - free) < 0.1 * free
    with pytest.raises(ConfigError) as error:
        require_room("camvid", 2**60, torch.device("cpu"), "train 367 + val 101 + test 233 images and masks")
    assert re.fullmatch(
        r"data.on_device=true: camvid needs about 1099511627776.0 MB on cpu \(train 367 \+ val 101 \+ test 233 "
        r"images and masks, uint8\) but cpu has \d+\.\d MB free \(at most 50% of it is used for data\); set "
        r"data.on_device=false or use fewer images \(data.limit_train / limit_val / limit_test\)",
        str(error.value),
    )
    monkeypatch.setattr(resident_module, "MEMORY_SHARE", 1e-12)  # a device with almost no free memory
    dm = CIFAR10DataModule(cifar_small, batch_size=10, num_workers=0, val_size=10, on_device=True)
    with pytest.raises(ConfigError, match=re.escape("cifar10 needs about 0.4 MB on cpu (train 50 + val 10 + test 60 "
                                                    "images of 3x32x32, uint8)")):  # fmt: skip
        dm.setup("test")
    assert not isinstance(dm.test_dataset, ResidentSplit)  # refused before decoding anything


# --- prunescope-train runs --------------------------------------------------------------------------------


def small_run(make_cfg: Callable[..., DictConfig], tmp_path: Path, name: str, *overrides: str) -> dict:
    from prunescope.train import run

    cfg = make_cfg(*overrides, "trainer.max_epochs=2")
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / name)
    return run(cfg)


def final_weights(tmp_path: Path, name: str) -> dict[str, torch.Tensor]:
    return torch.load(tmp_path / name / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def test_cifar_run_on_device_trains_and_tests_like_the_loader_path(
    cifar_small: Path, make_cfg: Callable[..., DictConfig], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without augmentation both paths feed the same batches in the same order: bit-identical weights after two
    epochs, the same test accuracy. With augmentation the run trains on other (cropped, flipped) batches."""
    caplog.set_level(logging.INFO, logger="prunescope.data.cifar10")
    common = (
        "model=vgg16",
        "data=cifar10",
        f"data.root={cifar_small}",
        "data.val_size=10",
        "data.augment=false",
    )
    on_device = small_run(make_cfg, tmp_path, "on_device", *common, "data.on_device=true")
    decoded = [r.getMessage() for r in caplog.records if r.getMessage().startswith("decoded cifar10 ")]
    assert [line.split(":")[0] for line in decoded] == [
        f"decoded cifar10 {s} into memory" for s in ("test", "train", "val")
    ]
    loader = small_run(make_cfg, tmp_path, "loader", *common, "data.on_device=false")
    assert on_device["run.status"] == loader["run.status"] == "completed"
    assert on_device["baseline.acc"] == loader["baseline.acc"]
    weights = final_weights(tmp_path, "on_device")
    assert all(torch.equal(tensor, final_weights(tmp_path, "loader")[key]) for key, tensor in weights.items())
    augmented = small_run(make_cfg, tmp_path, "augmented", *common[:-1], "data.on_device=true")
    assert augmented["run.status"] == "completed" and 0.0 <= augmented["baseline.acc"] <= 1.0
    assert not all(torch.equal(t, final_weights(tmp_path, "augmented")[k]) for k, t in weights.items())


def test_camvid_run_on_device_trains_and_tests(
    camvid_root: Path, make_cfg, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="prunescope.data.camvid")
    values = small_run(make_cfg, tmp_path, "camvid", "model=segnet", "data=camvid", "data.on_device=true",
                       "data.scale_range=[0.75,1.25]", "data.crop_size=[48,64]")  # fmt: skip
    assert values["run.status"] == "completed"
    assert len(values["baseline.iou_per_class"]) == 11 and 0.0 <= values["baseline.miou"] <= 1.0
    decoded = [r.getMessage() for r in caplog.records if r.getMessage().startswith("decoded camvid ")]
    assert [line.split(":")[0] for line in decoded] == [
        f"decoded camvid {s} into memory" for s in ("test", "train", "val")
    ]


def test_binary_format_arrays_are_taken_as_they_are() -> None:
    """torchvision's CIFAR-10 keeps its images as one (N, 32, 32, 3) array: a subset of it, in order, as (N, 3, 32, 32)."""
    from torch.utils.data import Dataset, Subset

    from prunescope.data.cifar10 import decode_uint8

    class Batches(Dataset):  # the two attributes torchvision.datasets.CIFAR10 exposes
        data = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
        targets = [3, 1, 4, 1, 5, 9]

        def __len__(self) -> int:
            return 6

    images, targets = decode_uint8(Subset(Batches(), [5, 0, 2]), "train", "data.on_device")
    assert images.dtype == torch.uint8 and images.shape == (3, 3, 32, 32)
    assert torch.equal(images[0], torch.from_numpy(Batches.data[5]).permute(2, 0, 1))
    assert targets.tolist() == [9, 3, 4]
