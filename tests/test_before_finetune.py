"""``quality.before_finetune`` and ``sp2ps.before_finetune``: the pruned model measured before any fine-tuning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
from omegaconf import OmegaConf, open_dict

from prunescope.eval import evaluate
from prunescope.train import run

# a baseline that predicts more than one class (the tests' 1-epoch one on 32 scenes predicts a constant, whose
# quality a short fine-tune does not change); 2 fine-tune epochs for 2 filter steps
LEARNS = ("data.num_train=256", "trainer.max_epochs=5", "finetune_epochs=2")


class FirstStepCheckpoint(pl.Callback):
    """Save the fine-tune's model at its first training batch: pruned (epoch 0 of a one-shot schedule), no
    optimizer step yet. The baseline's fit has no pruning record and is skipped."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: ANN001
        if pl_module.pruning_record and trainer.global_step == 0 and not self.path.exists():
            trainer.save_checkpoint(self.path)


def test_one_shot_before_finetune_is_the_model_the_finetune_starts_from(make_cfg, tmp_path: Path) -> None:
    """The model the fine-tune starts from, saved by a callback and re-tested on its own, has the recorded quality
    and Sp2PS; the fine-tune then changes the quality."""
    from prunescope.sp2ps import score_checkpoints

    cfg = make_cfg("pruning=l1", "pruning.ratio=0.5", "cam.max_batches=1", *LEARNS)
    run_dir = Path(cfg.paths.output_dir)
    snapshot = run_dir / "checkpoints" / "first_step.ckpt"
    with open_dict(cfg):
        cfg.callbacks.first_step = OmegaConf.create(
            {"_target_": "test_before_finetune.FirstStepCheckpoint", "path": str(snapshot)}
        )
    values = run(cfg)
    assert values["run.status"] == "completed", values.get("run.error")
    written = json.loads((run_dir / "metrics.json").read_text())
    for key in ("quality.before_finetune", "sp2ps.before_finetune", "time.before_finetune"):
        assert isinstance(written[key], float), key
    assert 0.0 <= written["sp2ps.before_finetune"] <= 1.0
    assert written["quality.before_finetune"] != written["pruned.miou"]  # the fine-tune trained
    assert (run_dir / "before_finetune" / "sp2ps_pairs.csv").is_file()
    assert snapshot.is_file()

    (run_dir / ".hydra").mkdir()
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    eval_cfg = make_cfg(f"ckpt_path={snapshot}", config_name="eval", small=False)
    with open_dict(eval_cfg):
        eval_cfg.paths.output_dir = str(tmp_path / "eval")
        eval_cfg.trainer.enable_progress_bar = False
    assert evaluate(eval_cfg)["miou"] == pytest.approx(written["quality.before_finetune"], abs=1e-6)

    sp2ps_cfg = make_cfg(
        f"baseline_ckpt={values['run.baseline_source']}",
        f"pruned_ckpt={snapshot}",
        "cam.max_batches=1",
        "trainer.enable_progress_bar=false",
        config_name="sp2ps",
        small=False,
    )
    with open_dict(sp2ps_cfg):
        sp2ps_cfg.paths.output_dir = str(tmp_path / "sp2ps")
    score = score_checkpoints(sp2ps_cfg)["sp2ps"]
    assert score == pytest.approx(written["sp2ps.before_finetune"], abs=1e-6)
    assert written["sp2ps.before_finetune"] != pytest.approx(written["sp2ps.score"], abs=1e-9)


def test_iterative_schedule_without_sp2ps_records_quality_only(make_cfg) -> None:
    """Two filter steps (the final plan replayed at once on the baseline), ``sp2ps=false``: quality, null Sp2PS."""
    cfg = make_cfg(
        "pruning=l1",
        "pruning.ratio=0.5",
        "pruning.schedule.steps=2",
        "sp2ps=false",
        *LEARNS,
    )
    values = run(cfg)
    assert values["run.status"] == "completed", values.get("run.error")
    assert values["prune.steps_done"] == 2
    assert isinstance(values["quality.before_finetune"], float)
    assert 0.0 <= values["quality.before_finetune"] <= 1.0
    assert values["quality.before_finetune"] != values["pruned.miou"]
    assert "sp2ps.before_finetune" in values and values["sp2ps.before_finetune"] is None
    assert "sp2ps.score" not in values
    assert not (Path(cfg.paths.output_dir) / "before_finetune").exists()


def test_no_test_no_before_finetune_figures(make_cfg) -> None:
    values = run(make_cfg("pruning=l1", "pruning.ratio=0.5", "test=false", "cam.max_batches=1"))
    assert values["run.status"] == "completed", values.get("run.error")
    assert values["quality.before_finetune"] is None and values["sp2ps.before_finetune"] is None


def test_unpruned_run_has_no_before_finetune_keys(make_cfg) -> None:
    values = run(make_cfg("pruning=none"))
    assert values["run.status"] == "completed", values.get("run.error")
    assert "quality.before_finetune" not in values and "sp2ps.before_finetune" not in values
