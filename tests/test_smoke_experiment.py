"""``experiment=smoke`` runs with every model and every dataset: its sizes are looked up per model and per data
choice (``conf/sizes/``), so it pins no key another model or datamodule does not take."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from omegaconf import DictConfig

from prunescope.config_checks import ConfigError
from prunescope.models import models_for
from prunescope.train import run
from support import requires_data

SEGMENTATION_MODELS = models_for("segmentation")
CLASSIFIERS = models_for("classification")


@pytest.mark.parametrize("model", [*SEGMENTATION_MODELS, *CLASSIFIERS])
def test_smoke_runs_with_every_model(make_cfg: Callable[..., DictConfig], model: str) -> None:
    data = ["data=digits"] if model in CLASSIFIERS else []  # a classifier takes a classification dataset
    cfg = make_cfg("experiment=smoke", f"model={model}", *data, "logger=none", small=False)
    values = run(cfg)
    assert values["run.status"] == "completed"
    assert values["run.model"] == model
    assert (
        values["baseline.params"] < 12_000_000
    )  # the smoke sizes were applied (ResNet-18 encoders stay whole)


def test_smoke_keeps_its_unet_and_digit_scenes_sizes(make_cfg: Callable[..., DictConfig]) -> None:
    cfg = make_cfg("experiment=smoke", small=False)
    assert (cfg.model.net.depth, cfg.model.net.base_channels) == (2, 4)
    assert (cfg.data.num_train, cfg.data.image_size, cfg.data.batch_size) == (16, 32, 8)
    plain = make_cfg(small=False)
    assert (plain.model.net.depth, plain.data.num_train) == (5, 2048)  # no experiment: no smoke sizes


def test_smoke_classifier_on_segmentation_data_names_the_datasets(
    make_cfg: Callable[..., DictConfig],
) -> None:
    with pytest.raises(ConfigError, match="vgg16 takes digits/cifar10"):
        run(make_cfg("experiment=smoke", "model=vgg16", small=False))


@requires_data("camvid")
def test_smoke_runs_with_camvid(make_cfg: Callable[..., DictConfig]) -> None:
    cfg = make_cfg("experiment=smoke", "data=camvid", "logger=none", small=False)
    assert "num_train" not in cfg.data
    values = run(cfg)
    assert values["run.status"] == "completed" and values["run.data"] == "camvid"
