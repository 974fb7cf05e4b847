"""experiments/check_results.py: every RESULTS.md table is re-derived from its study's committed report CSVs.

The check passes on the repository as committed, and fails, naming the file, the table and the cell, as soon as one
number of a generated table is edited (or a table is typed outside the marked blocks).
"""

from __future__ import annotations

import csv
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "experiments" / "check_results.py"
STUDIES = sorted(
    path.parent for path in (REPO / "experiments").glob("*/RESULTS.md") if (path.parent / "report").is_dir()
)


def load_check_results():
    spec = importlib.util.spec_from_file_location("check_results", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_results"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def copy_study(tmp_path: Path, name: str) -> Path:
    """A copy of one study's RESULTS.md and report CSVs, and the training-speed CSVs beside it (all the check
    reads)."""
    study = tmp_path / name
    (study / "report").mkdir(parents=True)
    shutil.copy(REPO / "experiments" / name / "RESULTS.md", study / "RESULTS.md")
    report = REPO / "experiments" / name / "report"
    for csv_file in report.rglob("*.csv"):  # report/round2/results.csv too
        (study / "report" / csv_file.relative_to(report)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(csv_file, study / "report" / csv_file.relative_to(report))
    speed = tmp_path / "training_speed"
    if not speed.exists():
        speed.mkdir()
        for csv_file in (REPO / "experiments" / "training_speed").glob("*.csv"):
            shutil.copy(csv_file, speed / csv_file.name)
    return study


def test_the_committed_results_pass_as_ci_runs_it() -> None:
    """The check passes on the committed pages, and none of their tables is untraceable (issue #27, item 5)."""
    assert STUDIES, "no experiments/*/RESULTS.md found"
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert ", 0 errors" in done.stdout
    assert ", 0 untraceable, 0 errors" in done.stdout, done.stdout
    assert f"{len(load_check_results().study_pages())} RESULTS.md" in done.stdout
    assert len(load_check_results().study_pages()) > len(STUDIES)  # experiments/training_speed/ too


def test_every_study_has_generated_tables() -> None:
    for study in STUDIES:
        assert "<!-- table: methods csv=report/results.csv" in (study / "RESULTS.md").read_text(), study.name


def test_an_edited_number_fails_naming_file_table_and_cell(tmp_path: Path, capsys) -> None:
    check_results = load_check_results()
    study = copy_study(tmp_path, "segnet_camvid")
    page = study / "RESULTS.md"
    text = page.read_text()
    row = re.search(  # round 2's pca_nci row (round 2 is never run again: its figures stay)
        r"^\| pca_nci \| params \| 72\.4 % \| 72\.4 ± 0\.0 \| 71\.6 ± 0\.0 \| 32\.9 ± 0\.6 \|.*$", text, re.M
    )
    assert row is not None, "the round-2 pca_nci row is not where the test expects it"
    assert check_results.main([str(page)]) == 0
    page.write_text(text.replace(row.group(0), row.group(0).replace("32.9 ± 0.6", "33.4 ± 0.6", 1), 1))
    capsys.readouterr()
    assert check_results.main([str(page)]) == 1
    err = capsys.readouterr().err
    assert str(page) in err
    assert "table 'methods csv=report/round2/results.csv'" in err
    assert "row 'pca_nci'" in err and "column 'miou %'" in err
    assert "expected '32.9 ± 0.6', found '33.4 ± 0.6'" in err
    # --write puts the CSV's number back, and the check passes again.
    assert check_results.main(["--write", str(page)]) == 0
    assert page.read_text() == text
    assert check_results.main([str(page)]) == 0


def test_an_edited_csv_fails_too(tmp_path: Path, capsys) -> None:
    check_results = load_check_results()
    study = copy_study(tmp_path, "vgg16_cifar10")
    csv_path = study / "report" / "results.csv"
    text = csv_path.read_text()
    baseline = next(csv.DictReader(text.splitlines()))["baseline.acc"]  # the baseline's test accuracy
    assert check_results.main([str(study / "RESULTS.md")]) == 0
    csv_path.write_text(text.replace(baseline, str(float(baseline) + 0.01)))
    assert check_results.main([str(study / "RESULTS.md")]) == 1
    assert "table 'baseline csv=report/results.csv'" in capsys.readouterr().err


def test_a_pruning_run_without_sp2ps_before_finetune_fails(tmp_path: Path, capsys) -> None:
    """Issue #27: every pruning run of a report CSV has the pruned model's Sp2PS before fine-tuning."""
    check_results = load_check_results()
    study = copy_study(tmp_path, "vgg16_cifar10")
    csv_path = study / "report" / "round2" / "results.csv"
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert check_results.main([str(study / "RESULTS.md")]) == 0
    rows[1]["sp2ps.before_finetune"] = ""
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert check_results.main([str(study / "RESULTS.md")]) == 1
    run = f"{rows[1]['run.method']} ({rows[1]['run.scope']}) ratio {rows[1]['run.ratio']} seed {rows[1]['run.seed']}"
    assert (
        f"report/round2/results.csv: 1 pruning run(s) without sp2ps.before_finetune ({run})"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t + "\n| typed | table |\n|---|---|\n| 1 | 2 |\n", "a table outside any"),
        (lambda t: "".join(t.rsplit("<!-- /table -->", 1)), "is never closed"),
        (
            lambda t: t.replace(
                "<!-- table: methods csv=report/results.csv", "<!-- table: methods csv=report/nope.csv", 1
            ),
            "not in",
        ),
    ],
)
def test_unmarked_tables_and_broken_markers_fail(tmp_path: Path, capsys, edit, message: str) -> None:
    check_results = load_check_results()
    page = copy_study(tmp_path, "deeplabv3plus_camvid") / "RESULTS.md"
    page.write_text(edit(page.read_text()))
    assert check_results.main([str(page)]) == 1
    assert message in capsys.readouterr().err


