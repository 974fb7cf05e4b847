"""Shared fixtures: compose the real ``conf/`` like lightning-hydra-template, shrunk for 2 CPU cores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from prunescope.run_dirs import register_resolvers
from support import CONFIG_DIR, DATA_DIR, REPO_ROOT, SMALL_DATA, small_model

register_resolvers()  # conf/ uses ${run_suffix:} and ${project_root:}


@pytest.fixture(scope="session")
def data_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache per test session (CIFAR-10 tars are unpacked once)."""
    return tmp_path_factory.mktemp("prunescope-cache")


@pytest.fixture
def make_cfg(tmp_path: Path, data_cache_dir: Path) -> Callable[..., DictConfig]:
    """Compose ``train.yaml`` (of ``config_dir``, default ``conf/``) with overrides; outputs and the baseline cache
    go under ``tmp_path``."""

    def _make(
        *overrides: str, config_name: str = "train", small: bool = True, config_dir: Path = CONFIG_DIR
    ) -> DictConfig:
        GlobalHydra.instance().clear()
        chosen = dict(o.split("=", 1) for o in overrides if "=" in o and "." not in o.split("=", 1)[0])
        extra: list[str] = []
        if small and config_name == "train":
            extra += SMALL_DATA.get(chosen.get("data", "digit_scenes"), [])
            extra += small_model(chosen.get("model", "unet"))
            extra += [
                "trainer.max_epochs=1",
                "trainer.enable_progress_bar=false",
                "trainer.log_every_n_steps=1",
                "finetune_epochs=1",
                "efficiency.latency_repeats=2",
                "logger=none",
            ]
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
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


@pytest.fixture(autouse=True)
def single_intra_op_thread():
    """Tiny models run faster on one thread than on two contended ones; restore the setting afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
