"""``skip_completed`` skips a run dir only when it holds a completed run of the same settings (``run.config_key``).

Before the key, the match was on the ``run.*`` identity: a sweep dir re-used with another width or fine-tune length
returned the old run's metrics as this run's, and one re-run with another tag was trained again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig, open_dict

from prunescope.pipeline.run_key import RUN_UNKEYED, run_config_key
from prunescope.train import run

PRUNING = ("experiment=smoke", "pruning=l1", "pruning.ratio=0.5")


def test_the_run_key_follows_settings_not_labels_or_places(make_cfg: Callable[..., DictConfig]) -> None:
    cfg = make_cfg(*PRUNING)
    key = run_config_key(cfg)
    assert len(key) == 16 and key == run_config_key(make_cfg(*PRUNING))
    for changed in ("finetune_epochs=2", "pruning.finetune.lr=0.123", "seed=7", "pruning.ratio=0.4"):
        assert run_config_key(make_cfg(*PRUNING, changed)) != key, changed
    for label in ("tags=[other]", "trainer.enable_progress_bar=true", "skip_completed=true"):
        assert run_config_key(make_cfg(*PRUNING, label)) == key, label
    moved = make_cfg(*PRUNING)
    with open_dict(moved):
        moved.paths.output_dir = str(Path(moved.paths.output_dir).parent / "elsewhere")
    assert run_config_key(moved) == key


def test_every_unkeyed_setting_names_a_reason() -> None:
    assert all(isinstance(reason, str) and reason.strip() for reason in RUN_UNKEYED.values())
    keyed = {"model", "data", "pruning", "trainer", "seed", "finetune_epochs", "baseline"}
    assert not keyed & set(RUN_UNKEYED)


def test_skip_completed_skips_only_the_same_settings(
    make_cfg: Callable[..., DictConfig], caplog: pytest.LogCaptureFixture
) -> None:
    first = make_cfg(*PRUNING)
    done = run(first)
    metrics = Path(first.paths.output_dir) / "metrics.json"
    assert done["run.status"] == "completed" and done["run.config_key"] == run_config_key(first)
    assert done["run.baseline_train_seconds"] > 0  # the baseline fit's wall time, from its provenance.json
    written = metrics.read_bytes()

    relabelled = run(make_cfg(*PRUNING, "tags=[relabelled]", "skip_completed=true"))
    assert metrics.read_bytes() == written, "same settings, another tag: skipped, metrics.json untouched"
    assert relabelled["run.config_key"] == done["run.config_key"]

    longer = make_cfg(*PRUNING, "finetune_epochs=2", "skip_completed=true", "resume=false")
    again = run(longer)
    assert again["run.config_key"] == run_config_key(longer) != done["run.config_key"]
    assert json.loads(metrics.read_text())["run.config_key"] == again["run.config_key"], (
        "run again, not skipped"
    )

    # a file written before the key: matched on run.* alone, with a warning
    old = json.loads(metrics.read_text())
    del old["run.config_key"]
    metrics.write_text(json.dumps(old))
    before = metrics.read_bytes()
    with caplog.at_level(logging.WARNING):
        run(make_cfg(*PRUNING, "finetune_epochs=2", "skip_completed=true"))
    assert metrics.read_bytes() == before
    assert "no run.config_key" in caplog.text
