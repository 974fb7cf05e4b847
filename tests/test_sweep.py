"""Hydra multiruns of ``prunescope-train`` as a user starts them, then ``prunescope-report`` on the sweep folder.

Every job is the ``experiment=smoke`` run (2-level U-Net of width 4, 16 digit scenes of 32x32 px, one epoch per
stage). Checks: one baseline per seed whatever the launcher (basic or joblib with 2 parallel workers), a failing job
is recorded as failed while the others complete and the multirun exits 0, and the report covers every job.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from matplotlib.image import imread

from support import REPO_ROOT

BIN_DIR = Path(sys.executable).parent
# The main() behind the prunescope-train console script (which cannot find conf/ yet: train.py's relative config_path).
TRAIN_COMMAND = [str(BIN_DIR / "prunescope-train")]
REPORT_COMMAND = [str(BIN_DIR / "prunescope-report")]
SMOKE = ["experiment=smoke", "trainer.enable_progress_bar=false"]
REPORT_FILES = ("results.csv", "summary.csv", "results.md", "results.tex")
PLOT_NAMES = ("quality_vs_ratio", "sp2ps_vs_ratio", "quality_vs_sp2ps", "flops_drop_vs_quality")
SUBPROCESS_TIMEOUT_S = 540


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment of a CLI run: one thread per process (2 shared cores), caches under ``tmp_path``."""
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        HYDRA_FULL_ERROR="1",
        PRUNESCOPE_CACHE=str(tmp_path / "cache"),
    )
    env.update(extra)
    return env


