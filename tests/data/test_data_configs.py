"""conf/data/*.yaml instantiate their datamodules, and the declared keys agree with them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from prunescope.data import DATAMODULES

CONF_DATA = Path(__file__).resolve().parents[2] / "conf" / "data"


def load(name: str, data_dir: Path, cache_dir: Path):
    paths = OmegaConf.create({"paths": {"data_dir": str(data_dir), "cache_dir": str(cache_dir)}, "seed": 7})
    return OmegaConf.merge(paths, {"data": OmegaConf.load(CONF_DATA / f"{name}.yaml")})


@pytest.mark.parametrize("name", sorted(DATAMODULES))
def test_config_instantiates_its_datamodule_with_matching_keys(
    name: str, tmp_path: Path, shared_data_dir: Path
) -> None:
    if name in ("camvid", "cifar10") and not (shared_data_dir / name).is_dir():
        pytest.skip(f"real data not found at {shared_data_dir / name}")
    cfg = load(name, shared_data_dir, tmp_path)
    dm = instantiate(cfg.data)
    assert type(dm) is DATAMODULES[name]
    assert (dm.num_classes, dm.task, dm.ignore_index) == (
        cfg.data.num_classes,
        cfg.data.task,
        cfg.data.ignore_index,
    )
    assert dm.seed == 7


def test_config_with_wrong_num_classes_is_rejected(tmp_path: Path) -> None:
    cfg = load("digit_scenes", tmp_path, tmp_path)
    cfg.data.num_classes = 12
    with pytest.raises(Exception, match="num_classes=12"):
        instantiate(cfg.data)


def test_camvid_config_with_missing_root_names_the_path(tmp_path: Path) -> None:
    cfg = load("camvid", tmp_path / "nowhere", tmp_path)
    with pytest.raises(Exception, match="nowhere"):
        instantiate(cfg.data)
