"""prunescope-train end to end on every model × matching data, as lightning-hydra-template tests it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from prunescope.config_checks import ConfigError
from prunescope.models import models_for
from prunescope.train import run
from support import REPO_ROOT, requires_data

SEGMENTATION_MODELS = models_for("segmentation")


@pytest.mark.parametrize("model", SEGMENTATION_MODELS)
def test_fast_dev_run_segmentation_digit_scenes(make_cfg, model: str) -> None:
    cfg = make_cfg(f"model={model}", "data=digit_scenes", "trainer.fast_dev_run=true")
    values = run(cfg)
    assert values["run.status"] == "completed"
    assert 0.0 <= values["baseline.miou"] <= 1.0
    assert len(values["baseline.iou_per_class"]) == 11
    assert values["baseline.params"] > 0 and values["baseline.macs"] > 0
    written = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert written["baseline.miou"] == pytest.approx(values["baseline.miou"])
    started, finished = (
        datetime.fromisoformat(written[f"run.{key}"]) for key in ("started_at", "finished_at")
    )
    assert started.utcoffset() == timedelta(0) and started <= finished <= datetime.now(UTC)
    assert (finished - started).total_seconds() >= written["time.total"] - 1.0  # wall clock, to the second


@requires_data("camvid")
@pytest.mark.parametrize("model", SEGMENTATION_MODELS)
def test_fast_dev_run_segmentation_camvid(make_cfg, model: str) -> None:
    values = run(make_cfg(f"model={model}", "data=camvid", "trainer.fast_dev_run=true"))
    assert values["run.status"] == "completed"
    assert len(values["baseline.iou_per_class"]) == 11


def test_fast_dev_run_vgg16_digits(make_cfg) -> None:
    values = run(make_cfg("model=vgg16", "data=digits", "trainer.fast_dev_run=true"))
    assert values["run.status"] == "completed"
    assert 0.0 <= values["baseline.acc"] <= 1.0


@requires_data("cifar10")
def test_fast_dev_run_vgg16_cifar10(make_cfg) -> None:
    values = run(make_cfg("model=vgg16", "data=cifar10", "trainer.fast_dev_run=true"))
    assert values["run.status"] == "completed"
    assert 0.0 <= values["baseline.acc"] <= 1.0


def test_task_mismatch_is_one_clear_error(make_cfg) -> None:
    cfg = make_cfg("model=vgg16", "data=digit_scenes")
    with pytest.raises(ConfigError, match="vgg16 takes digits/cifar10"):
        run(cfg)
    written = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert written["run.status"] == "failed"


def test_cli_train_then_eval_reproduces_test_metrics(tmp_path: Path) -> None:
    """The console scripts as a user runs them: train a tiny model, then prunescope-eval its last checkpoint."""
    bin_dir = Path(sys.executable).parent
    run_dir = tmp_path / "run"
    common = [f"hydra.run.dir={run_dir}", "trainer.enable_progress_bar=false"]
    subprocess.run(
        [
            str(bin_dir / "prunescope-train"),
            "model.net.depth=2",
            "model.net.base_channels=4",
            "data.num_train=16",
            "data.num_val=8",
            "data.num_test=8",
            "data.image_size=32",
            "trainer.max_epochs=1",
            "efficiency.latency_repeats=1",
            *common,
        ],
        check=True,
        cwd=REPO_ROOT,
        capture_output=True,
    )
    trained = json.loads((run_dir / "metrics.json").read_text())
    assert trained["run.status"] == "completed"
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    eval_dir = tmp_path / "eval"
    subprocess.run(
        [
            str(bin_dir / "prunescope-eval"),
            f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
            f"hydra.run.dir={eval_dir}",
            "trainer.enable_progress_bar=false",
        ],
        check=True,
        cwd=REPO_ROOT,
        capture_output=True,
    )
    evaluated = json.loads((eval_dir / "eval_metrics.json").read_text())
    assert evaluated["miou"] == pytest.approx(trained["baseline.miou"], abs=1e-6)


@requires_data("camvid")
def test_eval_from_another_directory_finds_the_data(tmp_path: Path) -> None:
    """Console scripts are installed commands: a CamVid run made in the checkout is re-tested from anywhere."""
    bin_dir = Path(sys.executable).parent
    run_dir = tmp_path / "run"
    subprocess.run(
        [
            str(bin_dir / "prunescope-train"),
            "data=camvid",
            "model.net.depth=2",
            "model.net.base_channels=4",
            "data.limit_train=8",
            "data.limit_val=4",
            "data.limit_test=4",
            "data.image_size=[48,64]",
            "data.num_workers=0",
            "trainer.max_epochs=1",
            "efficiency.latency_repeats=1",
            "logger=none",
            f"hydra.run.dir={run_dir}",
        ],
        check=True,
        cwd=REPO_ROOT,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    eval_dir = tmp_path / "eval"
    done = subprocess.run(
        [
            str(bin_dir / "prunescope-eval"),
            f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
            f"hydra.run.dir={eval_dir}",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    trained = json.loads((run_dir / "metrics.json").read_text())
    evaluated = json.loads((eval_dir / "eval_metrics.json").read_text())
    assert evaluated["miou"] == pytest.approx(trained["baseline.miou"], abs=1e-6)
