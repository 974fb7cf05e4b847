"""CamVid files as other tools write them (issue #28): ``.PNG`` extensions, 16-bit and palette masks, RGB
colour-coded masks, images of mixed sizes. Accepted forms read as the same labels as the 8-bit grayscale file;
refused forms fail at setup with one line naming the split, the file and what is expected.

Inputs are tiny synthetic CamVid folders (24×32 PNGs) written in ``tmp_path``.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from prunescope.data import CamVidDataModule, DataFileError, DatasetNotFoundError
from prunescope.data.camvid import CamVidDataset

FOLDERS = {"train": "trainannot", "val": "valannot", "test": "testannot"}
H, W = 24, 32
PER_SPLIT = 4
# CamVid's colour code for a few classes (Sky, Building, Pole, Road)
COLOURS = np.array(
    [[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128]] + [[0, 0, 0]] * 8, np.uint8
)


def labels(seed: int, size: tuple[int, int] = (H, W)) -> np.ndarray:
    """A label map holding every value 0..11 (11 = void)."""
    values = np.random.default_rng(seed).integers(0, 12, size, dtype=np.uint8)
    values.flat[:12] = np.arange(12)
    return values


def write_split(root: Path, split: str, count: int = PER_SPLIT) -> list[str]:
    (root / split).mkdir(parents=True)
    (root / FOLDERS[split]).mkdir(parents=True)
    names = []
    for index in range(count):
        name = f"{split}_{index:03d}.png"
        rng = np.random.default_rng(index)
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / split / name)
        Image.fromarray(labels(index)).save(root / FOLDERS[split] / name)
        names.append(name)
    return names


@pytest.fixture
def camvid(tmp_path: Path) -> Path:
    root = tmp_path / "camvid"
    for split in FOLDERS:
        write_split(root, split)
    return root


def mask_path(root: Path, index: int = 1, split: str = "train") -> Path:
    return root / FOLDERS[split] / f"{split}_{index:03d}.png"


def read_labels(root: Path, split: str = "train") -> list[torch.Tensor]:
    dataset = CamVidDataset(root, split)
    return [dataset[i][1] for i in range(len(dataset))]


def test_upper_case_extensions_are_found_and_paired(camvid: Path) -> None:
    """Two of four training pairs saved as ``.PNG`` (one pair with the mask still ``.png``): all four are used."""
    for index in (1, 2):
        image = camvid / "train" / f"train_{index:03d}.png"
        image.rename(image.with_suffix(".PNG"))
    mask = mask_path(camvid, 2)
    mask.rename(mask.with_suffix(".PNG"))
    expected = [torch.from_numpy(labels(i)).long() for i in range(PER_SPLIT)]
    dm = CamVidDataModule(camvid, batch_size=4, num_workers=0, hflip=False)
    dm.setup()
    assert [p.name for p in dm.train_dataset.image_paths] == [
        "train_000.png", "train_001.PNG", "train_002.PNG", "train_003.png",
    ]  # fmt: skip
    _, masks = next(iter(dm.train_dataloader()))
    assert sorted(m.sum().item() for m in masks) == sorted(m.sum().item() for m in expected)


def test_unpaired_upper_case_file_is_named(camvid: Path) -> None:
    (camvid / "val" / "extra.PNG").write_bytes((camvid / "val" / "val_000.png").read_bytes())
    with pytest.raises(DatasetNotFoundError) as error:
        CamVidDataModule(camvid, batch_size=2, num_workers=0).setup()
    assert str(error.value) == (
        f"camvid val: 1 images without a mask in {camvid / 'valannot'}: extra.PNG (image and mask share the file name)"
    )


def test_sixteen_bit_masks_read_as_labels(camvid: Path) -> None:
    Image.fromarray(labels(1).astype(np.uint16)).save(mask_path(camvid, 1))
    assert Image.open(mask_path(camvid, 1)).mode == "I;16"
    assert torch.equal(read_labels(camvid)[1], torch.from_numpy(labels(1)).long())
    outside = labels(2).astype(np.uint16)
    outside[0, :2] = (300, 1000)
    Image.fromarray(outside).save(mask_path(camvid, 2))
    with pytest.raises(DataFileError) as error:
        read_labels(camvid)
    assert str(error.value) == (
        f"camvid train mask {mask_path(camvid, 2)} has values [300, 1000] outside 0..11 (11 = void)"
    )


def test_palette_masks_read_as_their_indices(camvid: Path) -> None:
    for index, bits in ((1, 8), (2, 4)):  # optimisers store <= 16-colour palettes in 4 bits
        palette = Image.fromarray(labels(index), mode="P")
        palette.putpalette(COLOURS.flatten().tolist())
        palette.save(mask_path(camvid, index), bits=bits)
        assert Image.open(mask_path(camvid, index)).mode == "P"
    read = read_labels(camvid)
    for index in (1, 2):
        assert torch.equal(read[index], torch.from_numpy(labels(index)).long())
    bad = Image.fromarray(np.where(labels(3) == 5, 40, labels(3)).astype(np.uint8), mode="P")
    bad.putpalette(np.tile(COLOURS, (4, 1)).flatten().tolist())
    bad.save(mask_path(camvid, 3))
    with pytest.raises(DataFileError) as error:
        read_labels(camvid)
    assert str(error.value) == (
        f"camvid train mask {mask_path(camvid, 3)} has palette indices [40] outside 0..11 (11 = void)"
    )


def test_rgb_colour_coded_mask_is_refused_at_setup(camvid: Path) -> None:
    Image.fromarray(COLOURS[labels(1)]).save(mask_path(camvid, 1))
    rgba = np.concatenate([COLOURS[labels(3)], np.full((H, W, 1), 255, np.uint8)], axis=-1)
    Image.fromarray(rgba).save(mask_path(camvid, 3))
    with pytest.raises(DataFileError) as error:
        CamVidDataModule(camvid, batch_size=2, num_workers=0).setup()
    assert str(error.value) == (
        f"camvid train masks: 2 of 4 files are RGB/RGBA colour-coded, not label PNGs: "
        f"{mask_path(camvid, 1)} (colours (0, 0, 0), (128, 0, 0), (128, 64, 128), …); "
        f"{mask_path(camvid, 3)} (colours (0, 0, 0), (128, 0, 0), (128, 64, 128), …); "
        "expected a single-channel label PNG (grayscale or palette) with values 0..11 (11 = void)"
    )
    dataset = CamVidDataset(camvid, "val")  # a file that turns colour-coded after setup fails in the loader
    Image.fromarray(COLOURS[labels(0)]).save(mask_path(camvid, 0, "val"))
    with pytest.raises(DataFileError) as error:
        dataset[0]
    assert str(error.value) == (
        f"camvid val mask {mask_path(camvid, 0, 'val')} is RGB colour-coded, not a label PNG (colours (0, 0, 0), "
        "(128, 0, 0), (128, 64, 128), …); expected a single-channel label PNG (grayscale or palette) with values "
        "0..11 (11 = void)"
    )


def test_grayscale_saved_as_rgb_is_still_labels(camvid: Path) -> None:
    Image.fromarray(np.repeat(labels(1)[..., None], 3, axis=-1)).save(mask_path(camvid, 1))
    assert torch.equal(read_labels(camvid)[1], torch.from_numpy(labels(1)).long())


def test_mixed_image_sizes_are_refused_at_setup_unless_resized(camvid: Path) -> None:
    odd = camvid / "train" / "train_002.png"
    Image.fromarray(np.zeros((2 * H, 2 * W, 3), np.uint8)).save(odd)
    Image.fromarray(labels(2, (2 * H, 2 * W))).save(mask_path(camvid, 2))
    with pytest.raises(DataFileError) as error:
        CamVidDataModule(camvid, batch_size=4, num_workers=0).setup()
    assert str(error.value) == (
        f"camvid train images: 1 of 4 files are not 24x32 (HxW) like the others: {odd} is 48x64 (HxW); "
        "set data.image_size=[H,W] to resize every split to one size"
    )
    resized = CamVidDataModule(camvid, batch_size=4, num_workers=0, image_size=(H, W))
    resized.setup()
    images, masks = next(iter(resized.train_dataloader()))
    assert images.shape == (4, 3, H, W) and masks.shape == (4, H, W)


def test_mask_of_another_size_is_refused_at_setup(camvid: Path) -> None:
    Image.fromarray(labels(1, (H // 2, W // 2))).save(mask_path(camvid, 1))
    with pytest.raises(DataFileError) as error:
        CamVidDataModule(camvid, batch_size=2, num_workers=0, image_size=(H, W)).setup()
    assert str(error.value) == (
        f"camvid train mask {mask_path(camvid, 1)} is 12x16 (HxW) but its image {camvid / 'train' / 'train_001.png'} "
        "is 24x32 (HxW)"
    )


def test_two_files_for_one_sample_are_refused(camvid: Path) -> None:
    twin = camvid / "test" / "test_001.PNG"
    twin.write_bytes((camvid / "test" / "test_001.png").read_bytes())
    with pytest.raises(DataFileError) as error:
        CamVidDataModule(camvid, batch_size=2, num_workers=0).setup()
    assert str(error.value) == (
        f"camvid test images: {camvid / 'test' / 'test_001.PNG'} and {camvid / 'test' / 'test_001.png'} are the same "
        "sample; keep one"
    )


def write_png16_rgb(path: Path, pixels: np.ndarray) -> None:
    """A 16-bit RGB PNG (which PIL cannot write): IHDR, one zlib IDAT of unfiltered rows, IEND."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    height, width, _ = pixels.shape
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_sixteen_bit_rgb_colour_mask_is_refused(camvid: Path) -> None:
    write_png16_rgb(mask_path(camvid, 1), COLOURS[labels(1)].astype(np.uint16) * 257)
    with pytest.raises(DataFileError) as error:
        CamVidDataModule(camvid, batch_size=2, num_workers=0).setup()
    assert str(error.value).startswith(
        f"camvid train masks: 1 of 4 files are RGB colour-coded, not label PNGs: {mask_path(camvid, 1)} (colours "
        "(0, 0, 0), (32896, 0, 0), (32896, 16448, 32896), …); expected"
    )
