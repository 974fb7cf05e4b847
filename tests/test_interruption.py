"""A run stopped from outside keeps its checkpoint, says so, and a re-run in its dir ends exactly like an
uninterrupted run."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

COMPARED_PREFIXES = ("baseline.", "pruned.", "drop.", "delta.", "sp2ps.", "prune.", "quality.")
NOISY = ("latency_ms", "speedup", "seconds", "prune.steps", "latency")


def command(run_dir: Path, log_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "prunescope.train",
        "experiment=smoke",
        "pruning=l1",
        "pruning.schedule.steps=2",
        "pruning.schedule.at_epochs=[0,3]",
        "finetune_epochs=6",
        "data.num_train=64",
        "logger=csv",
        "trainer.log_every_n_steps=1",
        f"paths.log_dir={log_dir}",
        f"hydra.run.dir={run_dir}",
    ]


def compared(values: dict) -> dict:
    return {
        k: v
        for k, v in values.items()
        if k.startswith(COMPARED_PREFIXES) and not any(noisy in k for noisy in NOISY)
    }


def start_and_stop(cmd: list[str], run_dir: Path, signum: int) -> subprocess.Popen:
    """Start a run and send ``signum`` as soon as its first fine-tune checkpoint exists."""
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 600
    while not last.exists():
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signum)
    process.wait(timeout=300)
    return process


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_metrics(tmp_path: Path) -> None:
    log_dir = tmp_path / "outputs"
    reference_dir, resumed_dir = tmp_path / "reference", tmp_path / "resumed"
    subprocess.run(command(reference_dir, log_dir), check=True, capture_output=True, timeout=900)
    reference = json.loads((reference_dir / "metrics.json").read_text())

    killed = start_and_stop(command(resumed_dir, log_dir), resumed_dir, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert json.loads((resumed_dir / "metrics.json").read_text())["run.status"] == "running"
    subprocess.run(command(resumed_dir, log_dir), check=True, capture_output=True, timeout=900)
    resumed = json.loads((resumed_dir / "metrics.json").read_text())

    assert resumed["run.status"] == "completed"
    assert resumed["prune.steps_done"] == 2
    assert compared(resumed) == compared(reference)
    assert len(compared(reference)) > 15
    epochs = {
        row["epoch"] for row in csv.DictReader((resumed_dir / "csv" / "metrics.csv").open()) if row["epoch"]
    }
    assert {str(e) for e in range(6)} <= epochs  # the epochs before the kill are still in the per-epoch CSV


@pytest.mark.slow
def test_sigterm_records_interrupted_and_exits_143(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    stopped = start_and_stop(command(run_dir, tmp_path / "outputs"), run_dir, signal.SIGTERM)
    assert stopped.returncode == 143
    assert "interrupted: received SIGTERM" in stopped.stderr.read().decode()
    values = json.loads((run_dir / "metrics.json").read_text())
    assert values["run.status"] == "interrupted"
    assert values["run.error"] == "RunInterrupted: received SIGTERM"
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
