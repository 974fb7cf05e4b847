"""``search=pareto``: an Optuna multi-objective search over pruning method x ratio on ``experiment=smoke``; every
trial's metrics.json feeds the usual report, which marks the Pareto front of quality vs. MACs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from test_sweep import cache_entries, job_metrics, read_csv, run_multirun, run_report

N_TRIALS = 8


def brute_force_front(points: list[tuple[float, float]]) -> list[bool]:
    """True where no other (quality, macs) point has quality >= and macs <=, one of them strictly."""
    return [
        not any((q2 >= q and c2 <= c) and (q2 > q or c2 < c) for j, (q2, c2) in enumerate(points) if j != i)
        for i, (q, c) in enumerate(points)
    ]


@pytest.mark.slow
def test_optuna_search_finishes_and_the_report_marks_the_pareto_front(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "outputs" / "search"
    run_multirun(
        tmp_path, "search=pareto", f"hydra.sweeper.n_trials={N_TRIALS}", "seed=0", sweep_dir=sweep_dir
    )
    runs = job_metrics(sweep_dir)
    assert len(runs) == N_TRIALS
    assert [r["run.status"] for r in runs] == ["completed"] * N_TRIALS, [r.get("run.error") for r in runs]
    assert len(cache_entries(tmp_path / "outputs" / "baselines")) == 1  # every trial prunes the same baseline
    assert len({(r["run.method"], r["run.ratio"]) for r in runs}) > 1  # the sampler explored the space

    # The sweeper received each trial's (quality, MACs): its Pareto solutions are the report's non-dominated runs.
    solutions = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())["solutions"]
    optuna_front = Counter(
        (s["params"]["pruning"], float(s["params"]["pruning.ratio"]), *s["values"]) for s in solutions
    )

    report_dir, stdout = run_report(sweep_dir, tmp_path)
    assert f"{N_TRIALS} jobs (0 failed)" in stdout
    rows = read_csv(report_dir / "results.csv")
    points = [(float(r["pruned.miou"]), float(r["pruned.macs"])) for r in rows]
    flags = [r["pareto.front"] == "true" for r in rows]
    assert flags == brute_force_front(points)
    assert 0 < sum(flags) <= N_TRIALS
    report_front = Counter(
        (r["run.method"], float(r["run.ratio"]), float(r["pruned.miou"]), float(r["pruned.macs"]))
        for r, on_front in zip(rows, flags, strict=True)
        if on_front
    )
    assert report_front == optuna_front

    markdown = (report_dir / "results.md").read_text()
    front_section = markdown.split("## Pareto front", 1)[1].split("## Failed runs", 1)[0]
    listed = [line for line in front_section.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert sorted(line.split(" | ")[0].removeprefix("| ") for line in listed) == sorted(
        r["run.name"] for r, on_front in zip(rows, flags, strict=True) if on_front
    )
    assert (report_dir / "pareto_runs.png").stat().st_size > 0
