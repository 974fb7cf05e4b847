"""Sp2PSCallback end to end: a tiny Lightning test run writes the result, the logs and the CAM grid."""

from __future__ import annotations

import copy
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


def read_pairs(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_callback_scores_logs_and_draws(tmp_path, baseline_and_pruned) -> None:
    baseline, pruned = baseline_and_pruned
    callback = Sp2PSCallback(method="gradcam", max_batches=2, grid_classes=3)
    callback.set_baseline(baseline)
    baseline.train()  # the callback keeps its own frozen copy
    trainer, results = run_test(tmp_path, callback, pruned)

    assert callback.result is not None
    result = callback.result.values
    assert set(result) == {"sp2ps", "spatial", "spectral", "hm_of_means", "pairs", "skipped", "per_class"}
    assert callback.result.seconds > 0 and callback.result.score == result["sp2ps"]
    # 2 batches of 5 samples: classes 0-2 in every sample, class 3 in the even ones
    assert result["pairs"] + result["skipped"] == 10 * 3 + 5
    assert 0.0 < result["sp2ps"] < 1.0
    assert set(result["per_class"]) <= {0, 1, 2, 3}
    assert results[0]["sp2ps/score"] == pytest.approx(result["sp2ps"])
    assert results[0]["sp2ps/pairs"] == result["pairs"]

    pairs = read_pairs(tmp_path / "sp2ps_pairs.csv")
    assert callback.result.pairs_path == tmp_path / "sp2ps_pairs.csv"
    assert len(pairs) == 35 and {row["sample"] for row in pairs} == {str(i) for i in range(10)}
    scored = [row for row in pairs if row["skipped"] == "0"]
    assert len(scored) == result["pairs"]
    scores = [float(row["score"]) for row in scored]
    assert sum(scores) / len(scores) == pytest.approx(result["sp2ps"], abs=1e-9)
    assert sum(float(row["spatial"]) for row in scored) / len(scored) == pytest.approx(result["spatial"])
    assert {row["class_name"] for row in pairs} == {"background", "a", "b", "c"}
    # the first batch's class-1 box covers rows 4:14, cols 4:20 = 160 pixels of every sample
    assert {row["pixels"] for row in pairs if row["class"] == "1"} == {"160"}

    roles = {role: row for row in pairs for role in row["grid"].split(";") if role}
    lowest, highest = (
        min(scored, key=lambda r: float(r["score"])),
        max(scored, key=lambda r: float(r["score"])),
    )
    assert roles["lowest"] is lowest and roles["highest"] is highest
    assert sorted(scores)[(len(scores) - 1) // 2] == float(roles["median"]["score"])
    fixed = [row for row in pairs if "class" in row["grid"].split(";")]
    assert sorted(row["class"] for row in fixed) == ["0", "1", "2"]

    png = tmp_path / "sp2ps_cams.png"
    assert png.exists() and callback.result.grid_path == png
    from matplotlib.image import imread

    picture = imread(png)
    assert picture.shape[0] > 6 * 1.6 * 80 and picture.shape[1] >= (1.7 + 3 * 1.6) * 80 - 1  # 6 rows
    assert picture[..., :3].std() > 0.05

    metrics_csv = next((tmp_path / "csv").rglob("metrics.csv"))
    with metrics_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    logged = [row for row in rows if row.get("sp2ps/score")]
    assert logged and float(logged[-1]["sp2ps/score"]) == pytest.approx(result["sp2ps"])
    assert any(path.name.startswith("events.out.tfevents") for path in (tmp_path / "tb").rglob("*"))


def test_grid_is_the_same_for_two_pruned_models_but_the_spread_rows(tmp_path, baseline_and_pruned) -> None:
    """Two different pruned models of one baseline: same fixed per-class pairs, each run's own spread."""
    baseline, pruned = baseline_and_pruned
    other = copy.deepcopy(pruned)
    with torch.no_grad():
        for parameter in other.parameters():
            parameter.mul_(-1.0)
    fixed = []
    for name, net in (("a", pruned), ("b", other)):
        callback = Sp2PSCallback(baseline=baseline, grid_classes=4)
        run_test(tmp_path / name, callback, net)
        pairs = read_pairs(tmp_path / name / "sp2ps_pairs.csv")
        fixed.append([(r["sample"], r["class"]) for r in pairs if "class" in r["grid"].split(";")])
        assert len(fixed[-1]) == 4
    assert fixed[0] == fixed[1]


def test_same_model_through_lightning_scores_one(tmp_path, baseline_and_pruned) -> None:
    baseline, _ = baseline_and_pruned
    callback = Sp2PSCallback(baseline=baseline, grid=False)
    run_test(tmp_path, callback, baseline)
    assert callback.result is not None and callback.result.values["pairs"] > 0
    assert callback.result.score == pytest.approx(1.0, abs=1e-6)
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
    with pytest.raises(ValueError, match="grid_classes"):
        Sp2PSCallback(grid_classes=-1)
