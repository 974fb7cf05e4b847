"""Sp2PSCallback end to end: a tiny Lightning test run writes the result, the logs and the CAM grid."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from prunescope.cam import Sp2PSCallback
from prunescope.models import build_model

IGNORE = 255


class TinySegmentationModule(pl.LightningModule):
    """The smallest module with the project's shape: ``self.net`` and a test step."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        loss = nn.functional.cross_entropy(self(images), labels, ignore_index=IGNORE)
        self.log("test/loss", loss)


class TinyScenes(pl.LightningDataModule):
    """12 random 32×40 images with 3–4 of 4 classes each and some ignore pixels."""

    num_classes = 4
    ignore_index = IGNORE
    task = "segmentation"
    class_names = ["background", "a", "b", "c"]

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.images = torch.randn(12, 3, 32, 40, generator=generator)
        labels = torch.zeros(12, 32, 40, dtype=torch.long)
        labels[:, 4:14, 4:20], labels[:, 18:30, 10:36], labels[::2, 2:6, 30:38] = 1, 2, 3
        labels[:, 0, :] = IGNORE
        self.labels = labels

    def test_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(self.images, self.labels), batch_size=5)


@pytest.fixture
def baseline_and_pruned(perturbed_copy) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    baseline = build_model("unet", num_classes=4, depth=2, base_channels=4).eval()
    return baseline, perturbed_copy(baseline, scale=0.3)


def run_test(tmp_path: Path, callback: Sp2PSCallback, net: nn.Module) -> tuple[pl.Trainer, list[dict]]:
    trainer = pl.Trainer(
        default_root_dir=tmp_path,
        accelerator="cpu",
        logger=[CSVLogger(tmp_path, name="csv"), TensorBoardLogger(tmp_path, name="tb")],
        callbacks=[callback],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    results = trainer.test(TinySegmentationModule(net), datamodule=TinyScenes(), verbose=False)
    return trainer, results


def test_callback_scores_logs_and_draws(tmp_path, baseline_and_pruned) -> None:
    baseline, pruned = baseline_and_pruned
    callback = Sp2PSCallback(method="gradcam", max_batches=2, grid_samples=3)
    callback.set_baseline(baseline)
    baseline.train()  # the callback keeps its own frozen copy
    trainer, results = run_test(tmp_path, callback, pruned)

    result = callback.result
    assert result is not None
    assert set(result) == {
        "sp2ps",
        "spatial",
        "spectral",
        "hm_of_means",
        "pairs",
        "skipped",
        "per_class",
        "seconds",
    }
    # 2 batches of 5 samples: classes 0-2 in every sample, class 3 in the even ones
    assert result["pairs"] + result["skipped"] == 10 * 3 + 5
    assert 0.0 < result["sp2ps"] < 1.0
    assert set(result["per_class"]) <= {0, 1, 2, 3}
    assert results[0]["sp2ps/score"] == pytest.approx(result["sp2ps"])
    assert results[0]["sp2ps/pairs"] == result["pairs"]

    png = tmp_path / "sp2ps_cams.png"
    assert png.exists() and callback.grid_path == png
    from matplotlib.image import imread

    picture = imread(png)
    assert picture.shape[:2] == (3 * 3 * 80, 9 * 80)  # 3 rows of 3 panels, 3 in tall each at 80 dpi
    assert picture[..., :3].std() > 0.05

    metrics_csv = next((tmp_path / "csv").rglob("metrics.csv"))
    with metrics_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    logged = [row for row in rows if row.get("sp2ps/score")]
    assert logged and float(logged[-1]["sp2ps/score"]) == pytest.approx(result["sp2ps"])
    assert any(path.name.startswith("events.out.tfevents") for path in (tmp_path / "tb").rglob("*"))


def test_same_model_through_lightning_scores_one(tmp_path, baseline_and_pruned) -> None:
    baseline, _ = baseline_and_pruned
    callback = Sp2PSCallback(baseline=baseline, grid_samples=0)
    run_test(tmp_path, callback, baseline)
    assert callback.result is not None and callback.result["pairs"] > 0
    assert callback.result["sp2ps"] == pytest.approx(1.0, abs=1e-6)
    assert not (tmp_path / "sp2ps_cams.png").exists()


def test_callback_without_baseline_or_disabled_does_nothing(tmp_path, baseline_and_pruned) -> None:
    baseline, pruned = baseline_and_pruned
    for callback in (Sp2PSCallback(), Sp2PSCallback(baseline=baseline, enabled=False)):
        trainer, results = run_test(tmp_path, callback, pruned)
        assert callback.result is None
        assert "sp2ps/score" not in results[0]
    assert not (tmp_path / "sp2ps_cams.png").exists()


def test_callback_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="Unknown CAM method"):
        Sp2PSCallback(method="gradcam+++")
    with pytest.raises(ValueError, match="max_batches"):
        Sp2PSCallback(max_batches=0)
