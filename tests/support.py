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


def requires_data(name: str) -> pytest.MarkDecorator:
    """Skip unless ``../shared/data/<name>`` (or ``$PRUNESCOPE_DATA/<name>``) exists."""
    return pytest.mark.skipif(
        not (DATA_DIR / name).exists(), reason=f"real data not found at {DATA_DIR / name}"
    )


# The one table of small test sizes: constructor arguments of a tiny version of every registered network (a new
# model adds its row). Unit tests build them with build_model(name, **TINY_MODELS[name]); the composed runs of the
# tests (conftest's make_cfg) apply the same sizes as overrides, small_model(name). Checked against the registry in
# tests/models/test_models.py.
TINY_MODELS = {
    "unet": dict(num_classes=5, depth=3, base_channels=4),
    # resnet18 keeps the tests fast (the default vgg16_bn encoder: tests/models/test_models.py)
    "smp_unet": dict(num_classes=5, encoder_name="resnet18", encoder_depth=3, decoder_channels=(16, 8, 4)),
    "deeplabv3plus": dict(num_classes=5, decoder_channels=16),
    "segnet": dict(num_classes=5, width_mult=0.125),
    "vgg16": dict(num_classes=10, width_mult=0.125),
}


def small_model(name: str) -> list[str]:
    """``TINY_MODELS[name]`` as ``model.net.*`` overrides (``num_classes`` is the data's); ``[]`` for no row."""
    return [
        f"model.net.{key}="
        + (f"[{','.join(map(str, value))}]" if isinstance(value, tuple | list) else str(value))
        for key, value in TINY_MODELS.get(name, {}).items()
        if key != "num_classes"
    ]
