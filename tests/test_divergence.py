"""A diverging fit stops its stage with one line naming stage, epoch and step; nothing diverged is cached."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from prunescope.modules.divergence import DivergenceError
from prunescope.train import run


def test_diverged_baseline_fails_and_is_not_cached(make_cfg: Callable[..., DictConfig]) -> None:
    cfg = make_cfg("experiment=smoke", "pruning=l1", "model.optimizer.lr=1e30", small=False)
    with pytest.raises(DivergenceError, match=r"baseline diverged: .* at epoch 0, step \d+"):
        run(cfg)
    values = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert values["run.status"] == "failed"
    assert values["run.error"].startswith("DivergenceError: baseline diverged")
    assert not list(Path(cfg.paths.baselines_dir).glob("*/COMPLETE"))


def test_diverged_finetune_fails_after_a_good_baseline(make_cfg: Callable[..., DictConfig]) -> None:
    cfg = make_cfg("experiment=smoke", "pruning=l1", "pruning.finetune.lr=1e30", small=False)
    with pytest.raises(DivergenceError, match="fine-tune diverged"):
        run(cfg)
    values = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert values["run.status"] == "failed" and "fine-tune diverged" in values["run.error"]
    assert "sp2ps.score" not in values and "pruned.miou" not in values
    assert len(list(Path(cfg.paths.baselines_dir).glob("*/COMPLETE"))) == 1  # the good baseline stays cached
