"""One GPU session's measurements (#26 item 4), run on a machine with CUDA in one call of at most ~9 minutes:

1. a full-width VGG-16 CIFAR-10 epoch (``experiment=vgg16_cifar10``, 45,000 training images, batch 128) with the data
   on the device under ``trainer.precision=auto`` (3 epochs), with the DataLoader path (2 epochs) and on the device
   in ``32-true`` (2 epochs);
2. a paper-scale study job (``experiment=vgg16_cifar10 pruning=pca_nci``: baseline, prune at -86.5 % params,
   fine-tune, test, Sp2PS on the 10,000 test images), with as many of the 160 + 40 epochs as the time left allows,
   in the paper's 4:1 ratio of baseline to fine-tune epochs.

Every run's ``metrics.json`` and log go into ``$OUT/runs.tar.gz``; ``$OUT/gpu_check.json`` holds the per-epoch
seconds read from the runs' progress lines. ``experiments/training_speed/collect.py`` turns them into ``gpu.csv``.
Usage (repo root, data under ``$PRUNESCOPE_DATA``): ``python experiments/training_speed/gpu_check.py [BUDGET_S]``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

START = time.monotonic()
BUDGET_S = float(sys.argv[1]) if len(sys.argv) > 1 else 540.0
OUT = Path(os.environ.get("OUT", "outputs/gpu_check"))
RUNS = Path(os.environ.get("GPU_CHECK_RUNS", "/tmp/gpu_check_runs"))
EXTRA = os.environ.get("GPU_CHECK_EXTRA", "").split()  # e.g. data.limit_train=512 for a dry run on a CPU
EPOCH_LINE = re.compile(r"(baseline|fine-tune) epoch (\d+)/\d+ .*\| epoch ([\d.]+)s")


def train(name: str, *overrides: str, timeout: float | None = None) -> dict:
    """Run ``prunescope.train`` with ``overrides``; its epoch seconds by stage, wall seconds and exit status."""
    run_dir = RUNS / name
    cmd = [
        sys.executable,
        "-m",
        "prunescope.train",
        *overrides,
        *EXTRA,
        f"hydra.run.dir={run_dir}",
        "trainer.enable_progress_bar=false",
    ]
    print(f"[{time.monotonic() - START:5.0f}s] {name}: {' '.join(overrides)}", flush=True)
    began = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        output, code = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as err:
        output, code = (err.stdout or b"").decode() + (err.stderr or b"").decode(), "timeout"
    wall = time.monotonic() - began
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "console.log").write_text(output)
    epochs: dict[str, list[float]] = {}
    for stage, _, seconds in EPOCH_LINE.findall(output):
        epochs.setdefault(stage, []).append(float(seconds))
    for line in output.splitlines():
        if "precision" in line or "Error" in line or "error:" in line or "epoch" in line and "|" in line:
            print("   ", line[-200:], flush=True)
    print(f"    -> exit {code}, {wall:.0f} s", flush=True)
    return {"name": name, "overrides": list(overrides), "exit": code, "wall_s": wall, "epoch_s": epochs}


def steady(epochs: list[float]) -> float:
    """Mean epoch seconds after the first (which holds cuDNN autotuning and allocator warm-up)."""
    rest = epochs[1:] or epochs
    return sum(rest) / len(rest)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    base = ["experiment=vgg16_cifar10", "baseline.cache=false"]
    results = [
        train("epochs_on_device", *base, "data.on_device=true", "trainer.max_epochs=3", timeout=150),
        train(
            "epochs_loader",
            *base,
            "data.on_device=false",
            "data.num_workers=12",
            "trainer.max_epochs=2",
            timeout=120,
        ),
        train(
            "epochs_fp32",
            *base,
            "data.on_device=true",
            "trainer.precision=32-true",
            "trainer.max_epochs=2",
            timeout=100,
        ),
    ]
    on_device = results[0]["epoch_s"].get("baseline", [])
    epoch_s = steady(on_device) if on_device else 10.0
    left = BUDGET_S - (time.monotonic() - START) - 100.0  # set-up, decode, prune, test, Sp2PS, latency
    epochs = max(4, min(160, int(left / (1.25 * epoch_s)) // 4 * 4))
    results.append(
        train(
            "study_pca_nci",
            "experiment=vgg16_cifar10",
            "pruning=pca_nci",
            f"trainer.max_epochs={epochs}",
            f"finetune_epochs={epochs // 4}",
            timeout=max(60.0, BUDGET_S - (time.monotonic() - START)),
        )
    )
    summary = {"budget_s": BUDGET_S, "study_epochs": [epochs, epochs // 4], "runs": results}
    (OUT / "gpu_check.json").write_text(json.dumps(summary, indent=1))
    with tarfile.open(OUT / "runs.tar.gz", "w:gz") as tar:
        for path in sorted(RUNS.rglob("*")):
            if path.is_file() and path.suffix in (".json", ".log", ".yaml", ".csv"):
                tar.add(path, arcname=str(path.relative_to(RUNS)))
    print(f"[{time.monotonic() - START:5.0f}s] done", flush=True)


if __name__ == "__main__":
    main()
