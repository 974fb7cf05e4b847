"""prunescope-bench end to end on tiny settings: every section runs and reports finite ratios (no timing asserted)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from omegaconf import open_dict

from prunescope.bench import bench, check_bench_config

TINY = [
    "warmup=1",
    "repeats=2",
    "models.segnet.net.width_mult=0.125",
    "models.segnet.input=[3,32,32]",
    "models.vgg16.net.width_mult=0.125",
    "speedup.models=[segnet,vgg16]",
    "speedup.ratios=[0.5]",
    "speedup.batches=[2]",
    "speedup.goal=100.0",  # unreachable: the where-the-time-goes profile runs too
    "speedup.goal_batch=2",
    "speedup.profile_repeats=1",
    "sp2ps.models=[vgg16]",
    "sp2ps.classification_batch_size=4",
    "sp2ps.warmup=0",
    "calibration.batches=2",
    "calibration.batch_size=2",
    "calibration.memory_batches=[1,2]",
    "training.overrides=['model=unet','data=digit_scenes','pruning=l1','data.num_train=48','data.image_size=32',"
    "'data.batch_size=8','model.net.depth=3','model.net.base_channels=4','logger=csv']",
    "training.steps=2",
    "training.warmup=1",
    "training.rounds=1",
    "training_speed.models=[demo]",
    "training_speed.setups.demo=['data.num_train=48','data.image_size=32','data.batch_size=8','model.net.depth=3',"
    "'model.net.base_channels=4']",
    "training_speed.steps=2",
    "training_speed.warmup=1",
    "training_speed.rounds=1",
    "pruning_time.models=[vgg16]",
    "pruning_time.criteria=[l1,isd]",
    "pruning_time.repeats=1",
    "pruning_time.warmup=0",
]


def bench_cfg(make_cfg, tmp_path: Path, *overrides: str):
    cfg = make_cfg(*TINY, *overrides, config_name="bench", small=False)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "bench")
    return cfg


def finite(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def test_every_section_writes_its_figures(make_cfg, tmp_path: Path) -> None:
    results = bench(bench_cfg(make_cfg, tmp_path))
    written = json.loads((tmp_path / "bench" / "bench.json").read_text())
    assert set(written) >= {
        "meta", "speedup", "sp2ps", "calibration", "training", "training_speed", "pruning_time", "seconds"
    }  # fmt: skip
    rows = written["speedup"]["rows"]
    assert {(r["model"], r["runtime"]) for r in rows} == {
        (m, rt) for m in ("segnet", "vgg16") for rt in ("eager", "eager_folded_cl", "onnxruntime")
    }
    assert all(finite(r["speedup"]) and r["mac_ratio"] > 2 for r in rows)  # half the channels: ~4x fewer MACs
    assert {v["model"]: v["met"] for v in written["speedup"]["acceptance"]} == {
        "segnet": False,
        "vgg16": False,
    }
    profile = written["speedup"]["profiles"]["segnet"]
    assert any("conv" in row["operator"] for row in profile["eager_operators"])
    unpooling = [row for row in profile["onnxruntime_operators"] if row["operator"] == "ScatterElements"]
    assert unpooling and unpooling[0]["baseline_ms"] > 0
    assert 0 < profile["eager_bound"]["mac_share"] <= 1 and finite(profile["onnxruntime_bound"]["speedup"])
    assert all(finite(r["fast_over_floor"]) for r in written["sp2ps"])
    calibration = written["calibration"]
    assert finite(calibration["pca_covariance_over_forward"])
    assert set(calibration["peak_mb"]["msd"]) == {"1", "2"}
    assert finite(written["training"]["lightning_over_plain"])
    assert "PruningCallback" in written["training"]["callbacks"]
    speed = {r["variant"]: r for r in written["training_speed"]["rows"]}
    assert set(speed) == {"fp32_nchw", "fp32_cl", "auto", "on_device"}
    for name in ("fp32_nchw", "fp32_cl", "auto"):
        assert finite(speed[name]["step_ms"]) and finite(speed[name]["speedup"]) and speed[name]["steps"] == 2
    assert speed["fp32_nchw"]["speedup"] == 1.0 and not speed["fp32_nchw"]["channels_last"]
    assert speed["fp32_cl"]["channels_last"] and speed["fp32_cl"]["precision"] == "32-true"
    assert speed["auto"]["precision"] == "32-true"  # a tiny U-Net: far below the bf16 bound
    assert finite(speed["on_device"].get("step_ms")) or "data.on_device" in speed["on_device"]["skipped"]
    assert [r["method"] for r in written["pruning_time"]] == ["l1", "isd"]
    markdown = (tmp_path / "bench" / "bench.md").read_text()
    assert "## Speed-up vs MAC ratio" in markdown and "Where the time goes: segnet" in markdown
    assert "## Training speed" in markdown and "| demo | 8 |" in markdown
    assert results["seconds"]["total"] > 0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("sections=[speedup,nope]", "unknown section(s) ['nope']"),
        ("speedup.models=[resnet]", "speedup: unknown model(s) ['resnet']"),
        ("speedup.runtimes=[tensorrt]", "unknown runtime(s) ['tensorrt']"),
        ("training_speed.models=[demo,resnet]", "training_speed: unknown model(s) ['resnet']"),
        ("training_speed.baseline=fp16", "training_speed.baseline='fp16' is not a variant"),
    ],
)
def test_bad_config_is_named_before_any_work(make_cfg, tmp_path: Path, override: str, message: str) -> None:
    cfg = bench_cfg(make_cfg, tmp_path, override)
    with pytest.raises(ValueError, match=re.escape(message)):
        check_bench_config(cfg)
    with pytest.raises(ValueError):
        bench(cfg)
    assert not (tmp_path / "bench").exists()
