"""experiments/finetune_strategy/collect.py: runs -> candidates.csv, the winner chosen on validation, never on test."""

from __future__ import annotations

import csv
import importlib.util
import json
import statistics
from pathlib import Path

import pytest

COLLECT = Path(__file__).resolve().parents[1] / "experiments" / "finetune_strategy" / "collect.py"


def load_collect():
    spec = importlib.util.spec_from_file_location("finetune_strategy_collect", COLLECT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_run(
    runs: Path, candidate: str, job: int, seed: int, val: float | None, test: float, **extra
) -> None:
    path = runs / candidate / str(job) / "metrics.json"
    path.parent.mkdir(parents=True)
    values = {
        "run.status": "completed",
        "run.seed": seed,
        "quality.metric": "acc",
        "pruned.acc": test,
        "baseline.acc": 0.75,
        "quality.before_finetune": test / 2,
        "sp2ps.score": 0.5 + job / 100,
        "sp2ps.before_finetune": 0.3,
        "time.finetune": 100.0 + job,
        "time.total": 200.0 + job,
        **({} if val is None else {"pruned.val_acc": val}),
        **extra,
    }
    path.write_text(json.dumps(values))


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """``kd_logits`` is best on validation, ``long`` on test: the two splits disagree."""
    runs = tmp_path / "runs"
    for seed, (val, test) in enumerate([(0.80, 0.70), (0.82, 0.71), (0.81, 0.72)]):
        write_run(runs, "kd_logits", seed, seed, val, test)
    for seed, (val, test) in enumerate([(0.78, 0.90), (0.79, 0.91), (0.77, 0.92)]):
        write_run(runs, "long", seed, seed, val, test)
    write_run(runs, "plain", 0, 0, 0.70, 0.70)
    write_run(runs, "plain", 1, 1, 0.99, 0.99, **{"run.status": "failed"})  # not counted
    return runs


def test_winner_is_chosen_on_validation_not_on_test(runs: Path, tmp_path: Path, capsys) -> None:
    collect = load_collect()
    rows = collect.candidate_rows(runs)
    summary = collect.summarise(rows)
    by_name = {entry["candidate"]: entry for entry in summary}
    assert max(summary, key=lambda e: e["test_mean"])["candidate"] == "long"  # test would pick another
    assert collect.choose(summary) == "kd_logits"
    assert by_name["kd_logits"]["val_mean"] == pytest.approx(0.81)
    assert by_name["kd_logits"]["val_std"] == pytest.approx(
        statistics.stdev([0.80, 0.82, 0.81])
    )  # sample std
    assert by_name["plain"]["n"] == 1 and by_name["plain"]["val_std"] is None  # the failed run is left out

    out = tmp_path / "candidates.csv"
    assert collect.main([str(runs), "--out", str(out)]) == 0
    written = list(csv.DictReader(out.open()))
    assert list(written[0]) == list(collect.FIELDS)
    assert [(r["candidate"], r["seed"]) for r in written] == [
        ("plain", "0"),
        ("long", "0"),
        ("long", "1"),
        ("long", "2"),
        ("kd_logits", "0"),
        ("kd_logits", "1"),
        ("kd_logits", "2"),
    ]
    printed = capsys.readouterr().out
    assert "chosen on validation (highest mean pruned.val_acc over seeds): kd_logits" in printed
    assert "| kd_logits | 3 | 81.00 ± 1.00 | 71.00 ± 1.00 |" in printed


def test_runs_without_validation_figures_cannot_win(tmp_path: Path) -> None:
    collect = load_collect()
    write_run(tmp_path, "plain", 0, 0, None, 0.99)  # e.g. data.val_size=0: no pruned.val_acc
    write_run(tmp_path, "warmup", 0, 0, 0.5, 0.5)
    assert collect.choose(collect.summarise(collect.candidate_rows(tmp_path))) == "warmup"
    only_test = tmp_path / "only_test"
    write_run(only_test, "plain", 0, 0, None, 0.99)
    with pytest.raises(ValueError, match="data.val_size > 0"):
        collect.choose(collect.summarise(collect.candidate_rows(only_test)))


def test_results_table_from_the_csv(runs: Path, tmp_path: Path) -> None:
    """The table check_results generates: from candidates.csv alone (strings), the winner marked as chosen on val."""
    collect = load_collect()
    out = tmp_path / "candidates.csv"
    assert collect.main([str(runs), "--out", str(out)]) == 0
    header, body = collect.candidate_cells(list(csv.DictReader(out.open())))
    rows = {row[0]: dict(zip(header, row, strict=True)) for row in body}
    assert rows["kd_logits"]["chosen on val"] == "**yes**" and rows["long"]["chosen on val"] == ""
    assert rows["kd_logits"]["val acc %"] == "81.00 ± 1.00"
    assert rows["long"]["Δacc (points)"] == "16.00 ± 1.00"  # test 0.91 mean against the baseline's 0.75
    assert rows["long"]["acc % before fine-tune"] == "45.5 ± 0.5"
    assert rows["plain"]["Sp2PS"] == "0.500" and rows["plain"]["runs"] == "1"


def test_order_sets_row_order_and_breaks_ties(tmp_path: Path, capsys) -> None:
    """``--order`` (another study's candidate names): rows follow it, and a tie on validation goes to the earlier
    name, whatever the alphabet says."""
    collect = load_collect()
    for seed in (0, 1):
        write_run(tmp_path, "e40", seed, seed, 0.6, 0.5)
        write_run(tmp_path, "e24", 10 + seed, seed, 0.6, 0.4)
    out = tmp_path / "report" / "round2" / "candidates.csv"  # a folder not made yet: main makes it
    assert collect.main([str(tmp_path), "--out", str(out), "--order", "e40,e24"]) == 0
    assert [r["candidate"] for r in csv.DictReader(out.open())] == ["e40", "e40", "e24", "e24"]
    assert capsys.readouterr().out.rstrip().splitlines()[-2].endswith(": e40")
    assert collect.main([str(tmp_path), "--out", str(out), "--order", "e24,e40"]) == 0
    assert capsys.readouterr().out.rstrip().splitlines()[-2].endswith(": e24")


def test_earlier_candidates_join_the_choice_and_a_new_run_replaces_its_earlier_rows(
    runs: Path, tmp_path: Path, capsys
) -> None:
    """``--earlier``: a later round adds candidates to a committed candidates.csv without re-running it; a candidate
    with runs here replaces its earlier rows, and an earlier candidate can still be the one chosen."""
    collect = load_collect()
    earlier_csv = tmp_path / "earlier.csv"
    assert collect.main([str(runs), "--out", str(earlier_csv)]) == 0
    later = tmp_path / "later"
    for seed, val in enumerate([0.79, 0.80, 0.78]):
        write_run(later, "kd_features", seed, seed, val, 0.95)
    write_run(
        later, "long", 0, 0, 0.99, 0.50
    )  # long is run again: its one new run replaces the three earlier
    out = tmp_path / "merged.csv"
    order = "plain,long,kd_logits,kd_features"
    assert collect.main([str(later), "--out", str(out), "--order", order, "--earlier", str(earlier_csv)]) == 0
    written = [(r["candidate"], r["seed"], r["val"]) for r in csv.DictReader(out.open())]
    assert written == [
        ("plain", "0", "0.7"),
        ("long", "0", "0.99"),
        ("kd_logits", "0", "0.8"),
        ("kd_logits", "1", "0.82"),
        ("kd_logits", "2", "0.81"),
        ("kd_features", "0", "0.79"),
        ("kd_features", "1", "0.8"),
        ("kd_features", "2", "0.78"),
    ]
    assert "chosen on validation (highest mean pruned.val_acc over seeds): long" in capsys.readouterr().out


def test_earlier_candidates_against_another_baseline_are_refused(runs: Path, tmp_path: Path, capsys) -> None:
    collect = load_collect()
    earlier_csv = tmp_path / "earlier.csv"
    assert collect.main([str(runs), "--out", str(earlier_csv)]) == 0
    later = tmp_path / "later"
    write_run(later, "kd_features", 0, 0, 0.79, 0.95, **{"baseline.acc": 0.76})
    out = tmp_path / "merged.csv"
    assert collect.main([str(later), "--out", str(out), "--earlier", str(earlier_csv)]) == 1
    error = capsys.readouterr().err
    assert "different baselines (acc 0.75, acc 0.76)" in error and not out.exists()
    assert collect.main([str(later), "--out", str(out), "--earlier", str(tmp_path / "missing.csv")]) == 1
    assert "no such file" in capsys.readouterr().err
