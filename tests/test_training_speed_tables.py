"""experiments/training_speed/collect.py: the back-to-back tables (acceptance pairs, demo precision) from their CSVs."""

from __future__ import annotations

import importlib.util
import statistics
import sys
from pathlib import Path

import pytest

COLLECT = Path(__file__).resolve().parents[1] / "experiments" / "training_speed" / "collect.py"


def load_collect():
    spec = importlib.util.spec_from_file_location("training_speed_collect", COLLECT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["training_speed_collect"] = module
    spec.loader.exec_module(module)
    return module


def test_acceptance_table_means_and_ratio_come_from_the_rows() -> None:
    collect = load_collect()
    keys = ("round", "config", "precision", "time_baseline_s", "acc")
    rows = [
        dict(zip(keys, values, strict=True))
        for values in (
            ("1", "fp32_nchw", "32-true", "30.0", "0.20"),
            ("1", "defaults", "bf16-mixed", "10.0", "0.19"),
            ("2", "defaults", "bf16-mixed", "14.0", "0.19"),
            ("2", "fp32_nchw", "32-true", "18.0", "0.20"),
        )
    ]
    header, table = collect.vgg_acceptance_cells(rows)
    assert header == ["round", "config", "precision", "time.baseline (s)", "test accuracy (seed 0)"]
    assert table[0] == ["1", "fp32_nchw", "32-true", "30.0", "0.20"]
    assert table[2][:3] == ["2", "defaults", "bf16-mixed"]
    # means 24.0 and 12.0: the ratio is of the means, not the mean of the per-round ratios (2.25x)
    assert table[-2] == ["mean", "fp32_nchw", "", "24.0", ""]
    assert table[-1] == ["mean", "defaults", "", "12.0", "fp32_nchw ÷ defaults = 2.00×"]


def test_a_setting_missing_from_the_csv_is_an_error() -> None:
    collect = load_collect()
    rows = [{"round": "1", "precision": "32-true", "time_baseline_s": "25.0", "miou": "0.75"}]
    with pytest.raises(statistics.StatisticsError):
        collect.demo_precision_cells(rows)
