"""experiments/study_speedups.py: re-times real runs and writes the timings CSV a study commits (``--out``)."""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from prunescope.train import run

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "study_speedups.py"


def load_script():
    spec = importlib.util.spec_from_file_location("study_speedups", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_row_per_run_with_the_ratio_of_the_two_medians(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, capsys
) -> None:
    cfg = make_cfg("experiment=smoke", "pruning=l1", "pruning.ratio=0.5", "sp2ps=false")
    values = run(cfg)
    assert values["run.status"] == "completed"
    (tmp_path / "run" / ".hydra").mkdir()
    OmegaConf.save(cfg, tmp_path / "run" / ".hydra" / "config.yaml")  # as Hydra writes it beside a CLI run
    study_speedups = load_script()
    out = tmp_path / "report" / "speedups.csv"
    assert (
        study_speedups.main([str(tmp_path / "run"), "--repeats", "3", "--threads", "1", "--out", str(out)])
        == 0
    )
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 1 and list(rows[0]) == list(study_speedups.TIMING_FIELDS)
    row = rows[0]
    assert (row["run.method"], float(row["run.ratio"]), row["run.seed"]) == (
        "l1",
        0.5,
        str(values["run.seed"]),
    )
    assert (row["batch"], row["threads"], row["repeats"]) == ("1", "1", "3")
    ratio = float(row["baseline_ms"]) / float(row["pruned_ms"])
    assert abs(float(row["speedup"]) - ratio) < 1e-3 * ratio
    assert abs(float(row["mac_ratio"]) - values["baseline.macs"] / values["pruned.macs"]) < 1e-3
    assert "1 runs ->" in capsys.readouterr().out
