"""Sweeps through hydra-submitit-launcher: the Slurm launcher's sbatch file (no cluster here: ``sbatch`` is a stub
that keeps the file and refuses the job), and a submitit_local sweep that matches a basic-launcher sweep.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from support import REPO_ROOT
from test_sweep import (
    SMOKE,
    TRAIN_COMMAND,
    cache_entries,
    cli_env,
    job_dirs,
    job_metrics,
    read_csv,
    run_multirun,
    run_report,
)

FOUR_JOBS = ("seed=0", "pruning=l1,random", "pruning.ratio=0.3,0.6", "sp2ps=false")


def _cluster_stubs(bin_dir: Path, captured: Path) -> None:
    """``srun`` that does nothing and ``sbatch`` that copies its submission file to ``captured`` and fails."""
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            for last in "$@"; do :; done
            cp "$last" "{captured}"
            echo "sbatch: error: no cluster in the test" >&2
            exit 1
            """
        )
    )
    for stub in bin_dir.iterdir():
        stub.chmod(0o755)


def test_slurm_launcher_renders_the_submission_parameters(tmp_path: Path) -> None:
    captured = tmp_path / "submission.sh"
    _cluster_stubs(tmp_path / "bin", captured)
    env = cli_env(tmp_path, PATH=f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    sweep_dir = tmp_path / "sweep"
    result = subprocess.run(
        [
            *TRAIN_COMMAND,
            "-m",
            *SMOKE,
            f"paths.log_dir={tmp_path / 'outputs'}",
            f"hydra.sweep.dir={sweep_dir}",
            "hydra/launcher=slurm",
            "hydra.launcher.partition=gpu_a100",
            "hydra.launcher.mem_gb=48",
            "hydra.launcher.array_parallelism=3",
            *FOUR_JOBS,
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "no cluster in the test" in output, output[-3000:]
    script = captured.read_text()
    flags = dict(re.findall(r"^#SBATCH --([\w-]+)=?(.*)$", script, flags=re.MULTILINE))
    assert flags["partition"] == "gpu_a100"
    assert flags["gpus-per-task"] == "1"
    assert flags["cpus-per-task"] == "8"
    assert flags["mem"] == "48GB"
    assert flags["time"] == "240"
    assert flags["signal"] == "USR2@120"  # submitit's preemption/timeout signal: checkpoint, requeue
    assert flags["array"] == "0-3%3"  # 4 jobs, at most 3 at once
    assert flags["job-name"] == "train"
    assert flags["output"].startswith(f"{sweep_dir}/.submitit/")
    assert re.search(r"^srun .*submitit\.core\._submit", script, flags=re.MULTILINE)
    assert not job_dirs(sweep_dir) if sweep_dir.exists() else True  # nothing ran here


@pytest.mark.slow
def test_submitit_local_sweep_equals_basic_sweep_and_resubmits_only_unfinished_jobs(tmp_path: Path) -> None:
    """4 jobs of one seed through submitit_local (run side by side): 1 baseline; the report equals a basic sweep's."""
    local_dir = tmp_path / "local"
    run_multirun(local_dir, "hydra/launcher=submitit_local", *FOUR_JOBS, sweep_dir=local_dir / "sweep")
    basic_dir = tmp_path / "basic"
    run_multirun(basic_dir, *FOUR_JOBS, sweep_dir=basic_dir / "sweep")

    local_runs = job_metrics(local_dir / "sweep")
    assert [r["run.status"] for r in local_runs] == ["completed"] * 4, [
        r.get("run.error") for r in local_runs
    ]
    submitted = [d for d in (local_dir / "sweep" / ".submitit").iterdir() if d.name.isdigit()]
    assert len(submitted) == 4  # the jobs went through submitit: one folder per job (pid of the local job)
    assert len(cache_entries(local_dir / "outputs" / "baselines")) == 1
    assert sum(r["run.baseline_trained_here"] for r in local_runs) == 1
    assert len({r["run.baseline_source"] for r in local_runs}) == 1

    local_rows = read_csv(run_report(local_dir / "sweep", tmp_path)[0] / "results.csv")
    basic_rows = read_csv(run_report(basic_dir / "sweep", tmp_path)[0] / "results.csv")
    assert list(local_rows[0]) == list(basic_rows[0])  # same columns, same order

    def identity(row: dict[str, str]) -> tuple:
        return tuple(row[k] for k in ("run.model", "run.data", "run.method", "run.ratio", "run.seed"))

    assert [identity(r) for r in local_rows] == [identity(r) for r in basic_rows]
    assert len(local_rows) == 4
    # Same baseline (trained once per sweep, same seed) and l1 is deterministic: the same channels are removed.
    # (random is left out: its choice depends on the process's RNG history, which differs between launchers.)
    for local, basic in zip(local_rows, basic_rows, strict=True):
        assert local["baseline.miou"] == basic["baseline.miou"]
        if local["run.method"] == "l1":
            assert (local["pruned.params"], local["pruned.macs"]) == (
                basic["pruned.params"],
                basic["pruned.macs"],
            )

    # Resubmit after a failure: only the unfinished job runs again, the finished ones return their metrics.json.
    files = [d / "metrics.json" for d in job_dirs(local_dir / "sweep")]
    failed = json.loads(files[3].read_text())
    failed.update({"run.status": "failed", "run.error": "RuntimeError: node lost"})
    files[3].write_text(json.dumps(failed))
    before = [f.read_bytes() for f in files[:3]]
    run_multirun(
        local_dir,
        "hydra/launcher=submitit_local",
        *FOUR_JOBS,
        "skip_completed=true",
        sweep_dir=local_dir / "sweep",
    )
    assert [f.read_bytes() for f in files[:3]] == before
    rerun = json.loads(files[3].read_text())
    assert rerun["run.status"] == "completed" and rerun["run.baseline_trained_here"] is False
    assert rerun["pruned.params"] == failed["pruned.params"]
    assert len(cache_entries(local_dir / "outputs" / "baselines")) == 1
