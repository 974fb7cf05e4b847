"""Baseline cache: one build per key across concurrent processes (``flock`` and soft lock), stale soft locks are
taken over, failed builds leave nothing, stable keys."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from prunescope.baselines import BaselineCache, baseline_key
from prunescope.config_checks import ConfigError, check_train_config

MATERIAL = {
    "model": {"name": "unet", "base_width": 8, "depth": 3},
    "data": {"name": "camvid", "crop": [96, 128]},
    "trainer": {"max_epochs": 2},
    "optimizer": {"name": "adamw", "lr": 1e-3, "weight_decay": 1e-4},
    "seed": 0,
}

# A job: waits for the start signal, then asks the cache for the baseline. The build records each call as a
# uniquely named file in calls/, writes a checkpoint whose content names the builder, and sleeps so that the
# other job arrives while the build is running.
JOB_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time, uuid
    from pathlib import Path
    from prunescope.baselines import BaselineCache

    root, calls, go, job = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    material, lock = json.loads(sys.argv[5]), sys.argv[6]
    while not go.exists():
        time.sleep(0.01)

    def build(tmp_dir):
        (calls / f"{job}-{uuid.uuid4().hex}").write_text(job)
        time.sleep(1.0)
        (tmp_dir / "baseline.ckpt").write_bytes(f"weights by {job}".encode())
        return {"test/miou": 0.5, "job": job}

    entry = BaselineCache(root, lock=lock).get_or_create(material, build)
    print(json.dumps({"ckpt": str(entry.ckpt_path), "created": entry.created,
                      "content": entry.ckpt_path.read_text(), "metrics": entry.metrics}))
    """
)


def _write_ckpt(payload: bytes = b"weights"):
    def build(tmp_dir: Path) -> dict:
        (tmp_dir / "baseline.ckpt").write_bytes(payload)
        return {"test/miou": 0.61, "test/pixel_acc": 0.9}

    return build


@pytest.mark.parametrize("lock", ["file", "soft"])
def test_concurrent_processes_build_once_and_share_the_checkpoint(tmp_path: Path, lock: str) -> None:
    root, calls, go = tmp_path / "cache", tmp_path / "calls", tmp_path / "go"
    calls.mkdir()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                JOB_SCRIPT,
                str(root),
                str(calls),
                str(go),
                f"job{i}",
                json.dumps(MATERIAL),
                lock,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    time.sleep(0.2)
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))

    assert len(list(calls.iterdir())) == 1  # the build ran exactly once
    assert sorted(r["created"] for r in results) == [False, True]
    assert results[0]["ckpt"] == results[1]["ckpt"]
    builder = next(r for r in results if r["created"])["metrics"]["job"]
    assert results[0]["content"] == results[1]["content"] == f"weights by {builder}"
    assert results[0]["metrics"] == results[1]["metrics"]
    entry_dir = Path(results[0]["ckpt"]).parent
    assert entry_dir == root / baseline_key(MATERIAL)
    assert sorted(p.name for p in entry_dir.iterdir()) == [
        "COMPLETE",
        "baseline.ckpt",
        "config.json",
        "metrics.json",
    ]
    assert json.loads((entry_dir / "config.json").read_text()) == MATERIAL
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temporary folders left behind
    assert not (root / f"{entry_dir.name}.softlock").exists()  # a released soft lock removes its marker


