"""Spearman ρ of the final quality with the before-fine-tune figures: ranks, ρ, the per-study table, the report files."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from prunescope.reporting import write_report
from prunescope.reporting.correlations import early_correlations
from prunescope.reporting.rank_correlation import average_ranks, spearman


def test_average_ranks_share_ties() -> None:
    assert average_ranks([10.0, 20.0, 20.0, 5.0]) == [2.0, 3.5, 3.5, 1.0]
    assert average_ranks([3.0, 3.0, 3.0]) == [2.0, 2.0, 2.0]
    assert average_ranks([]) == []


def test_spearman_of_known_ranks() -> None:
    # ranks x 1 2 3 4 5, y 2 1 4 3 5: sum d^2 = 4, rho = 1 - 6 * 4 / (5 * 24) = 0.8 (values far from linear)
    x = [0.1, 0.5, 0.9, 2.0, 7.0]
    y = [0.30, 0.10, 0.95, 0.80, 0.99]
    assert spearman(x, y) == pytest.approx(0.8)
    assert spearman(x, [v**3 for v in x]) == pytest.approx(1.0)
    assert spearman(x, [-v for v in x]) == pytest.approx(-1.0)
    # ties: ranks x 1 2.5 2.5 4, y 1 2 3 4 -> Pearson of the ranks
    assert spearman([1.0, 2.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]) == pytest.approx(4.5 / (4.5 * 5.0) ** 0.5)


def test_spearman_undefined_cases() -> None:
    assert spearman([1.0, 2.0], [2.0, 1.0]) is None  # fewer than 3 pairs
    assert spearman([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]) is None  # a constant side
    with pytest.raises(ValueError, match="pairs"):
        spearman([1.0, 2.0, 3.0], [1.0, 2.0])


def test_spearman_matches_scipy_with_ties() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(0)
    for _ in range(20):
        n = rng.randint(3, 15)
        x = [float(rng.randint(0, 5)) for _ in range(n)]
        y = [float(rng.randint(0, 5)) for _ in range(n)]
        expected = stats.spearmanr(x, y).statistic
        got = spearman(x, y)
        if len(set(x)) == 1 or len(set(y)) == 1:
            assert got is None
        else:
            assert got == pytest.approx(float(expected), abs=1e-12)


def _row(method: str, ratio: float, seed: int, final: float, sp2ps: float | None, quality: float) -> dict:
    return {
        "run.name": f"vgg16_digits_{method}_r{ratio}_s{seed}",
        "run.model": "vgg16",
        "run.data": "digits",
        "run.method": method,
        "run.scope": "global",
        "run.target": "channels",
        "run.ratio": ratio,
        "run.seed": seed,
        "run.status": "completed",
        "quality.metric": "acc",
        "baseline.acc": 0.95,
        "baseline.params": 1_000_000,
        "baseline.macs": 40_000_000,
        "baseline.latency_ms": 2.0,
        "pruned.acc": final,
        "pruned.params": int(1_000_000 * (1 - ratio)),
        "pruned.macs": int(40_000_000 * (1 - ratio)),
        "pruned.latency_ms": 1.0,
        "drop.params_pct": 100 * ratio,
        "drop.macs_pct": 100 * ratio,
        "delta.acc": final - 0.95,
        "speedup": 2.0,
        "sp2ps.score": 0.9 - ratio,
        "quality.before_finetune": quality,
        "sp2ps.before_finetune": sp2ps,
    }


# final acc ranks 1..6; sp2ps.before_finetune ranks in the same order except one swap (rho = 1 - 6*2/210);
# quality.before_finetune in reverse order (rho = -1)
STUDY = [
    _row("l1", 0.3, 0, 0.80, 0.50, 0.30),
    _row("l1", 0.3, 1, 0.82, 0.70, 0.25),
    _row("l1", 0.6, 0, 0.84, 0.60, 0.20),
    _row("isd", 0.3, 0, 0.86, 0.75, 0.15),
    _row("isd", 0.3, 1, 0.88, 0.80, 0.10),
    _row("isd", 0.6, 0, 0.90, 0.95, 0.05),
]


def test_early_correlations_of_one_study() -> None:
    ignored = [
        {**STUDY[0], "run.status": "failed", "pruned.acc": 0.0, "run.name": "failed"},
        {**STUDY[0], "run.method": "none", "pruned.acc": 0.0, "run.name": "unpruned"},
        {**STUDY[0], "sp2ps.before_finetune": None, "pruned.acc": 0.99, "run.name": "no sp2ps"},
    ]
    other = [{**row, "run.model": "unet", "run.data": "digit_scenes"} for row in STUDY[:3]]
    for row in other:
        del row["quality.before_finetune"], row["sp2ps.before_finetune"]
    table = early_correlations([*STUDY, *ignored, *other])
    assert [(r["run.model"], r["predictor"]) for r in table] == [
        ("vgg16", "sp2ps.before_finetune"),
        ("vgg16", "quality.before_finetune"),
    ]
    by_predictor = {r["predictor"]: r for r in table}
    sp2ps, quality = by_predictor["sp2ps.before_finetune"], by_predictor["quality.before_finetune"]
    assert sp2ps["n"] == 6 and sp2ps["quality.metric"] == "acc"
    assert sp2ps["spearman"] == pytest.approx(1 - 6 * 2 / (6 * 35))
    # the run without Sp2PS counts for quality: 7 runs, the new one best in final acc and worst before (0.30)
    assert quality["n"] == 7
    assert quality["spearman"] == pytest.approx(
        spearman([r["quality.before_finetune"] for r in [*STUDY, ignored[2]]], [*range(6), 6])
    )
    assert early_correlations(other) == []


def test_report_files_carry_the_before_finetune_figures(tmp_path: Path) -> None:
    files = write_report(STUDY, tmp_path)
    with open(files["results_csv"], encoding="utf-8") as handle:
        results = list(csv.DictReader(handle))
    assert sorted(float(r["sp2ps.before_finetune"]) for r in results) == sorted(
        r["sp2ps.before_finetune"] for r in STUDY
    )
    assert {float(r["quality.before_finetune"]) for r in results} == {
        r["quality.before_finetune"] for r in STUDY
    }
    with open(files["summary_csv"], encoding="utf-8") as handle:
        summary = {(r["run.method"], r["run.ratio"]): r for r in csv.DictReader(handle)}
    l1 = summary[("l1", "0.3")]
    assert float(l1["sp2ps.before_finetune.mean"]) == pytest.approx(0.60)
    assert float(l1["sp2ps.before_finetune.std"]) == pytest.approx(0.02**0.5)
    assert float(l1["quality.before_finetune.mean"]) == pytest.approx(0.275)
    with open(files["correlations_csv"], encoding="utf-8") as handle:
        correlations = {r["predictor"]: r for r in csv.DictReader(handle)}
    assert float(correlations["sp2ps.before_finetune"]["spearman"]) == pytest.approx(1 - 12 / 210)
    assert float(correlations["quality.before_finetune"]["spearman"]) == pytest.approx(-1.0)
    markdown = files["markdown"].read_text(encoding="utf-8")
    assert "## Early predictors of the final quality" in markdown
    assert "sp2ps.before_finetune +0.94 (n = 6); quality.before_finetune -1.00 (n = 6)" in markdown


def test_report_without_before_finetune_figures_has_no_correlations(tmp_path: Path) -> None:
    rows = [{k: v for k, v in row.items() if not k.endswith("before_finetune")} for row in STUDY]
    files = write_report(rows, tmp_path)
    assert "correlations_csv" not in files and not (tmp_path / "correlations.csv").exists()
    assert "Early predictors" not in files["markdown"].read_text(encoding="utf-8")
