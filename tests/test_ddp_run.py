"""``prunescope-train trainer=ddp`` with pruning, as a user runs it: Lightning starts the command again for rank 1
(same run dir); both ranks train the cached baseline and fine-tune with pruning steps, rank 0 alone tests and
writes the run's files. On CPU as README shows it, without ``trainer.sync_batchnorm=false``: the ddp config's
``sync_batchnorm: auto`` leaves SyncBatchNorm (CUDA only) off there."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from support import REPO_ROOT
from test_sweep import TRAIN_COMMAND, cache_entries, cli_env


@pytest.mark.slow
def test_ddp_pruning_run_writes_one_set_of_files(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [
            *TRAIN_COMMAND,
            "trainer=ddp",
            "trainer.accelerator=cpu",
            "trainer.devices=2",
            "experiment=smoke",
            "pruning=l1",
            "pruning.schedule.steps=2",
            "finetune_epochs=2",
            f"paths.log_dir={tmp_path / 'outputs'}",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=REPO_ROOT,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in output  # rank 1 ran

    values = json.loads((run_dir / "metrics.json").read_text())
    assert values["run.status"] == "completed", values.get("run.error")
    assert values["prune.steps_done"] == 2
    assert values["pruned.params"] < values["baseline.params"]
    assert values["run.baseline_trained_here"] is True
    assert isinstance(values["sp2ps.score"], float) and values["sp2ps.pairs"] > 0
    # the pruned model before fine-tuning, tested by rank 0 alone after the process group is gone
    assert isinstance(values["quality.before_finetune"], float)
    assert isinstance(values["sp2ps.before_finetune"], float)
    assert (run_dir / "sp2ps_cams.png").stat().st_size > 0
    # one set of checkpoints (the fine-tune's last epoch, 2 epochs -> epoch_001, and last.ckpt), written by rank 0
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["epoch_001.ckpt", "last.ckpt"]
    assert output.count("PruneScope run run (completed)") == 1  # one summary: rank 1 prints none
    assert len(cache_entries(tmp_path / "outputs" / "baselines")) == 1
    assert not list((tmp_path / "outputs" / "baselines").glob(".*building*"))
    assert (
        len(list(tmp_path.rglob("metrics.json"))) == 2
    )  # the run's and the cache entry's, nothing from rank 1
