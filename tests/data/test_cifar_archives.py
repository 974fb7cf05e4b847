"""CIFAR-10 ``train.tar`` / ``test.tar`` are checked before they are unpacked: a tar cut between two members or in
the middle of one fails at setup with one line naming it, and nothing is marked complete (issue #28).

Inputs are tiny tars of synthetic 32×32 JPEGs written in ``tmp_path`` (12 per class, class-ordered like the real
ones), cut there.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from omegaconf import DictConfig, open_dict
from PIL import Image

from prunescope.data import CIFAR10DataModule, DataFileError
from prunescope.data.archive_cache import MARKER_NAME, is_unpacked
from prunescope.data.cifar10 import CIFAR10_CLASSES

PER_CLASS = 12
SMALL = {"train": 10 * PER_CLASS, "test": 10 * PER_CLASS}


def jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write_tar(path: Path, split: str) -> list[int]:
    """A tar laid out as ``cifar10/<split>/<class>/NNNN.jpg`` (class by class); returns each image member's end
    offset in the file (header + data, padded to 512 bytes)."""
    ends = []
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as archive:
        for number, name in enumerate(CIFAR10_CLASSES):
            for index in range(PER_CLASS):
                data = jpeg(number * 100 + index)
                info = tarfile.TarInfo(f"cifar10/{split}/{name}/{index:04d}.jpg")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
                ends.append(archive.offset)
    return ends


@pytest.fixture
def tars(tmp_path: Path) -> tuple[Path, dict[str, list[int]]]:
    root = tmp_path / "cifar10"
    root.mkdir()
    ends = {split: write_tar(root / f"{split}.tar", split) for split in ("train", "test")}
    return root, ends


def cut(path: Path, size: int) -> None:
    path.write_bytes(path.read_bytes()[:size])


def module(root: Path, cache: Path, archive_images: dict[str, int] | None = SMALL) -> CIFAR10DataModule:
    return CIFAR10DataModule(
        root, batch_size=8, num_workers=0, val_size=0, cache_dir=cache, archive_images=archive_images
    )


def test_whole_small_tars_unpack_and_are_marked_complete(tars, tmp_path: Path) -> None:
    root, _ = tars
    dm = module(root, tmp_path / "cache")
    dm.setup()
    assert (len(dm.train_dataset), len(dm.test_dataset)) == (120, 120)
    assert is_unpacked([root / "train.tar", root / "test.tar"], tmp_path / "cache")


def test_tar_cut_at_a_member_boundary_names_found_and_expected_counts(tars, tmp_path: Path) -> None:
    """Cut after 113 of 120 images: every remaining member is whole, so tarfile reads it without complaint."""
    root, ends = tars
    cut(root / "test.tar", ends["test"][112])
    cache = tmp_path / "cache"
    with pytest.raises(DataFileError) as error:
        module(root, cache).setup()
    assert str(error.value) == (
        f"cifar10 test archive {root / 'test.tar'} holds 113 images, expected 120 (12 per class; differing: "
        "truck 5); it is incomplete, so nothing was unpacked: replace it with a complete copy, or set "
        "data.archive_images to the counts it should hold"
    )
    assert not (cache / MARKER_NAME).exists() and not (cache / "cifar10").exists()
    # without an expected count, the missing end-of-archive blocks give it away
    with pytest.raises(DataFileError) as error:
        module(root, cache, archive_images=None).setup()
    assert str(error.value) == (
        f"cifar10 test archive {root / 'test.tar'} is truncated: it ends after member "
        "cifar10/test/truck/0004.jpg without the end-of-archive blocks, so nothing was unpacked; replace it with a "
        "complete copy"
    )
    assert not (cache / MARKER_NAME).exists()


def test_tar_cut_inside_a_member_is_one_line_and_nothing_is_marked_complete(tars, tmp_path: Path) -> None:
    root, ends = tars
    cut(root / "train.tar", ends["train"][60] + 700)  # inside the 62nd image's data
    cache = tmp_path / "cache"
    with pytest.raises(DataFileError) as error:
        module(root, cache).setup()
    assert str(error.value) == (
        f"cifar10 train archive {root / 'train.tar'} is truncated or corrupt (unexpected end of data), so nothing "
        "was unpacked; replace it with a complete copy"
    )
    assert not (cache / MARKER_NAME).exists() and not (cache / "cifar10").exists()


def test_a_marker_of_an_unchecked_unpack_is_not_trusted(tars, tmp_path: Path) -> None:
    """An unpack the previous version marked complete (no check, marker without version) is checked again."""
    root, ends = tars
    cut(root / "test.tar", ends["test"][112])
    cache = tmp_path / "cache"
    cache.mkdir()
    archives = [root / "train.tar", root / "test.tar"]
    (cache / MARKER_NAME).write_text(json.dumps([[a.name, a.stat().st_size] for a in archives]))
    with pytest.raises(DataFileError, match="holds 113 images, expected 120"):
        module(root, cache).setup()
    assert not (cache / MARKER_NAME).exists()


def test_archive_images_must_be_multiples_of_ten(tmp_path: Path, tars) -> None:
    root, _ = tars
    with pytest.raises(ValueError, match="archive_images must be null or"):
        module(root, tmp_path / "cache", archive_images={"train": 125, "test": 120})


def test_run_fails_with_the_archive_line(tars, tmp_path: Path, make_cfg: Callable[..., DictConfig]) -> None:
    """A train run on a cut ``test.tar`` fails at setup, before any training, with that one line as ``run.error``."""
    from prunescope.train import run

    root, ends = tars
    cut(root / "test.tar", ends["test"][112])
    cfg = make_cfg(
        "model=vgg16", "data=cifar10", "data.archive_images={train: 120, test: 120}", "data.val_size=0"
    )
    with open_dict(cfg):
        cfg.paths.data_dir = str(root.parent)
        cfg.data.cache_dir = str(tmp_path / "cache")
    with pytest.raises(DataFileError):
        run(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert metrics["run.status"] == "failed"
    assert metrics["run.error"].startswith(
        f"DataFileError: cifar10 test archive {root / 'test.tar'} holds 113 images, expected 120 (12 per class; "
    )
    assert not (tmp_path / "cache" / MARKER_NAME).exists()
