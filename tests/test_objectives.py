"""What ``prunescope-train`` returns to a sweeper: the configured objectives from the run's metrics.json values."""

from __future__ import annotations

import pytest

from prunescope.config_checks import ConfigError, check_train_config
from prunescope.objectives import objective_values

PRUNED = {
    "quality.metric": "miou",
    "baseline.miou": 0.7,
    "pruned.miou": 0.6,
    "pruned.macs": 12345,
    "speedup": 2.0,
}


def test_one_objective_is_a_float_several_a_list_in_order() -> None:
    assert objective_values(PRUNED, ["quality"]) == 0.6
    assert objective_values(PRUNED, ["quality", "pruned.macs"]) == [0.6, 12345.0]
    assert objective_values(PRUNED, ["pruned.macs", "speedup"]) == [12345.0, 2.0]
    baseline_only = {"quality.metric": "acc", "baseline.acc": 0.9}
    assert objective_values(baseline_only, ["quality"]) == 0.9


def test_missing_or_non_numeric_objective_gives_none() -> None:
    assert objective_values(PRUNED, ["quality", "sp2ps.score"]) is None
    assert objective_values({**PRUNED, "sp2ps.score": None}, ["sp2ps.score"]) is None
    assert objective_values({**PRUNED, "pruned.macs": True}, ["pruned.macs"]) is None


def test_unknown_objective_is_one_line_before_any_work(make_cfg) -> None:
    with pytest.raises(
        ConfigError, match=r"^objectives: 'accuracy' is not a metrics.json value; valid: quality"
    ):
        check_train_config(make_cfg("objectives=[quality,accuracy]"))
    with pytest.raises(ConfigError, match="objectives is empty"):
        check_train_config(make_cfg("objectives=[]"))
    check_train_config(make_cfg("search=pareto"))
