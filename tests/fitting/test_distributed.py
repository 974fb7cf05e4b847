"""Pruning under DDP on CPU: two gloo processes fine-tune a tiny U-Net with two pca_nci steps, stopped after the
first step and resumed from ``last.ckpt``. Rank 0 decides every step, rank 1 replays it.

Checks: after each step both ranks hold identical parameters (the rebuilt DDP wrapper skips its initial broadcast,
so equality comes from the replay, not from a sync); training after the rebuild keeps them identical (gradients are
all-reduced over the new parameters); the pruning record and the final architecture equal an uninterrupted
single-process run's with the same seed and calibration data; only one checkpoint file is written; Sp2PS sums its
states over the ranks.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from prunescope.metrics.sp2ps import Sp2PS

WORKER = Path(__file__).with_name("ddp_worker.py")
TIMEOUT_S = 900


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(out_dir: Path, mode: str, phase: str, rank: int | None = None, port: int = 0) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if rank is not None:
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", NODE_RANK="0")
        env["LOCAL_RANK"] = str(rank)
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(out_dir), mode, phase],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait(procs: list[subprocess.Popen]) -> None:
    outputs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=TIMEOUT_S)
        outputs.append(out)
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out[-5000:]


def _load(out_dir: Path, name: str) -> dict:
    return json.loads((out_dir / f"{name}.json").read_text())


def _ddp_phase(out_dir: Path, phase: str, extra: list[subprocess.Popen] | None = None) -> list[dict]:
    port = _free_port()
    procs = [_start(out_dir, "ddp", phase, rank, port) for rank in range(2)]
    _wait(procs + (extra or []))
    return [_load(out_dir, f"ddp_{phase}_rank{rank}") for rank in range(2)]


@pytest.mark.slow
def test_ddp_pruning_matches_single_process_and_resumes(tmp_path: Path) -> None:
    single = _start(tmp_path, "single", "full")
    first = _ddp_phase(tmp_path, "first", extra=[single])
    reference = _load(tmp_path, "single_full_rank0")
    resumed = _ddp_phase(tmp_path, "resume")

    assert [r["world_size"] for r in first] == [2, 2] and [r["rank"] for r in first] == [0, 1]
    assert [s["epoch"] for s in reference["steps"]] == [0, 2]
    # first fit: step 1 at epoch 0, stopped after epoch 1; the resumed fit does step 2 at epoch 2
    assert [[s["epoch"] for s in r["steps"]] for r in first] == [[0], [0]]
    assert [[s["epoch"] for s in r["steps"]] for r in resumed] == [[2], [2]]

    for phase in (first, resumed):
        step = phase[0]["steps"][0]
        assert len(set(step["digests"])) == 1, "ranks differ right after the pruning step"
        assert phase[0]["steps"][0]["record"] == phase[1]["steps"][0]["record"]
        assert phase[0]["steps"][0]["widths"] == phase[1]["steps"][0]["widths"]
        assert len(set(phase[0]["final_digests"])) == 1, (
            "ranks drifted apart while fine-tuning after the step"
        )

    # same seed, same baseline, same calibration batches: the same channels as one process, step by step
    assert first[0]["steps"][0]["record"] == reference["steps"][0]["record"]
    assert resumed[0]["record"] == resumed[1]["record"] == reference["record"]
    assert resumed[0]["widths"] == reference["widths"]
    assert len(reference["record"]) == 2 and reference["widths"] != {}
    assert sorted(p.name for p in (tmp_path / "ddp_ckpt").iterdir()) == ["last.ckpt"]

    # Sp2PS over two ranks == one process scoring both ranks' pairs
    union = Sp2PS(num_classes=3)
    for rank in range(2):
        generator = torch.Generator().manual_seed(100 + rank)
        h0, h1 = torch.rand(3, 8, 8, generator=generator), torch.rand(3, 8, 8, generator=generator)
        union.update(h0, h1, class_ids=torch.tensor([0, 1, rank + 1]))
    expected = union.compute()
    for rank_result in first:
        got = rank_result["sp2ps"]
        assert got["pairs"] == expected["pairs"] == 6
        assert got["sp2ps"] == pytest.approx(expected["sp2ps"], rel=1e-12)
        assert {int(k): v for k, v in got["per_class"].items()} == pytest.approx(expected["per_class"])
