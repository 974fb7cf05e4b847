"""The U-Net level search: auto picks the largest k whose validation drop after a short fine-tune is within tolerance."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from prunescope.data.digit_scenes import DigitScenesDataModule
from prunescope.fitting.level_search import choose_unet_levels, main_val_metric
from prunescope.models.unet import UNet
from prunescope.modules import SegmentationModule

NUM_CLASSES = 11


@pytest.fixture(scope="module", autouse=True)
def single_thread() -> Iterator[None]:
    """Tiny models run far faster on one intra-op thread, above all on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_unet(depth: int = 3) -> UNet:
    torch.manual_seed(0)
    return UNet(num_classes=NUM_CLASSES, depth=depth, base_channels=4)


def tiny_data() -> DigitScenesDataModule:
    return DigitScenesDataModule(
        batch_size=8,
        image_size=16,
        num_train=16,
        num_val=8,
        num_test=8,
        digit_size=(6, 12),
        min_digits=1,
        max_digits=3,
        seed=0,
    )


def tiny_module(depth: int = 3) -> SegmentationModule:
    return SegmentationModule(
        tiny_unet(depth), optimizer=functools.partial(torch.optim.Adam, lr=1e-2), num_classes=NUM_CLASSES
    )


def test_main_val_metric_follows_the_task() -> None:
    assert main_val_metric(tiny_module()) == "val/miou"


@pytest.fixture(scope="module")
def trained_module() -> SegmentationModule:
    pl.seed_everything(0)
    module = tiny_module(depth=3)
    trainer = pl.Trainer(
        max_epochs=3,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=tiny_data())
    return module


def test_auto_picks_largest_k_within_tolerance(trained_module: SegmentationModule) -> None:
    before = {k: v.clone() for k, v in trained_module.state_dict().items()}
    prepared: list[int] = []
    search = choose_unet_levels(
        trained_module,
        tiny_data(),
        tolerance=0.01,
        finetune_epochs=1,
        prepare=lambda candidate, epochs: prepared.append(candidate.net.depth),
        trainer_kwargs={"accelerator": "cpu", "limit_train_batches": 2},
    )
    assert search.metric == "val/miou"
    assert set(search.scores) == {1, 2}
    assert prepared == [2, 1]  # candidates had k = 1, 2 levels removed when prepared
    within = [k for k in search.scores if search.drop(k) <= 0.01]
    assert search.levels == max(within, default=0)
    assert 0.0 <= search.baseline <= 1.0
    # the module itself is untouched
    assert trained_module.net.depth == 3
    for key, value in trained_module.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_auto_with_loose_tolerance_removes_all_but_one_level(trained_module: SegmentationModule) -> None:
    search = choose_unet_levels(
        trained_module, tiny_data(), tolerance=1.0, finetune_epochs=0, trainer_kwargs={"accelerator": "cpu"}
    )
    assert search.levels == 2
    assert search.scores[2] == pytest.approx(search.baseline - search.drop(2))


def test_auto_validates_arguments(trained_module: SegmentationModule) -> None:
    with pytest.raises(ValueError, match="tolerance"):
        choose_unet_levels(trained_module, tiny_data(), tolerance=-0.1)
    bad = SegmentationModule(
        nn.Conv2d(3, NUM_CLASSES, 1), optimizer=torch.optim.Adam, num_classes=NUM_CLASSES
    )
    with pytest.raises(ValueError, match="remove_deepest_levels"):
        choose_unet_levels(bad, tiny_data(), tolerance=0.1)
