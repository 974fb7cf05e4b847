"""Each datamodule declares the normalisation its images carry (read by the export sidecar)."""

from __future__ import annotations

import pytest
import torch

from prunescope.data import DATAMODULES, DigitScenesDataModule, DigitsDataModule


@pytest.mark.parametrize("name", sorted(DATAMODULES))
def test_every_datamodule_declares_three_channel_mean_and_std(name: str) -> None:
    cls = DATAMODULES[name]
    assert len(cls.input_mean) == len(cls.input_std) == 3
    assert all(0 <= m <= 1 for m in cls.input_mean) and all(s > 0 for s in cls.input_std)


@pytest.mark.parametrize(
    "datamodule",
    [
        DigitScenesDataModule(batch_size=4, num_train=4, num_val=4, num_test=4, image_size=32),
        DigitsDataModule(batch_size=4, limit_train=4, limit_val=4, limit_test=4),
    ],
)
def test_undoing_the_declared_normalisation_gives_pixels_in_unit_range(datamodule) -> None:
    datamodule.setup("test")
    images, _ = next(iter(datamodule.test_dataloader()))
    mean = torch.tensor(datamodule.input_mean).view(1, 3, 1, 1)
    std = torch.tensor(datamodule.input_std).view(1, 3, 1, 1)
    pixels = images * std + mean
    assert pixels.min() >= -1e-6 and pixels.max() <= 1 + 1e-6
    assert pixels.max() - pixels.min() > 0.5  # the declared scale is the real one, not a loose bound
