"""Nothing silently wrong, nothing lost: what enters the baseline cache, what a killed or interrupted baseline leaves,
the modes of written files, and ``prunescope-cache`` on real entries."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from filelock import FileLock
from hydra.utils import instantiate

from prunescope.baselines import BaselineCache, baseline_key
from prunescope.baselines.material import baseline_key_material
from prunescope.cache import main as cache_main
from prunescope.pipeline.baseline import train_baseline
from prunescope.precision import resolve_run_precision
from prunescope.train import run
from support import REPO_ROOT
from test_sweep import TRAIN_COMMAND, cli_env, job_metrics, run_multirun


def _complete_entries(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/COMPLETE")) if root.is_dir() else []


@pytest.mark.slow
def test_a_fast_dev_run_never_becomes_the_sweeps_baseline(tmp_path: Path) -> None:
    """The sequence a Lightning user tries first: a fast_dev_run, then a sweep of the same config."""
    log_dir = tmp_path / "outputs"
    first = subprocess.run(
        [*TRAIN_COMMAND, "experiment=smoke", "trainer.fast_dev_run=true", f"paths.log_dir={log_dir}"],
        cwd=REPO_ROOT,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert first.returncode == 0, first.stderr[-3000:]
    assert "not put into the cache: trainer.fast_dev_run=True" in first.stdout + first.stderr
    assert not _complete_entries(log_dir / "baselines")

    sweep = run_multirun(tmp_path, "pruning=l1,random", "pruning.ratio=0.3,0.6", "seed=0")
    runs = job_metrics(sweep)
    assert [r["run.status"] for r in runs] == ["completed"] * 4
    assert sum(r["run.baseline_trained_here"] for r in runs) == 1  # the sweep trained its own baseline
    (entry,) = _complete_entries(log_dir / "baselines")
    provenance = json.loads((entry.parent / "provenance.json").read_text())
    assert provenance["epochs_done"] == provenance["max_epochs"] == 1
    assert {r["run.baseline_key"] for r in runs} == {entry.parent.name}
    assert {r["run.baseline_epochs"] for r in runs} == {1}
    assert {r["run.baseline_train_seconds"] for r in runs} == {provenance["train_seconds"]}
    assert provenance["train_seconds"] > 0
    output = (sweep / "cli_output.txt").read_text()
    assert len(re.findall(rf"baseline {entry.parent.name}: test miou [0-9.]+, 1 epochs", output)) == 4


def test_a_fit_that_ends_before_max_epochs_is_not_cached(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("pruning=l1", "trainer.max_epochs=3", "+trainer.max_steps=3")  # 4 batches an epoch
    values = run(cfg)
    assert values["run.status"] == "completed"
    assert values["run.baseline_trained_here"] is True
    assert values["run.baseline_epochs"] == 0
    assert values["run.baseline_source"] == str(Path(cfg.paths.output_dir) / "baseline" / "baseline.ckpt")
    baselines = Path(cfg.paths.baselines_dir)
    assert not _complete_entries(baselines) and not list(baselines.glob(".*"))


def _stop_during_baseline(command: list[str], build_ckpt_glob: tuple[Path, str]) -> subprocess.Popen:
    """Start ``command`` and send SIGTERM once its baseline fit has written a checkpoint of its second epoch."""
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 300
    assert process.stdout is not None
    for line in process.stdout:
        if "baseline epoch 2/" in line:
            root, pattern = build_ckpt_glob
            while not list(root.glob(pattern)) and time.monotonic() < deadline:
                time.sleep(0.01)
            process.send_signal(signal.SIGTERM)
            break
    process.communicate(timeout=300)
    return process


@pytest.mark.slow
@pytest.mark.parametrize("cached", [True, False], ids=["cache", "run-dir"])
def test_an_interrupted_baseline_resumes_at_its_epoch(tmp_path: Path, cached: bool) -> None:
    def command(run_dir: Path, baselines: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "prunescope.train",
            "experiment=smoke",
            "pruning=l1",
            "trainer.max_epochs=4",
            "data.num_train=48",
            f"baseline.cache={str(cached).lower()}",
            f"paths.log_dir={tmp_path / 'outputs'}",
            f"paths.baselines_dir={baselines}",
            f"hydra.run.dir={run_dir}",
        ]

    run_dir, baselines = tmp_path / "run", tmp_path / "cache"
    ckpt_glob = (
        (baselines, ".*.building/checkpoints/last.ckpt")
        if cached
        else (run_dir, "baseline/checkpoints/last.ckpt")
    )
    stopped = _stop_during_baseline(command(run_dir, baselines), ckpt_glob)
    assert stopped.returncode == 143
    (last,) = list(ckpt_glob[0].glob(ckpt_glob[1]))
    epoch_saved = torch.load(last, map_location="cpu", weights_only=True)["epoch"]
    assert 0 <= epoch_saved < 3

    rerun = subprocess.run(
        command(run_dir, baselines), cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    output = rerun.stdout + rerun.stderr
    assert "baseline: resuming the interrupted fit from" in output
    first_epoch = int(re.search(r"baseline epoch (\d+)/4", output).group(1))
    assert (
        first_epoch == epoch_saved + 2
    )  # ProgressLog counts from 1; the checkpoint holds the finished epoch
    resumed = json.loads((run_dir / "metrics.json").read_text())
    assert resumed["run.baseline_epochs"] == 4
    if cached:  # the resumed fit ends with the weights of an uninterrupted one
        reference = subprocess.run(
            command(tmp_path / "reference", tmp_path / "reference-cache"), cwd=REPO_ROOT, capture_output=True
        )
        assert reference.returncode == 0, reference.stderr[-3000:]
        expected = json.loads((tmp_path / "reference" / "metrics.json").read_text())
        for key in ("baseline.miou", "baseline.pixel_acc", "pruned.miou"):
            assert resumed[key] == expected[key], key
    assert not list(ckpt_glob[0].glob(ckpt_glob[1]))  # the fit's checkpoints go once baseline.ckpt exists


@pytest.mark.parametrize(
    "leftover", [".{key}.building", ".{key}.building-4242-deadbeef"], ids=["now", "older"]
)
def test_a_baseline_killed_after_training_is_tested_not_trained_again(make_cfg, leftover: str) -> None:
    """What ``kill -9`` after training leaves (a trained baseline.ckpt in the build folder) becomes the entry."""
    cfg = make_cfg("pruning=l1")
    resolve_run_precision(cfg)  # as run() does first: the key holds the concrete precision
    key = baseline_key(baseline_key_material(cfg))
    build_dir = Path(cfg.paths.baselines_dir) / leftover.format(key=key)
    train_baseline(cfg, instantiate(cfg.data), build_dir)
    checkpoint = torch.load(build_dir / "baseline.ckpt", weights_only=True)
    name = next(k for k, v in checkpoint["state_dict"].items() if v.dtype.is_floating_point and v.ndim == 4)
    checkpoint["state_dict"][name] += 0.25  # marks these weights as the killed job's, not a re-training's
    torch.save(checkpoint, build_dir / "baseline.ckpt")
    (build_dir / "COMPLETE").unlink(missing_ok=True)

    values = run(cfg)
    assert values["run.status"] == "completed"
    assert values["run.baseline_origin"] == "tested here"
    entry = Path(cfg.paths.baselines_dir) / key
    assert values["run.baseline_source"] == str(entry / "baseline.ckpt")
    reused = torch.load(entry / "baseline.ckpt", weights_only=True)["state_dict"][name]
    assert torch.equal(reused, checkpoint["state_dict"][name])
    assert not list(Path(cfg.paths.baselines_dir).glob(".*building*"))  # no orphan left
    assert run(cfg)["run.baseline_origin"] == "cache"


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664)])
def test_written_files_honour_the_umask(make_cfg, umask: int, mode: int) -> None:
    cfg = make_cfg("pruning=l1", "callbacks=default")
    previous = os.umask(umask)
    try:
        run(cfg)
    finally:
        os.umask(previous)
    run_dir = Path(cfg.paths.output_dir)
    (entry,) = [p.parent for p in _complete_entries(Path(cfg.paths.baselines_dir))]
    written = [run_dir / "metrics.json", run_dir / "checkpoints" / "last.ckpt", *sorted(entry.iterdir())]
    assert len(written) >= 7
    modes = {str(p.relative_to(p.parents[1])): oct(stat.S_IMODE(p.stat().st_mode)) for p in written}
    assert set(modes.values()) == {oct(mode)}, modes


def test_prunescope_cache_lists_shows_verifies_and_removes(make_cfg, capsys: pytest.CaptureFixture) -> None:
    cfg = make_cfg("pruning=l1")
    values = run(cfg)
    root = Path(cfg.paths.baselines_dir)
    key = values["run.baseline_key"]
    capsys.readouterr()

    assert cache_main(["--root", str(root), "list"]) == 0
    header, line = capsys.readouterr().out.strip().splitlines()
    assert header.split() == ["key", "model", "data", "epochs", "quality", "size", "date", "status"]
    assert line.split()[:4] == [key, "UNet", "DigitScenesDataModule", "1"]
    assert f"miou {values['baseline.miou']:.4f}" in line and line.endswith("complete")

    assert cache_main(["--root", str(root), "show", key[:6]]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["provenance"]["epochs_done"] == 1 and shown["provenance"]["git_commit"]
    assert shown["config"]["model"]["net"]["depth"] == 3

    assert cache_main(["--root", str(root), "verify"]) == 0
    assert f"{key}: OK" in capsys.readouterr().out
    metrics_file = root / key / "metrics.json"
    recorded = json.loads(metrics_file.read_text())
    metrics_file.write_text(json.dumps({**recorded, "miou": recorded["miou"] + 0.1}))
    assert cache_main(["--root", str(root), "verify", key]) == 1
    assert "DIFFERS" in capsys.readouterr().out

    with FileLock(str(BaselineCache(root).lock_path(key))), pytest.raises(SystemExit) as refused:
        cache_main(["--root", str(root), "remove", key])  # a live run holds the entry
    assert refused.value.code == 2
    assert "is in use by a live run" in capsys.readouterr().err
    assert (root / key / "baseline.ckpt").is_file()
    assert cache_main(["--root", str(root), "remove", key]) == 0
    assert not (root / key).exists()
    with pytest.raises(SystemExit) as unknown:
        cache_main(["--root", str(root), "show", key])
    assert unknown.value.code == 2
    assert capsys.readouterr().err.strip() == (
        f"error: no entry matches key {key!r} in the baseline cache {root}; keys: none"
    )