UNTRACEABLE_BLOCK = """
<!-- untraceable: a run whose outputs were not kept -->
**Not in a committed CSV.**

| method | miou % |
|---|---:|
| pca_nci | 31.0 |
<!-- /untraceable -->
"""


def test_untraceable_tables_are_listed_not_checked(tmp_path: Path, capsys) -> None:
    """Numbers that no committed CSV holds are named in the output; editing them is not a CSV difference."""
    check_results = load_check_results()
    page = copy_study(tmp_path, "segnet_camvid") / "RESULTS.md"
    page.write_text(page.read_text() + UNTRACEABLE_BLOCK)
    assert check_results.main([str(page)]) == 0
    out = capsys.readouterr().out
    assert "untraceable (not in a committed CSV; to be re-run)" in out
    assert "whole table(s), a run whose outputs were not kept" in out
    page.write_text(page.read_text().replace("| pca_nci | 31.0 |", "| pca_nci | 39.0 |"))
    assert check_results.main([str(page)]) == 0
    assert ", 1 untraceable, 0 errors" in capsys.readouterr().out


def test_spread_is_the_sample_std_over_seeds() -> None:
    check_results = load_check_results()
    assert check_results.mean_spread([0.30, 0.32], 100.0, 1) == "31.0 ± 1.4"
    assert check_results.mean_spread([0.30], 100.0, 1) == "30.0"


def test_speedups_from_a_timings_csv_are_traceable(tmp_path: Path, capsys) -> None:
    """study_speedups.py --out's CSV fills the speed-up column (mean ± std over seeds); no cell is kept any more."""
    check_results = load_check_results()
    study = copy_study(tmp_path, "vgg16_cifar10")
    rows = list(csv.DictReader((study / "report" / "results.csv").open()))
    timings = study / "report" / "speedups.csv"
    with timings.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["run", "run.method", "run.scope", "run.ratio", "run.seed", "speedup"])
        for i, row in enumerate(rows):
            speedup = 2.0 + 0.2 * int(row["run.seed"])  # seeds 0 and 1: 2.0 and 2.2
            writer.writerow(
                [f"s/{i}", row["run.method"], row["run.scope"], row["run.ratio"], row["run.seed"], speedup]
            )
    page = study / "RESULTS.md"
    text = page.read_text()
    page.write_text(
        text
        + "\n<!-- table: speedups csv=report/results.csv timings=report/speedups.csv -->\n<!-- /table -->\n"
    )
    assert check_results.main(["--write", str(page)]) == 0
    capsys.readouterr()
    assert check_results.main([str(page)]) == 0
    out = capsys.readouterr().out
    assert "speed-up ×" not in out  # nothing untraceable left in that table
    written = page.read_text()
    assert (
        "Generated from `vgg16_cifar10/report/results.csv` and `vgg16_cifar10/report/speedups.csv`" in written
    )
    assert re.search(r"^\| pca_nci \| 86\.5 % \| 2\.10 ± 0\.14 \| ", written, re.M)  # seeds 0, 1
    assert re.search(r"^\| random \| 86\.5 % \| 2\.00 \| ", written, re.M)  # one seed
    timings.write_text(timings.read_text().replace("2.2", "2.4"))
    assert check_results.main([str(page)]) == 1


