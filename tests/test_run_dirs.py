"""Run dirs are unique for runs started in the same second, and a live run's dir is never written by another run."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from prunescope.config_checks import ConfigError
from prunescope.run_dirs import RunDirInUse, claim_run_dir
from prunescope.train import run


def test_a_live_run_dir_is_refused_and_left_untouched(make_cfg: Callable[..., DictConfig]) -> None:
    cfg = make_cfg("experiment=smoke", small=False)
    run_dir = Path(cfg.paths.output_dir)
    holder = claim_run_dir(run_dir)  # another live run
    (run_dir / "metrics.json").write_text('{"run.name": "the other run"}')
    try:
        with pytest.raises(RunDirInUse, match="is in use by another live run"):
            run(cfg)
    finally:
        holder.release()
    assert json.loads((run_dir / "metrics.json").read_text()) == {"run.name": "the other run"}
    assert run(cfg)["run.status"] == "completed"  # free again once the other run ended


def test_a_rerun_refused_for_bad_input_keeps_the_completed_metrics(
    make_cfg: Callable[..., DictConfig],
) -> None:
    cfg = make_cfg("experiment=smoke", "pruning=l1", small=False)
    assert run(cfg)["run.status"] == "completed"
    written = (Path(cfg.paths.output_dir) / "metrics.json").read_bytes()
    bad = make_cfg("experiment=smoke", "pruning=l1", "cam.target_layer=nope", small=False)  # same run dir
    with pytest.raises(ConfigError, match=r"cam.target_layer: unknown layer name\(s\) \['nope'\]"):
        run(bad)
    assert (Path(cfg.paths.output_dir) / "metrics.json").read_bytes() == written


@pytest.mark.slow
def test_runs_started_in_the_same_second_get_their_own_dirs(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "prunescope.train",
        "experiment=smoke",
        "logger=none",
        "sp2ps=false",
        f"paths.log_dir={tmp_path}",
    ]
    processes = [
        subprocess.Popen(
            [*command, "pruning=l1", f"pruning.ratio={ratio}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for ratio in (0.3, 0.6)
    ]
    for process in processes:
        assert process.wait(timeout=600) == 0, process.stderr.read().decode()[-2000:]
    run_dirs = sorted((tmp_path / "train" / "runs").iterdir())
    assert len(run_dirs) == 2
    ratios = set()
    for run_dir in run_dirs:
        values = json.loads((run_dir / "metrics.json").read_text())
        overrides = (run_dir / ".hydra" / "overrides.yaml").read_text()
        assert values["run.status"] == "completed"
        assert f"pruning.ratio={values['run.ratio']}" in overrides  # the config and the results of one run
        ratios.add(values["run.ratio"])
    assert ratios == {0.3, 0.6}
