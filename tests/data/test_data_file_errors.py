"""Bad data files fail with one line naming split and file: at setup when a cheap check sees them, in the loader
(also across DataLoader workers) otherwise, and all at once with ``validate=True``.

Inputs are real files of the shared CamVid and CIFAR-10 copies, copied into ``tmp_path`` and corrupted there.
"""

from __future__ import annotations

import json
import logging
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, open_dict
from torchvision.io import ImageReadMode, decode_image, write_png

from prunescope.data import CamVidDataModule, CIFAR10DataModule, DataFileError, DatasetNotFoundError
from prunescope.data.cifar10 import CIFAR10_CLASSES

CAMVID_FOLDERS = ("train", "trainannot", "val", "valannot", "test", "testannot")
PER_FOLDER = 3
CIFAR_PER_CLASS = 2


@pytest.fixture
def camvid_copy(camvid_root: Path, tmp_path: Path) -> Path:
    """The first three files of every CamVid folder, copied to ``tmp_path/camvid`` (same layout)."""
    copy = tmp_path / "camvid"
    for folder in CAMVID_FOLDERS:
        (copy / folder).mkdir(parents=True)
        for path in sorted((camvid_root / folder).glob("*.png"))[:PER_FOLDER]:
            shutil.copy(path, copy / folder / path.name)
    return copy


@pytest.fixture(scope="session")
def cifar_sample(cifar10_tar_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real JPEGs per class from ``test.tar``, laid out as ``train/<class>/`` and ``test/<class>/``."""
    folder = tmp_path_factory.mktemp("cifar_sample")
    taken = dict.fromkeys(CIFAR10_CLASSES, 0)
    with tarfile.open(cifar10_tar_root / "test.tar") as archive:
        for member in archive:
            label = Path(member.name).parent.name
            if not member.isfile() or taken.get(label, CIFAR_PER_CLASS) >= CIFAR_PER_CLASS:
                continue
            data = archive.extractfile(member).read()  # type: ignore[union-attr]
            for split in ("train", "test"):
                (folder / split / label).mkdir(parents=True, exist_ok=True)
                (folder / split / label / Path(member.name).name).write_bytes(data)
            taken[label] += 1
            if min(taken.values()) >= CIFAR_PER_CLASS:
                break
    return folder


@pytest.fixture
def cifar_copy(cifar_sample: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(cifar_sample, tmp_path / "cifar10"))


def first(folder: Path, index: int = 0) -> Path:
    return sorted(p for p in folder.rglob("*") if p.is_file())[index]


def truncate(path: Path, end_marker: bytes = b"") -> None:
    """Keep the first half of ``path``; append ``end_marker`` so that the cheap end check still passes."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + end_marker)


def truncate_keeping_iend(path: Path) -> None:
    data = path.read_bytes()
    truncate(path, end_marker=data[-12:])  # the 12-byte IEND chunk


def paint_mask_value(path: Path, value: int) -> None:
    mask = decode_image(str(path), mode=ImageReadMode.GRAY)
    mask[0, :4, :4] = value
    write_png(mask, str(path))


def drain(loaders: list[torch.utils.data.DataLoader]) -> None:
    for loader in loaders:
        for _ in loader:
            pass


# --- CamVid: cheap checks at setup -------------------------------------------------------------------------


def test_clean_copy_validates_with_one_line_per_split(
    camvid_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="prunescope.data.file_checks")
    dm = CamVidDataModule(camvid_copy, batch_size=2, num_workers=0, validate=True)
    dm.setup()
    lines = [r.getMessage() for r in caplog.records]
    for split in ("train", "val", "test"):
        assert (
            sum(line.startswith(f"validated camvid {split}: 3 images, 3 masks OK (") for line in lines) == 1
        )


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _jpeg_bytes(path: Path) -> None:
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 64 + b"\xff\xd9")


@pytest.mark.parametrize(
    ("folder", "corrupt", "expected"),
    [
        (
            "test",
            truncate,
            "camvid test images: 1 of 3 files unreadable: {path} is truncated (no PNG end chunk IEND)",
        ),
        ("trainannot", _empty, "camvid train masks: 1 of 3 files unreadable: {path} is empty (0 bytes)"),
        (
            "val",
            _jpeg_bytes,
            "camvid val images: 1 of 3 files unreadable: {path} is not a PNG file (no PNG signature)",
        ),
    ],
)
def test_setup_fails_on_empty_truncated_or_foreign_file(
    camvid_copy: Path, folder: str, corrupt: Callable[[Path], None], expected: str
) -> None:
    path = first(camvid_copy / folder, 1)
    corrupt(path)
    dm = CamVidDataModule(camvid_copy, batch_size=2, num_workers=0)
    with pytest.raises(DataFileError) as error:
        dm.setup()
    assert str(error.value) == expected.format(path=path)


