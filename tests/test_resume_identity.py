"""A re-run resumes only its own fit: another run's ``last.ckpt`` in the run dir is refused and left untouched."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from prunescope.config_checks import ConfigError
from prunescope.instantiate import build_module
from prunescope.pipeline.baseline import share_trained_baseline
from prunescope.pipeline.resume import IDENTITY_KEY, fit_identity
from prunescope.train import run


def test_a_baseline_run_refuses_a_pruning_runs_checkpoint(make_cfg: Callable[..., DictConfig]) -> None:
    pruning_cfg = make_cfg("experiment=smoke", "pruning=l1", "pruning.ratio=0.5", "finetune_epochs=1")
    run(pruning_cfg)
    run_dir = Path(pruning_cfg.paths.output_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    written = torch.load(last, map_location="cpu", weights_only=True)
    assert written[IDENTITY_KEY] == fit_identity(pruning_cfg)
    assert written[IDENTITY_KEY].startswith("fine-tune:")
    assert written["pruning_record"], "the fine-tune checkpoint holds a pruned network"

    cache_cfg = make_cfg(
        "experiment=smoke", "baseline.cache=true"
    )  # a pruned network is never a cached baseline
    datamodule = instantiate(cache_cfg.data)
    pruned = build_module(cache_cfg, datamodule)
    pruned.apply_pruning_record(written["pruning_record"])
    entries = sorted(p.name for p in Path(cache_cfg.paths.baselines_dir).glob("*"))
    assert share_trained_baseline(cache_cfg, pruned, {"miou": 0.5}) is None
    assert sorted(p.name for p in Path(cache_cfg.paths.baselines_dir).glob("*")) == entries
    assert share_trained_baseline(cache_cfg, build_module(cache_cfg, datamodule), {"miou": 0.5}) is not None

    baseline_cfg = make_cfg("experiment=smoke")  # same run dir, no pruning: its fit is a baseline fit
    assert fit_identity(baseline_cfg).startswith("baseline:")
    ckpt_bytes, metrics_text = last.read_bytes(), (run_dir / "metrics.json").read_text()
    with pytest.raises(
        ConfigError, match=r"belongs to fit fine-tune:.*resume=false.*ckpt_path=.*hydra\.run\.dir"
    ):
        run(baseline_cfg)
    assert last.read_bytes() == ckpt_bytes
    assert (run_dir / "metrics.json").read_text() == metrics_text  # not even marked running

    other_epochs = make_cfg("experiment=smoke", "pruning=l1", "pruning.ratio=0.5", "finetune_epochs=2")
    assert fit_identity(other_epochs) != fit_identity(pruning_cfg)
    with pytest.raises(ConfigError, match="not to this run's fit"):
        run(other_epochs)

    fresh = make_cfg("experiment=smoke", "resume=false")
    values = run(fresh)
    assert values["run.status"] == "completed"
    trained = torch.load(last, map_location="cpu", weights_only=True)
    assert trained[IDENTITY_KEY] == fit_identity(fresh) == fit_identity(baseline_cfg)
    assert not trained["pruning_record"]
    assert json.loads((run_dir / "metrics.json").read_text())["run.method"] == "none"


def test_a_checkpoint_without_identity_is_refused_unless_named(make_cfg: Callable[..., DictConfig]) -> None:
    cfg = make_cfg("experiment=smoke")
    run(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    old_format = torch.load(last, map_location="cpu", weights_only=True)
    del old_format[IDENTITY_KEY]
    torch.save(old_format, last)
    with pytest.raises(ConfigError, match="unknown identity"):
        run(cfg)
    named = make_cfg("experiment=smoke", f"ckpt_path={last}")
    assert run(named)["run.status"] == "completed"
