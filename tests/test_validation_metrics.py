"""``baseline.val_<metric>`` / ``pruned.val_<metric>``: quality on the validation split, measured on that split."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import DictConfig
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

from prunescope import train as train_module
from prunescope.data.cifar10 import CIFAR10DataModule
from prunescope.modules import TaskModule
from prunescope.pipeline.validation import has_validation_split
from prunescope.train import run


def spy_on_validation(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Record what the run's validation stage is given (its parts and modules)."""
    seen: dict[str, Any] = {}
    real = train_module.validation_stage

    def spy(parts, baseline, pruned=None):  # noqa: ANN001, ANN202
        seen.update(parts=parts, baseline=baseline, pruned=pruned)
        return real(parts, baseline, pruned)

    monkeypatch.setattr(train_module, "validation_stage", spy)
    return seen


@torch.no_grad()
def quality_on(module: TaskModule, loader: Any) -> float:
    """The module's quality metric over ``loader``, computed here (not through Lightning)."""
    num_classes = module.num_classes
    if module.quality_metric == "acc":
        metric = MulticlassAccuracy(num_classes, average="micro")
    else:
        metric = MulticlassJaccardIndex(num_classes, average="macro", ignore_index=module.ignore_index)
    module.eval()
    for images, targets in loader:
        logits = module(images.to(module.device))
        metric.update(logits.argmax(dim=1).cpu(), targets)
    return float(metric.compute())


@pytest.mark.parametrize(
    ("overrides", "metric"), [((), "miou"), (("model=vgg16", "data=digits"), "acc")], ids=["smoke", "digits"]
)
def test_pruning_run_records_validation_quality_of_both_models(
    make_cfg: Callable[..., DictConfig], monkeypatch: pytest.MonkeyPatch, overrides: tuple, metric: str
) -> None:
    seen = spy_on_validation(monkeypatch)
    cfg = make_cfg(
        "experiment=smoke", *overrides, "pruning=l1", "pruning.ratio=0.3", "sp2ps=false", small=False
    )
    values = run(cfg)
    assert values["run.status"] == "completed", values.get("run.error")
    written = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    for key in (f"baseline.val_{metric}", f"pruned.val_{metric}", f"pruned.{metric}"):
        assert isinstance(written[key], float) and 0.0 <= written[key] <= 1.0, key
    assert written["time.validation"] >= 0.0

    # each figure is computed on its own split: the same numbers, recomputed here on the loaders directly
    datamodule = seen["parts"].datamodule
    val_images, test_images = (
        next(iter(datamodule.val_dataloader()))[0],
        next(iter(datamodule.test_dataloader()))[0],
    )
    assert val_images.shape != test_images.shape or not torch.equal(val_images, test_images)  # two splits
    pruned, baseline = seen["pruned"], seen["baseline"]
    assert written[f"pruned.val_{metric}"] == pytest.approx(
        quality_on(pruned, datamodule.val_dataloader()), abs=1e-6
    )
    assert written[f"pruned.{metric}"] == pytest.approx(
        quality_on(pruned, datamodule.test_dataloader()), abs=1e-6
    )
    assert written[f"baseline.val_{metric}"] == pytest.approx(
        quality_on(baseline, datamodule.val_dataloader()), abs=1e-6
    )


def test_run_without_pruning_records_the_baselines_validation_quality(
    make_cfg: Callable[..., DictConfig],
) -> None:
    cfg = make_cfg("experiment=smoke", "sp2ps=false", small=False)
    values = run(cfg)
    assert 0.0 <= values["baseline.val_miou"] <= 1.0
    assert not any(key.startswith("pruned.") for key in values)


def test_cifar10_without_a_held_out_split_has_no_validation_split() -> None:
    datamodule = object.__new__(CIFAR10DataModule)  # the property reads val_size only
    datamodule.val_size = 0
    assert not has_validation_split(datamodule)  # validation would read the test images
    datamodule.val_size = 5000
    assert has_validation_split(datamodule)
