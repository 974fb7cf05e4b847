"""A pruning run's ``baseline.ckpt_path`` trained with other data settings (dataset, image size, classes) is refused
before any work, as ``prunescope-sp2ps`` refuses such a pair (same comparison), unless ``baseline.force=true``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict

from prunescope.checkpoints import CheckpointError, read_checkpoint, save_checkpoint
from prunescope.instantiate import build_module
from prunescope.train import run

PRUNING = ("pruning=l1", "pruning.ratio=0.5", "sp2ps=false")


def baseline_checkpoint(cfg, path: Path) -> Path:
    """An untrained baseline of ``cfg``'s model, saved as prunescope-train saves one (data settings included)."""
    return save_checkpoint(build_module(cfg, instantiate(cfg.data)), path)


def test_baseline_of_another_image_size_is_refused_unless_forced(make_cfg, tmp_path: Path) -> None:
    ckpt = baseline_checkpoint(make_cfg(), tmp_path / "baseline_32px.ckpt")  # data.image_size=32
    assert read_checkpoint(ckpt)["data_config"]["image_size"] == 32
    cfg = make_cfg(*PRUNING, f"baseline.ckpt_path={ckpt}", "data.image_size=48")
    with pytest.raises(CheckpointError) as raised:
        run(cfg)
    assert str(raised.value) == (
        f"baseline checkpoint {ckpt} was trained with other data settings than this run's (checkpoint != run: "
        "image_size: 32 != 48); choose the data it was trained with, or pass baseline.force=true to prune it on "
        "this run's data anyway"
    )
    written = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert written["run.status"] == "failed" and "image_size: 32 != 48" in written["run.error"]
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()  # nothing fine-tuned

    forced = make_cfg(*PRUNING, f"baseline.ckpt_path={ckpt}", "data.image_size=48", "baseline.force=true")
    with open_dict(forced):
        forced.paths.output_dir = str(tmp_path / "forced")
    values = run(forced)
    assert values["run.status"] == "completed" and values["run.baseline_source"] == str(ckpt)

    same = make_cfg(*PRUNING, f"baseline.ckpt_path={ckpt}")  # the checkpoint's own settings: accepted
    with open_dict(same):
        same.paths.output_dir = str(tmp_path / "same")
    assert run(same)["run.status"] == "completed"


def test_camvid_baseline_for_a_digit_scenes_run_names_every_difference(make_cfg, tmp_path: Path) -> None:
    """A checkpoint recording CamVid's data settings (void label 11, native size) given to a digit_scenes run
    (exit status 2 through the CLI, as every ``CheckpointError``)."""
    checkpoint = read_checkpoint(baseline_checkpoint(make_cfg(), tmp_path / "digits.ckpt"))
    camvid = make_cfg("data=camvid", small=False).data
    with open_dict(camvid):
        camvid.root = str(tmp_path / "camvid")  # never read
    checkpoint["data_config"] = OmegaConf.to_container(camvid, resolve=True)
    ckpt = tmp_path / "camvid.ckpt"
    torch.save(checkpoint, ckpt)
    cfg = make_cfg(*PRUNING, f"baseline.ckpt_path={ckpt}")
    with pytest.raises(CheckpointError) as raised:
        run(cfg)
    assert str(raised.value) == (
        f"baseline checkpoint {ckpt} was trained with other data settings than this run's (checkpoint != run: "
        "_target_: 'prunescope.data.CamVidDataModule' != 'prunescope.data.DigitScenesDataModule'; "
        "image_size: None != 32; ignore_index: 11 != None); choose the data it was trained with, or pass "
        "baseline.force=true to prune it on this run's data anyway"
    )
    assert not Path(cfg.paths.baselines_dir).exists()  # nothing trained or cached