# A job that dies while building: it takes the soft lock, records the call, says so on stdout and hangs until killed.
HANGING_JOB_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from prunescope.baselines import BaselineCache

    root, calls, material, stale_s = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3]), float(sys.argv[4])

    def build(tmp_dir):
        (calls / "hanging").write_text("started")
        print("building", flush=True)
        time.sleep(600)

    BaselineCache(root, lock="soft", lock_stale_s=stale_s).get_or_create(material, build)
    """
)


def _start_hanging_build(tmp_path: Path, stale_s: float) -> subprocess.Popen:
    """Start a job that holds the soft lock of ``MATERIAL`` inside its build; return once it is building."""
    calls = tmp_path / "calls"
    calls.mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", HANGING_JOB_SCRIPT, str(tmp_path / "cache"), str(calls), json.dumps(MATERIAL)]
        + [str(stale_s)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "building", proc.stderr
    return proc


def test_soft_lock_of_a_dead_process_on_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    proc = _start_hanging_build(tmp_path, stale_s=3600.0)
    cache = BaselineCache(tmp_path / "cache", lock="soft", lock_stale_s=3600.0, lock_timeout_s=30.0)
    marker = cache.lock_path(baseline_key(MATERIAL))
    assert marker.is_file() and f"pid={proc.pid}" in marker.read_text()
    proc.kill()  # SIGKILL: no cleanup, the marker stays
    proc.wait(timeout=30)
    assert marker.is_file()

    started = time.monotonic()
    entry = cache.get_or_create(MATERIAL, _write_ckpt(b"after crash"))
    assert time.monotonic() - started < 10  # not the hour a foreign holder would get
    assert entry.created and entry.ckpt_path.read_bytes() == b"after crash"
    assert not marker.exists()


def test_soft_lock_without_heartbeat_for_the_stale_age_is_taken_over(tmp_path: Path) -> None:
    """A stopped holder (alive, but its heartbeat frozen, as a job on a lost host looks) loses the lock."""
    stale_s = 2.0
    proc = _start_hanging_build(tmp_path, stale_s=stale_s)
    try:
        os.kill(proc.pid, signal.SIGSTOP)
        cache = BaselineCache(tmp_path / "cache", lock="soft", lock_stale_s=stale_s, lock_timeout_s=60.0)
        started = time.monotonic()
        entry = cache.get_or_create(MATERIAL, _write_ckpt(b"taken over"))
        waited = time.monotonic() - started
        assert stale_s * 0.9 <= waited < 30, waited
        assert entry.created and entry.ckpt_path.read_bytes() == b"taken over"
    finally:
        proc.kill()
        os.kill(proc.pid, signal.SIGCONT)
        proc.wait(timeout=30)


def test_live_soft_lock_holder_keeps_the_lock(tmp_path: Path) -> None:
    import filelock

    proc = _start_hanging_build(tmp_path, stale_s=1.0)
    try:
        cache = BaselineCache(tmp_path / "cache", lock="soft", lock_stale_s=1.0, lock_timeout_s=4.0)
        with pytest.raises(filelock.Timeout):  # 4 stale ages: the heartbeat kept it fresh
            cache.get_or_create(MATERIAL, _write_ckpt(b"must not build"))
        assert cache.lookup(MATERIAL) is None
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_bad_lock_settings_are_one_line_naming_the_choices(tmp_path: Path, make_cfg) -> None:
    with pytest.raises(ValueError, match=r"^baseline.lock='nfs' is not a lock kind; valid: file \| soft$"):
        BaselineCache(tmp_path, lock="nfs")
    with pytest.raises(ValueError, match="baseline.lock_stale_s must be > 0"):
        BaselineCache(tmp_path, lock="soft", lock_stale_s=0)
    with pytest.raises(ConfigError, match=r"baseline.lock='flock' is not a lock kind; valid: file \| soft"):
        check_train_config(make_cfg("baseline.lock=flock"))
    check_train_config(make_cfg("baseline.lock=soft"))


def test_failed_build_leaves_no_entry_and_next_call_builds(tmp_path: Path) -> None:
    cache = BaselineCache(tmp_path)

    def failing_build(tmp_dir: Path) -> dict:
        raise RuntimeError("CUDA out of memory")  # during training: no checkpoint yet

    with pytest.raises(RuntimeError, match="out of memory"):
        cache.get_or_create(MATERIAL, failing_build)
    key = baseline_key(MATERIAL)
    assert not cache.entry_dir(key).exists()
    assert cache.lookup(MATERIAL) is None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]

    entry = cache.get_or_create(MATERIAL, _write_ckpt(b"good"))
    assert entry.created and entry.ckpt_path.read_bytes() == b"good"
    assert entry.metrics == {"test/miou": 0.61, "test/pixel_acc": 0.9}


def test_failure_after_training_keeps_the_weights_and_the_next_call_retests(tmp_path: Path) -> None:
    cache = BaselineCache(tmp_path)

    def trained_then_test_fails(tmp_dir: Path) -> dict:
        (tmp_dir / "baseline.ckpt").write_bytes(b"trained weights")
        raise OSError("image file is truncated: test/0001TP_008550.png")

    with pytest.raises(OSError, match="truncated"):
        cache.get_or_create(MATERIAL, trained_then_test_fails)
    entry_dir = cache.entry_dir(baseline_key(MATERIAL))
    assert (entry_dir / "baseline.ckpt").read_bytes() == b"trained weights"
    assert json.loads((entry_dir / "FAILED").read_text())["error"].startswith(
        "OSError: image file is truncated"
    )
    assert cache.lookup(MATERIAL) is None  # not complete

    retested: list[Path] = []

    def must_not_train(tmp_dir: Path) -> dict:
        raise AssertionError("a trained baseline was trained again")

    def retest(entry: Path) -> dict:
        retested.append(entry)
        assert (entry / "baseline.ckpt").read_bytes() == b"trained weights"
        return {"test/miou": 0.5}

    entry = cache.get_or_create(MATERIAL, must_not_train, retest=retest)
    assert retested == [entry_dir]
    assert entry.metrics == {"test/miou": 0.5} and entry.ckpt_path.read_bytes() == b"trained weights"
    assert sorted(p.name for p in entry_dir.iterdir()) == [
        "COMPLETE",
        "baseline.ckpt",
        "config.json",
        "metrics.json",
    ]
    assert cache.lookup(MATERIAL) == dataclasses.replace(entry, created=False)


def test_complete_entry_is_reused_and_never_rebuilt(tmp_path: Path) -> None:
    cache = BaselineCache(tmp_path)
    first = cache.get_or_create(MATERIAL, _write_ckpt(b"first"))

    def must_not_run(tmp_dir: Path) -> dict:
        raise AssertionError("build called for a complete entry")

    again = cache.get_or_create(MATERIAL, must_not_run)
    assert not again.created and again.ckpt_path == first.ckpt_path
    assert again.ckpt_path.read_bytes() == b"first"
    assert again.metrics == first.metrics
    assert BaselineCache(tmp_path).lookup(dict(reversed(list(MATERIAL.items())))) == again


def test_incomplete_leftover_is_rebuilt(tmp_path: Path) -> None:
    cache = BaselineCache(tmp_path)
    stale = cache.entry_dir(baseline_key(MATERIAL))
    stale.mkdir(parents=True)
    (stale / "baseline.ckpt").write_bytes(b"truncated")  # crashed job: checkpoint but no marker
    assert cache.lookup(MATERIAL) is None
    entry = cache.get_or_create(MATERIAL, _write_ckpt(b"fresh"))
    assert entry.created and entry.ckpt_path.read_bytes() == b"fresh"


def test_build_must_write_the_checkpoint(tmp_path: Path) -> None:
    cache = BaselineCache(tmp_path)
    with pytest.raises(FileNotFoundError, match="baseline.ckpt"):
        cache.get_or_create(MATERIAL, lambda tmp_dir: {"test/miou": 0.1})
    assert cache.lookup(MATERIAL) is None


def test_different_material_gives_different_entries(tmp_path: Path) -> None:
    cache = BaselineCache(tmp_path)
    other = {**MATERIAL, "seed": 1}
    a = cache.get_or_create(MATERIAL, _write_ckpt(b"seed0"))
    b = cache.get_or_create(other, _write_ckpt(b"seed1"))
    assert a.path != b.path and baseline_key(MATERIAL) != baseline_key(other)
    assert a.ckpt_path.read_bytes() == b"seed0" and b.ckpt_path.read_bytes() == b"seed1"


def test_key_is_stable_across_ordering_and_short_hex() -> None:
    reordered = {
        "seed": 0,
        "optimizer": {"weight_decay": 1e-4, "lr": 1e-3, "name": "adamw"},
        "trainer": {"max_epochs": 2},
        "data": {"crop": (96, 128), "name": "camvid"},
        "model": {"depth": 3, "base_width": 8, "name": "unet"},
    }
    key = baseline_key(MATERIAL)
    assert key == baseline_key(reordered)
    assert len(key) == 16 and int(key, 16) >= 0
    assert key != baseline_key({**MATERIAL, "optimizer": {**MATERIAL["optimizer"], "lr": 2e-3}})


def test_key_rejects_non_json_material() -> None:
    with pytest.raises(TypeError, match="JSON-safe"):
        baseline_key({"model": object()})
    with pytest.raises(TypeError, match="mapping"):
        baseline_key([("seed", 0)])  # type: ignore[arg-type]