def test_speedups_name_the_target_when_one_method_and_ratio_has_two() -> None:
    """pca_nci at -86.5 % parameters alone and at the (parameters, FLOPs) pair are two rows, each with its own MAC
    ratio and speed-up, not one row mixing both; a study with one target per method keeps the five columns."""
    check_results = load_check_results()
    rows = [
        {"run.method": "pca_nci", "run.scope": "global", "run.ratio": 0.865, "run.target": target,
         "run.layers": None, "baseline.macs": 100.0, "pruned.macs": macs}
        for target, macs in (("params", 30.0), ("params", 30.0), ("params+macs", 18.0))
    ]  # fmt: skip
    timings = [
        {**{key: row[key] for key in ("run.method", "run.scope", "run.ratio", "run.target", "run.layers")},
         "speedup": speedup}
        for row, speedup in zip(rows, ("2.0", "2.2", "3.0"), strict=True)
    ]  # fmt: skip
    table = check_results.gen_speedups(rows, {"timings_rows": timings})
    assert table.header == ["method", "target", "ratio", "speed-up ×", "MAC ratio ×", "n"]
    assert table.body == [
        ["pca_nci", "params", "86.5 %", "2.10 ± 0.14", "3.33", "2"],
        ["pca_nci", "params+macs", "86.5 %", "3.00", "5.56", "1"],
    ]
    one_target = check_results.gen_speedups(rows[:2], {"timings_rows": timings[:2]})
    assert one_target.header == ["method", "ratio", "speed-up ×", "MAC ratio ×", "n"]
    assert one_target.body == [["pca_nci", "86.5 %", "2.10 ± 0.14", "3.33", "2"]]


def test_before_and_correlation_tables_agree_with_the_report_module() -> None:
    """The ``before`` and ``correlations`` generators re-derive, from results.csv rows, the figures the report
    writes: ρ equals prunescope.reporting.correlations' (ties included), and runs lacking a figure are counted."""
    from prunescope.reporting.correlations import early_correlations

    check = load_check_results()
    finals = [0.80, 0.78, 0.81, 0.70, 0.72, 0.69]
    sp2ps = [0.20, 0.15, 0.20, 0.40, 0.35, None]
    quality = [0.10, 0.10, 0.12, 0.30, 0.20, 0.25]
    rows = [
        {
            "run.status": "completed",
            "run.model": "vgg16",
            "run.data": "cifar10",
            "run.method": method,
            "run.scope": "global",
            "run.target": "params",
            "run.ratio": 0.865,
            "run.seed": i % 3,
            "quality.metric": "acc",
            "pruned.acc": final,
            "sp2ps.before_finetune": s,
            "quality.before_finetune": q,
            "sp2ps.score": 0.3,
        }
        for i, (method, final, s, q) in enumerate(
            zip(["a"] * 3 + ["b"] * 3, finals, sp2ps, quality, strict=True)
        )
    ]
    table = check.gen_correlations(rows, {})
    reference = {c["predictor"]: c for c in early_correlations(rows)}
    for predictor, n, rho in table.body:
        assert int(n) == reference[predictor]["n"]
        assert float(rho) == pytest.approx(reference[predictor]["spearman"], abs=0.005)
    assert [row[1] for row in table.body] == ["6", "5"]  # quality first, then Sp2PS (one run lacks it)
    before = check.gen_before(rows, {})
    assert [row[0] for row in before.body] == ["a", "b"]
    assert before.body[0][3] == "10.7 ± 1.2"  # quality before, % (mean ± sample std)
    assert before.body[1][-1] == "1" and before.body[0][-1] == "0"  # runs without a before-fine-tune figure


def test_timing_table_sums_each_sweep_and_spans_its_clock() -> None:
    """One row per sweep folder: the sum and mean of ``time.total``, the wall time from the first start to the last
    finish (runs side by side overlap, so it is less than the sum), the shared baseline's fit; older rows without
    the timestamps get no wall time rather than a wrong one."""
    check = load_check_results()

    def row(sweep: str, job: int, start: str, end: str | None, total: float) -> dict[str, object]:
        return {
            "run.output_dir": f"/work/main/outputs/study/{sweep}/{job}",
            "run.started_at": start,
            "run.finished_at": end,
            "time.total": total,
            "run.baseline_train_seconds": 1866.0,
        }

    rows = [
        row("a", 0, "2026-12-06T23:00:00+00:00", "2026-12-06T23:10:00+00:00", 600.0),
        row("a", 1, "2026-12-06T23:00:30+00:00", "2026-12-06T23:10:30+00:00", 600.0),
        row("a", 2, "2026-12-06T23:10:00+00:00", "2026-12-06T23:20:00+00:00", 600.0),
        row("b", 0, "2026-12-06T23:00:00+00:00", None, 90.0),
    ]
    table = check.gen_timing(rows, {})
    assert table.header == [
        "sweep",
        "runs",
        "Σ time.total (min)",
        "per run (min)",
        "wall (min)",
        "baseline fit (min)",
    ]
    assert table.body == [
        ["study/a", "3", "30.0", "10.0", "20.0", "31.1"],
        ["study/b", "1", "1.5", "1.5", "–", "31.1"],
    ]