def test_setup_fails_on_unpaired_files_listing_them(camvid_copy: Path) -> None:
    names = [p.name for p in sorted((camvid_copy / "valannot").glob("*.png"))]
    kept = {name: (camvid_copy / "valannot" / name).read_bytes() for name in (names[0], names[2])}
    (camvid_copy / "valannot" / names[0]).unlink()
    (camvid_copy / "valannot" / names[2]).unlink()
    with pytest.raises(DatasetNotFoundError) as error:
        CamVidDataModule(camvid_copy, batch_size=2).setup()
    assert str(error.value) == (
        f"camvid val: 2 images without a mask in {camvid_copy / 'valannot'}: {names[0]}; {names[2]} "
        "(image and mask share the file name)"
    )
    for name, data in kept.items():
        (camvid_copy / "valannot" / name).write_bytes(data)
    shutil.copy(first(camvid_copy / "testannot"), camvid_copy / "testannot" / "0000_orphan.png")
    with pytest.raises(
        DatasetNotFoundError, match=r"camvid test: 1 masks without an image in .*: 0000_orphan.png"
    ):
        CamVidDataModule(camvid_copy, batch_size=2).setup()


# --- CamVid: errors while loading, in the main process and in workers ---------------------------------------


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_errors_name_split_file_and_values(camvid_copy: Path, num_workers: int) -> None:
    """Files that pass the cheap checks fail in the loader with one line, also when raised in a worker."""
    bad_mask = first(camvid_copy / "trainannot", 1)
    paint_mask_value(bad_mask, 200)
    bad_image = first(camvid_copy / "test", 2)
    truncate_keeping_iend(bad_image)
    dm = CamVidDataModule(camvid_copy, batch_size=1, num_workers=num_workers)
    dm.setup()
    emptied = first(camvid_copy / "valannot", 0)
    emptied.write_bytes(b"")  # after setup: only the loader can see it
    expected = {
        "train": f"camvid train mask {bad_mask} has values [200] outside 0..11 (11 = void)",
        "val": f"camvid val mask {emptied} is empty (0 bytes)",
        "test": f"camvid test image {bad_image} cannot be decoded (truncated or not a PNG): ",
    }
    loaders = {"train": dm.train_dataloader(), "val": dm.val_dataloader(), "test": dm.test_dataloader()}
    for split, loader in loaders.items():
        with pytest.raises(DataFileError) as error:
            drain([loader])
        message = str(error.value)
        assert "\n" not in message
        assert message.startswith(expected[split]) if split == "test" else message == expected[split]
        assert (error.value.worker_traceback is not None) == (num_workers > 0)
    assert "decode_png" in message and "cpp:" not in message


def test_mask_of_another_size_names_both_files(camvid_copy: Path) -> None:
    """Found at setup from the PNG headers; the loader still checks (a file replaced after setup)."""
    mask_path = first(camvid_copy / "trainannot")
    original = mask_path.read_bytes()
    mask = decode_image(str(mask_path), mode=ImageReadMode.GRAY)
    write_png(mask[:, ::2, ::2].contiguous(), str(mask_path))
    image_path = camvid_copy / "train" / mask_path.name
    expected = f"camvid train mask {mask_path} is 90x120 (HxW) but its image {image_path} is 180x240 (HxW)"
    dm = CamVidDataModule(camvid_copy, batch_size=1, num_workers=0)
    with pytest.raises(DataFileError) as error:
        dm.setup()
    assert str(error.value) == expected
    mask_path.write_bytes(original)
    dm.setup()
    write_png(mask[:, ::2, ::2].contiguous(), str(mask_path))
    with pytest.raises(DataFileError) as error:
        dm.train_dataset[0]
    assert str(error.value) == expected


