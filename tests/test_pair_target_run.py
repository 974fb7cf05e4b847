"""prunescope-train with ``pruning.target=params+macs``: both drops land and are recorded, or the run fails in one line
before the fine-tune (the library side is tested in ``tests/pruning/test_cost_pair.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prunescope.cli_errors import outcome_of
from prunescope.train import run

PAIR = (
    "model=vgg16",
    "data=digits",
    "pruning=l1",
    "pruning.target=params+macs",
    "pruning.ratio=0.5",
    "sp2ps=false",
)


def test_pair_run_records_both_drops_and_the_exponent(make_cfg) -> None:
    # at -50 % params the MACs drop of this tiny VGG-16 spans about 10-89 % over the cost exponent (l1, 32x32)
    cfg = make_cfg(*PAIR, "pruning.macs_ratio=0.7")
    values = run(cfg)
    assert values["run.status"] == "completed", values.get("run.error")
    assert values["run.target"] == "params+macs" and values["run.macs_ratio"] == 0.7
    assert values["prune.ratio_target"] == 0.5 and values["prune.macs_ratio_target"] == 0.7
    assert abs(values["drop.params_pct"] - 50.0) <= 1.0
    assert abs(values["drop.macs_pct"] - 70.0) <= 1.0
    assert abs(values["prune.target_removed"] - 0.5) <= 0.01
    assert values["prune.cost_exponent"] > 0  # more MACs than the plain ranking: MAC-dense units first
    written = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert written["prune.cost_exponent"] == pytest.approx(values["prune.cost_exponent"])


def test_unreachable_pair_fails_in_one_line_before_the_finetune(make_cfg) -> None:
    cfg = make_cfg(*PAIR, "pruning.macs_ratio=0.03")
    with pytest.raises(Exception, match=r"params\+macs: at -\d+\.\d % params the MACs drop spans") as error:
        run(cfg)
    assert "\n" not in str(error.value) and "-3.0 % is out of reach" in str(error.value)
    assert outcome_of(error.value).exit_code == 2  # prunescope-train: "error: <the line>", exit status 2
    written = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert written["run.status"] == "failed" and "out of reach" in written["run.error"]
    assert "time.finetune" not in written and "pruned.params" not in written  # no fine-tune, no test


def test_bad_pair_config_fails_before_any_training(make_cfg) -> None:
    cfg = make_cfg(*PAIR[:3], "pruning.macs_ratio=0.7")  # target stays channels
    with pytest.raises(
        Exception, match=r"macs_ratio=0\.7 is read only with target=params\+macs .*valid targets"
    ):
        run(cfg)
    assert not Path(cfg.paths.baselines_dir).exists()  # nothing was trained
