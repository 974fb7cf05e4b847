"""What a pruned run leaves in its W&B (offline) and TensorBoard files: CAM grid image, tables, summary, hparams."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import wandb
from omegaconf import DictConfig
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.hparams import plugin_data_pb2

from prunescope.train import run
from test_wandb import OfflineRun, offline_run_dirs, wandb_env

TINY_PRUNED_RUN = (
    "pruning=l1",
    "pruning.ratio=0.5",
    "model.net.depth=2",
    "data.num_train=16",
    "data.num_val=8",
    "data.num_test=8",
    "efficiency.latency_repeats=1",
    "cam.grid_classes=3",
)


def test_wandb_run_logs_cam_grid_per_class_tables_and_summary(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in wandb_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cfg = make_cfg(
        "logger=wandb", "logger.wandb.name=dashboards", "logger.wandb.group=dashboards-test", *TINY_PRUNED_RUN
    )
    wandb.teardown()  # W&B keeps settings from its first use in a process: start afresh with this environment
    values = run(cfg)
    wandb.teardown()  # wait until W&B's service has written the offline run (finish() may return before)
    assert values["run.status"] == "completed"
    (run_dir,) = offline_run_dirs(Path(cfg.paths.output_dir))
    offline = OfflineRun.read(run_dir)
    flat = {key: value for step in offline.history for key, value in step.items()}

    def logged(key: str) -> dict:
        """A media entry of the history (W&B stores its fields as ``key/field``)."""
        return {k.removeprefix(f"{key}/"): v for k, v in flat.items() if k.startswith(f"{key}/")}

    assert logged("sp2ps/cams")["_type"] == "images/separated"
    (grid_png,) = (run_dir / "files" / "media" / "images" / "sp2ps").glob("cams_*.png")
    assert grid_png.stat().st_size > 10_000

    def table(key: str) -> dict:
        entry = logged(key)
        assert entry["_type"] == "table-file"
        return json.loads((run_dir / "files" / entry["path"]).read_text())

    iou = table("per_class/iou")
    assert iou["columns"] == ["class", "name", "baseline_iou", "pruned_iou"]
    assert [row[1] for row in iou["data"]] == ["background", *(str(d) for d in range(10))]
    assert [row[3] for row in iou["data"]] == pytest.approx(values["pruned.iou_per_class"])
    sp2ps = table("per_class/sp2ps")
    assert {str(row[0]): row[2] for row in sp2ps["data"]} == pytest.approx(values["sp2ps.per_class"])
    pairs = table("sp2ps_pairs")
    assert len(pairs["data"]) == values["sp2ps.pairs"] + values["sp2ps.skipped"]

    assert offline.summary["final/sp2ps.score"] == pytest.approx(values["sp2ps.score"])
    assert offline.summary["final/pruned.miou"] == pytest.approx(values["pruned.miou"])
    assert offline.summary["final/drop.macs_pct"] == pytest.approx(values["drop.macs_pct"])


def test_tensorboard_run_logs_cam_grid_and_hparams_with_final_metrics(
    make_cfg: Callable[..., DictConfig],
) -> None:
    cfg = make_cfg("logger=tensorboard", *TINY_PRUNED_RUN)
    values = run(cfg)
    assert values["run.status"] == "completed"
    events = EventAccumulator(str(Path(cfg.paths.output_dir) / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    (grid,) = events.Images("sp2ps/cams")
    assert grid.width > 300 and grid.height > 300

    hparams = events.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
    experiment = plugin_data_pb2.HParamsPluginData.FromString(hparams[hparams_metadata.EXPERIMENT_TAG])
    metric_names = {info.name.tag for info in experiment.experiment.metric_infos}
    assert {"final/pruned.miou", "final/sp2ps.score", "final/drop.params_pct"} <= metric_names
    start = plugin_data_pb2.HParamsPluginData.FromString(hparams[hparams_metadata.SESSION_START_INFO_TAG])
    session = start.session_start_info.hparams
    assert session["pruning/method"].string_value == "l1"
    assert session["pruning/ratio"].number_value == 0.5
    final_score = events.Scalars("final/sp2ps.score")
    assert final_score[-1].value == pytest.approx(values["sp2ps.score"], abs=1e-6)