def run_multirun(
    tmp_path: Path, *overrides: str, sweep_dir: Path | None = None, env: dict[str, str] | None = None
) -> Path:
    """``prunescope-train -m experiment=smoke <overrides>`` with outputs under ``tmp_path/outputs``; returns the sweep dir.

    ``sweep_dir=None`` keeps the configured sweep folder (``outputs/train/multiruns/<time>``), found after the run.
    Fails the test with the tail of the output unless the multirun exits 0.
    """
    log_dir = tmp_path / "outputs"
    command = [*TRAIN_COMMAND, "-m", *SMOKE, f"paths.log_dir={log_dir}", *overrides]
    if sweep_dir is not None:
        command.append(f"hydra.sweep.dir={sweep_dir}")
    result = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=env if env is not None else cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"multirun exited {result.returncode}:\n{output[-4000:]}"
    if sweep_dir is None:
        found = sorted((log_dir / "train" / "multiruns").iterdir())
        assert len(found) == 1, f"expected one sweep folder, found {found}"
        sweep_dir = found[0]
    (sweep_dir / "cli_output.txt").write_text(output, encoding="utf-8")
    return sweep_dir


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The job folders ``<sweep>/0``, ``<sweep>/1``, ... in job order."""
    return sorted(
        (d for d in sweep_dir.iterdir() if d.is_dir() and d.name.isdigit()), key=lambda d: int(d.name)
    )


def job_metrics(sweep_dir: Path) -> list[dict[str, Any]]:
    """``metrics.json`` of every job, in job order."""
    return [json.loads((d / "metrics.json").read_text(encoding="utf-8")) for d in job_dirs(sweep_dir)]


def cache_entries(baselines_dir: Path) -> list[Path]:
    """Complete baseline cache entries (``<hash>/`` with the ``COMPLETE`` marker)."""
    return sorted(d for d in baselines_dir.iterdir() if d.is_dir() and (d / "COMPLETE").is_file())


def run_report(sweep_dir: Path, tmp_path: Path) -> tuple[Path, str]:
    """``prunescope-report <sweep_dir>``; returns the report folder and the command's stdout."""
    result = subprocess.run(
        [*REPORT_COMMAND, str(sweep_dir)],
        cwd=REPO_ROOT,
        env=cli_env(tmp_path, MPLBACKEND="Agg"),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    assert result.returncode == 0, f"prunescope-report exited {result.returncode}:\n{result.stderr[-3000:]}"
    return sweep_dir / "report", result.stdout


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_joblib_sweep_trains_one_baseline_per_seed_and_reports(tmp_path: Path) -> None:
    """8 jobs on 2 parallel workers, seed first so that jobs 0 and 1 want the same baseline at the same time."""
    sweep_dir = tmp_path / "outputs" / "multiruns" / "methods"
    run_multirun(
        tmp_path,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "seed=0,1",
        "pruning=l1,random",
        "pruning.ratio=0.3,0.6",
        sweep_dir=sweep_dir,
    )
    assert "Joblib.Parallel(n_jobs=2" in (sweep_dir / "cli_output.txt").read_text()
    runs = job_metrics(sweep_dir)
    assert len(runs) == 8
    assert [r["run.status"] for r in runs] == ["completed"] * 8, [r.get("run.error") for r in runs]
    done = sorted((r["run.method"], r["run.ratio"], r["run.seed"]) for r in runs)
    assert done == sorted(itertools.product(["l1", "random"], [0.3, 0.6], [0, 1]))
    assert runs[0]["run.seed"] == runs[1]["run.seed"] == 0  # the two jobs started together share a baseline

    entries = cache_entries(tmp_path / "outputs" / "baselines")
    assert len(entries) == 2
    assert not list((tmp_path / "outputs" / "baselines").glob(".*building*"))
    for seed in (0, 1):
        same_seed = [r for r in runs if r["run.seed"] == seed]
        assert sum(r["run.baseline_trained_here"] for r in same_seed) == 1
        sources = {r["run.baseline_source"] for r in same_seed}
        assert len(sources) == 1 and Path(sources.pop()).parent in entries
        assert len({r["baseline.miou"] for r in same_seed}) == 1
    for r in runs:
        assert r["pruned.params"] < r["baseline.params"]
        assert isinstance(r["sp2ps.score"], float)

    report_dir, stdout = run_report(sweep_dir, tmp_path)
    assert "8 jobs (0 failed)" in stdout
    for name in REPORT_FILES:
        assert (report_dir / name).stat().st_size > 0, name
    results = read_csv(report_dir / "results.csv")
    assert len(results) == 8
    assert (
        sorted((row["run.method"], float(row["run.ratio"]), int(row["run.seed"])) for row in results) == done
    )
    summary = read_csv(report_dir / "summary.csv")
    assert sorted((row["run.method"], float(row["run.ratio"]), int(row["n"])) for row in summary) == [
        ("l1", 0.3, 2),
        ("l1", 0.6, 2),
        ("random", 0.3, 2),
        ("random", 0.6, 2),
    ]
    markdown = (report_dir / "results.md").read_text()
    assert "## unet on digit_scenes" in markdown and "random" in markdown
    assert "\\begin{tabular}" in (report_dir / "results.tex").read_text()
    for name in PLOT_NAMES:
        image = imread(report_dir / f"{name}.png")
        assert image.ndim == 3 and min(image.shape[:2]) > 100, name


def test_basic_launcher_sweep_records_failed_job_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One value of a swept key names a layer that does not exist: those jobs fail, the others complete, exit 0.
    Then one job's folder is removed: the report counts it as failed from the sweep's multirun.yaml."""
    sweep_dir = tmp_path / "outputs" / "multiruns" / "with_failure"
    run_multirun(
        tmp_path,
        "seed=0",
        "pruning=l1,random",
        "pruning.ignored_layers=[],[no_such_layer]",
        "sp2ps=false",
        sweep_dir=sweep_dir,
    )
    runs = job_metrics(sweep_dir)
    assert len(runs) == 4
    failed = [r for r in runs if r["run.status"] == "failed"]
    completed = [r for r in runs if r["run.status"] == "completed"]
    assert len(failed) == 2 and len(completed) == 2
    assert {r["run.method"] for r in failed} == {r["run.method"] for r in completed} == {"l1", "random"}
    for r in failed:
        assert "no_such_layer" in r["run.error"] and "pruning.ignored_layers" in r["run.error"]
        assert "pruned.miou" not in r
    # the basic launcher runs jobs one after the other: the first completed job trains the baseline, the next reuses it
    assert [r["run.baseline_trained_here"] for r in completed] == [True, False]
    assert len(cache_entries(tmp_path / "outputs" / "baselines")) == 1

    report_dir, stdout = run_report(sweep_dir, tmp_path)
    assert "4 jobs (2 failed)" in stdout
    results = read_csv(report_dir / "results.csv")
    assert sorted(row["run.status"] for row in results) == ["completed", "completed", "failed", "failed"]
    assert all("no_such_layer" in row["run.error"] for row in results if row["run.status"] == "failed")
    markdown = (report_dir / "results.md").read_text()
    failed_section = markdown.split("## Failed runs", 1)[1]
    assert failed_section.count("no_such_layer") == 2
    assert "Failed runs" in (report_dir / "results.tex").read_text()
    assert_job_without_metrics_is_failed(sweep_dir, tmp_path / "lost_job", capsys)


def assert_job_without_metrics_is_failed(
    sweep_dir: Path, copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A copy of the 4-job sweep (l1/random x ignored_layers []/[no_such_layer]) without job 2's folder (random,
    completed): the report lists 4 jobs, 3 failed, job 2 with its overrides in the text summary, the tables and the
    HTML page; the jobs are matched by their overrides when the job folders are not named by number."""
    from prunescope.report import main as report_main
    from prunescope.reporting import collect_runs

    shutil.copytree(sweep_dir, copy)
    shutil.rmtree(copy / "2")
    capsys.readouterr()
    assert report_main([str(copy)]) == 0
    stdout = capsys.readouterr().out
    assert f"4 jobs (3 failed) -> {copy / 'report'}" in stdout
    (lost,) = [line for line in stdout.splitlines() if line.startswith("  failed 2: ")]
    assert f"no metrics.json: job 2 of 4 in sweep {copy.resolve()} never wrote one" in lost
    assert "pruning=random pruning.ignored_layers=[]" in lost
    results = {row["run.name"]: row for row in read_csv(copy / "report" / "results.csv")}
    assert sorted(results) == ["0", "1", "2", "3"]
    assert results["2"]["run.status"] == "failed"
    assert (results["2"]["run.model"], results["2"]["run.method"], results["2"]["run.seed"]) == (
        "unet",
        "random",
        "0",
    )
    failed_section = (copy / "report" / "results.md").read_text().split("## Failed runs", 1)[1]
    assert "| 2 | unet | digit_scenes | random | – | 0 | no metrics.json: job 2 of 4" in failed_section
    page = (copy / "report" / "report.html").read_text()
    assert (
        "4 runs (3 failed)" in page and page.count("no metrics.json: job 2 of 4") >= 2
    )  # failed table + run block

    multirun = copy / "multirun.yaml"
    multirun.write_text(
        multirun.read_text().replace("subdir: ${hydra.job.num}", "subdir: ${hydra.job.override_dirname}")
    )
    missing = [row for row in collect_runs([copy]) if "run.overrides" in row]
    assert [row["run.name"] for row in missing] == ["2"]
