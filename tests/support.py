"""Paths and markers shared by the test modules (importable as ``support``: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / "conf"
DATA_DIR = Path(os.environ.get("PRUNESCOPE_DATA", REPO_ROOT.parent / "shared" / "data"))

# Small, fast versions of each dataset: enough batches for every stage, nothing more.
SMALL_DATA = {
    "digit_scenes": [
        "data.num_train=32",
        "data.num_val=16",
        "data.num_test=16",
        "data.image_size=32",
        "data.batch_size=8",
        "data.min_digits=1",  # the scenes the tests were written with (the demo's: 3-5 digits of 10-16 px)
        "data.max_digits=3",
        "data.digit_size=[16,28]",
    ],
    "digits": ["data.batch_size=16", "data.limit_train=64", "data.limit_val=32", "data.limit_test=32"],
    "camvid": [
        "data.limit_train=8",
        "data.limit_val=4",
        "data.limit_test=4",
        "data.image_size=[64,80]",
        "data.batch_size=4",
    ],
    "cifar10": ["data.limit_train=64", "data.limit_val=32", "data.limit_test=32", "data.batch_size=16"],
}
# Small widths of each model.
SMALL_MODEL = {
    "unet": ["model.net.depth=3", "model.net.base_channels=4"],
    "smp_unet": [
        "model.net.encoder_name=resnet18",
        "model.net.encoder_depth=3",
        "model.net.decoder_channels=[16,8,4]",
    ],
    "deeplabv3plus": ["model.net.decoder_channels=16"],
    "segnet": ["model.net.width_mult=0.125"],
    "vgg16": ["model.net.width_mult=0.125"],
}


def requires_data(name: str) -> pytest.MarkDecorator:
    """Skip unless ``../shared/data/<name>`` (or ``$PRUNESCOPE_DATA/<name>``) exists."""
    return pytest.mark.skipif(
        not (DATA_DIR / name).exists(), reason=f"real data not found at {DATA_DIR / name}"
    )


# Constructor arguments of tiny versions of every registered network (pruning unit tests).
TINY_MODELS = {
    "unet": dict(num_classes=5, depth=3, base_channels=8),
    "smp_unet": dict(num_classes=5, encoder_name="resnet18", encoder_depth=3, decoder_channels=(16, 8, 8)),
    "deeplabv3plus": dict(num_classes=5, decoder_channels=16),
    "segnet": dict(num_classes=5, width_mult=0.125),
    "vgg16": dict(num_classes=10, width_mult=0.125),
}
