"""Per-class IoU of a class absent from both the test masks and the predictions: no IoU (``null`` in metrics.json,
left out of ``miou``), shown as "–" in the report, not as an IoU of 0."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import re
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from prunescope.modules import SegmentationModule
from prunescope.pipeline.testing import test_module
from prunescope.reporting import collect_runs, write_report
from prunescope.train import run

NUM_CLASSES = 4


class FixedPrediction(nn.Module):
    """A network whose prediction for the i-th test image is ``masks[i]`` (known IoUs)."""

    def __init__(self, masks: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("masks", masks)
        self.scale = nn.Parameter(torch.ones(()))
        self.calls = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        batch = self.masks[self.calls : self.calls + images.shape[0]]
        self.calls += images.shape[0]
        return F.one_hot(batch, NUM_CLASSES).permute(0, 3, 1, 2).float() * self.scale


def strict_json(path: Path) -> dict:
    """``json.loads`` that refuses NaN / Infinity (not JSON)."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{path} holds {constant}, which is not JSON")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def test_class_absent_from_masks_and_predictions_has_no_iou() -> None:
    masks = torch.zeros(2, 4, 4, dtype=torch.long)
    masks[0, :2, :2] = 1  # class 1: found exactly
    masks[1, :, 2:] = 3  # class 3: in the masks, never predicted (IoU 0); class 2: nowhere
    predicted = masks.clone()
    predicted[predicted == 3] = 0
    module = SegmentationModule(
        FixedPrediction(predicted), optimizer=torch.optim.Adam, num_classes=NUM_CLASSES
    )
    data = pl.LightningDataModule.from_datasets(
        test_dataset=TensorDataset(torch.zeros(2, 3, 4, 4), masks), batch_size=2
    )
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    quality = test_module(trainer, module, data)
    background = 20 / 28  # 20 background pixels, 8 more predicted as background
    assert quality["iou_per_class"] == pytest.approx([background, 1.0, None, 0.0])
    assert quality["miou"] == pytest.approx((background + 1.0 + 0.0) / 3)  # class 2 left out, class 3 counted


def test_metrics_json_holds_null_for_a_class_without_iou(make_cfg) -> None:
    """A real run on 2 test scenes of one digit each: most digit classes are in neither masks nor predictions."""
    cfg = make_cfg("data.num_test=2", "data.min_digits=1", "data.max_digits=1")
    values = run(cfg)
    written = strict_json(Path(cfg.paths.output_dir) / "metrics.json")
    per_class = written["baseline.iou_per_class"]
    assert per_class == values["baseline.iou_per_class"]
    assert len(per_class) == 11 and None in per_class
    present = [iou for iou in per_class if iou is not None]
    assert all(0.0 <= iou <= 1.0 for iou in present)
    assert written["baseline.miou"] == pytest.approx(sum(present) / len(present), abs=1e-6)


def test_report_shows_a_dash_for_a_class_without_iou(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    for index, (method, pruned) in enumerate((("l1", [0.9, None, 0.0]), ("random", [0.8, 0.4, 0.0]))):
        job = sweep / str(index)
        job.mkdir(parents=True)
        values = {
            "run.name": str(index),
            "run.model": "unet",
            "run.data": "digit_scenes",
            "run.method": method,
            "run.scope": "global",
            "run.ratio": 0.5,
            "run.seed": 0,
            "run.status": "completed",
            "quality.metric": "miou",
            "baseline.miou": 0.5,
            "baseline.iou_per_class": [0.95, None, 0.05],
            "baseline.params": 1000,
            "baseline.macs": 10_000,
            "pruned.miou": 0.45,
            "pruned.iou_per_class": pruned,
            "pruned.params": 500,
            "pruned.macs": 5000,
        }
        (job / "metrics.json").write_text(json.dumps(values, allow_nan=False), encoding="utf-8")
    files = write_report(collect_runs([sweep]), tmp_path / "report")

    page = files["html"].read_text(encoding="utf-8")
    table = re.search(r'<table class="sortable" id="iou-unet-digit_scenes">.*?</table>', page).group(0)
    rows = {
        re.sub(r"<[^>]+>", "", cells[0]): [re.sub(r"<[^>]+>", "", c) for c in cells[2:]]
        for cells in (re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table))
        if cells
    }
    assert rows["Baseline"] == ["0.950", "–", "0.050"]
    assert rows["l1"] == ["0.900", "–", "0.000"]  # no IoU vs a real 0
    assert rows["random"] == ["0.800", "0.400", "0.000"]

    with open(files["results_csv"], newline="", encoding="utf-8") as handle:
        results = {row["run.method"]: row for row in csv.DictReader(handle)}
    assert json.loads(results["l1"]["pruned.iou_per_class"]) == [0.9, None, 0.0]
    assert not any(math.isnan(v) for v in json.loads(results["random"]["pruned.iou_per_class"]))


def test_study_baseline_table_shows_a_dash_for_a_class_without_iou() -> None:
    from support import REPO_ROOT

    # the baseline table of study_tables.py and of the RESULTS check is experiments/check_results.py's
    spec = importlib.util.spec_from_file_location(
        "check_results", REPO_ROOT / "experiments" / "check_results.py"
    )
    check_results = importlib.util.module_from_spec(spec)
    sys.modules["check_results"] = check_results  # its dataclasses look their module up there
    spec.loader.exec_module(check_results)
    row = {
        "quality.metric": "miou",
        "baseline.miou": 0.5,
        "baseline.pixel_acc": 0.9,
        "baseline.params": 1e6,
        "baseline.macs": 1e9,
        "baseline.iou_per_class": [0.95, None, 0.0],
    }
    line, table = check_results.baseline_table([row], ["background", "a", "b"])
    assert line.startswith("Baseline (test): miou 50.0 %, pixel accuracy 90.0 %")
    assert table.splitlines()[-1] == "| 95.0 | – | 0.0 |"
