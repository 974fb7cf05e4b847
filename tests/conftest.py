"""Shared fixtures: compose the real ``conf/`` like lightning-hydra-template, shrunk for 2 CPU cores."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

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
    "smp_unet": ["model.net.encoder_name=resnet18", "model.net.encoder_depth=3", "model.net.decoder_channels=[16,8,4]"],
    "deeplabv3plus": ["model.net.decoder_channels=16"],
    "segnet": ["model.net.width_mult=0.125"],
    "vgg16": ["model.net.width_mult=0.125"],
}


def requires_data(name: str) -> pytest.MarkDecorator:
    """Skip unless ``../shared/data/<name>`` (or ``$PRUNESCOPE_DATA/<name>``) exists."""
    return pytest.mark.skipif(
        not (DATA_DIR / name).exists(), reason=f"real data not found at {DATA_DIR / name}"
    )


@pytest.fixture(scope="session")
def data_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache per test session (CIFAR-10 tars are unpacked once)."""
    return tmp_path_factory.mktemp("prunescope-cache")


@pytest.fixture
def make_cfg(tmp_path: Path, data_cache_dir: Path) -> Callable[..., DictConfig]:
    """Compose ``train.yaml`` with overrides; outputs and the baseline cache go under ``tmp_path``."""

    def _make(*overrides: str, config_name: str = "train", small: bool = True) -> DictConfig:
        GlobalHydra.instance().clear()
        chosen = dict(o.split("=", 1) for o in overrides if "=" in o and "." not in o.split("=", 1)[0])
        extra: list[str] = []
        if small and config_name == "train":
            extra += SMALL_DATA.get(chosen.get("data", "digit_scenes"), [])
            extra += SMALL_MODEL.get(chosen.get("model", "unet"), [])
            extra += [
                "trainer.max_epochs=1",
                "trainer.enable_progress_bar=false",
                "trainer.log_every_n_steps=1",
                "finetune_epochs=1",
                "efficiency.latency_repeats=2",
                "logger=none",
            ]
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=[*extra, *overrides])
        with open_dict(cfg):
            cfg.paths.root_dir = str(REPO_ROOT)
            cfg.paths.data_dir = str(DATA_DIR)
            cfg.paths.cache_dir = str(data_cache_dir)
            cfg.paths.log_dir = str(tmp_path / "outputs")
            cfg.paths.output_dir = str(tmp_path / "run")
            cfg.paths.baselines_dir = str(tmp_path / "outputs" / "baselines")
        return cfg

    return _make