def test_validate_decodes_every_file_and_lists_all_bad_ones(
    camvid_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad_mask = first(camvid_copy / "trainannot", 2)
    paint_mask_value(bad_mask, 200)
    bad_image = first(camvid_copy / "test", 0)
    truncate_keeping_iend(bad_image)
    CamVidDataModule(camvid_copy, batch_size=2, num_workers=0).setup()  # the cheap checks cannot see these
    caplog.set_level(logging.INFO, logger="prunescope.data.file_checks")
    with pytest.raises(DataFileError) as error:
        CamVidDataModule(camvid_copy, batch_size=2, num_workers=0, validate=True).setup()
    message = str(error.value)
    assert message.startswith(
        "camvid: data.validate found 2 bad samples: "
        f"camvid train mask {bad_mask} has values [200] outside 0..11 (11 = void); "
        f"camvid test image {bad_image} cannot be decoded (truncated or not a PNG): "
    )
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("validated camvid train: 3 images, 3 masks 1 bad (") for line in lines)
    assert any(line.startswith("validated camvid val: 3 images, 3 masks OK (") for line in lines)
    assert any(line.startswith("validated camvid test: 3 images, 3 masks 1 bad (") for line in lines)


def test_run_records_the_worker_error_as_one_line(
    camvid_copy: Path, make_cfg: Callable[..., DictConfig]
) -> None:
    """A train run whose loader workers hit a bad mask fails with that one line as ``run.error``."""
    from prunescope.train import run

    bad_mask = first(camvid_copy / "trainannot", 1)
    paint_mask_value(bad_mask, 200)
    cfg = make_cfg("data=camvid", "data.num_workers=2", "data.batch_size=1", "data.limit_train=3")
    with open_dict(cfg):
        cfg.paths.data_dir = str(camvid_copy.parent)
    with pytest.raises(DataFileError):
        run(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert metrics["run.status"] == "failed"
    assert metrics["run.error"] == (
        f"DataFileError: camvid train mask {bad_mask} has values [200] outside 0..11 (11 = void)"
    )


# --- CIFAR-10 image folders -------------------------------------------------------------------------------


def test_cifar_setup_fails_on_empty_or_truncated_jpeg(cifar_copy: Path) -> None:
    empty = first(cifar_copy / "train", 3)
    empty.write_bytes(b"")
    with pytest.raises(DataFileError) as error:
        CIFAR10DataModule(cifar_copy, batch_size=4, num_workers=0, val_size=0).setup()
    assert str(error.value) == f"cifar10 train images: 1 of 20 files unreadable: {empty} is empty (0 bytes)"
    shutil.copy(first(cifar_copy / "test", 3), empty)
    truncated = first(cifar_copy / "test", 5)
    truncate(truncated)
    with pytest.raises(DataFileError) as error:
        CIFAR10DataModule(cifar_copy, batch_size=4, num_workers=0, val_size=2).setup()
    assert str(error.value) == (
        f"cifar10 test images: 1 of 20 files unreadable: {truncated} is truncated (no JPEG end marker FFD9)"
    )


@pytest.mark.parametrize("num_workers", [0, 2])
def test_cifar_loader_error_names_split_and_file(cifar_copy: Path, num_workers: int) -> None:
    bad = first(cifar_copy / "train", 7)
    truncate(bad, end_marker=b"\xff\xd9")
    dm = CIFAR10DataModule(
        cifar_copy, batch_size=4, num_workers=num_workers, val_size=0, augment=False, on_device=False
    )
    dm.setup()
    with pytest.raises(DataFileError) as error:
        drain([dm.train_dataloader()])
    assert str(error.value) == (
        f"cifar10 train image {bad} cannot be decoded (truncated or not an image): Truncated File Read"
    )
    assert (error.value.worker_traceback is not None) == (num_workers > 0)


def test_cifar_validate_names_the_split_a_file_is_used_in(
    cifar_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dm = CIFAR10DataModule(cifar_copy, batch_size=4, num_workers=0, val_size=5, on_device=False)
    dm.setup()
    held_out = Path(dm.val_dataset.dataset.samples[dm.val_dataset.indices[0]][0])  # a train/ file used as val
    truncate(held_out, end_marker=b"\xff\xd9")
    caplog.set_level(logging.INFO, logger="prunescope.data.file_checks")
    with pytest.raises(DataFileError) as error:
        CIFAR10DataModule(cifar_copy, batch_size=4, num_workers=0, val_size=5, validate=True).setup()
    assert str(error.value) == (
        f"cifar10: data.validate found 1 bad sample: cifar10 val image {held_out} cannot be decoded "
        "(truncated or not an image): Truncated File Read"
    )
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("validated cifar10 train: 15 images OK (") for line in lines)
    assert any(line.startswith("validated cifar10 val: 5 images 1 bad (") for line in lines)
    assert any(line.startswith("validated cifar10 test: 20 images OK (") for line in lines)
