"""experiments/study_tables.py: one method row per scope when a study mixes global and local runs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

STUDY_TABLES = Path(__file__).resolve().parents[2] / "experiments" / "study_tables.py"


def load_study_tables():
    if (
        str(STUDY_TABLES.parent) not in sys.path
    ):  # it imports check_results from beside itself, as a script does
        sys.path.insert(0, str(STUDY_TABLES.parent))
    spec = importlib.util.spec_from_file_location("study_tables", STUDY_TABLES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(method: str, scope: str, seed: int, miou: float) -> dict:
    return {
        "quality.metric": "miou",
        "run.method": method,
        "run.scope": scope,
        "run.target": "params",
        "run.ratio": 0.724,
        "run.seed": seed,
        "drop.params_pct": 72.4,
        "drop.macs_pct": 70.0,
        "pruned.miou": miou,
        "delta.miou": miou - 0.35,
        "sp2ps.score": 0.6,
        "speedup": 2.0,
    }


def test_global_and_local_runs_of_one_method_get_their_own_rows() -> None:
    study_tables = load_study_tables()
    rows = [
        row("pca_nci", "global", 0, 0.30),
        row("pca_nci", "global", 1, 0.32),
        row("pca_nci", "local", 0, 0.34),
    ]
    lines = study_tables.method_table(rows).splitlines()[2:]
    cells = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in lines}
    assert set(cells) == {"pca_nci (global)", "pca_nci (local)"}
    assert cells["pca_nci (global)"][5] == "31.0 ± 1.4"  # mean ± std over seeds (n − 1)
    assert cells["pca_nci (global)"][-1].startswith("2 (0, 1)")
    assert cells["pca_nci (local)"][5] == "34.0"


def test_one_scope_keeps_the_plain_method_name() -> None:
    study_tables = load_study_tables()
    lines = study_tables.method_table([row("l1", "global", 0, 0.3)]).splitlines()
    assert lines[2].startswith("| l1 | params | 72.4 % |")
