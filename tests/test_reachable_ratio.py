"""A ``pruning.ratio`` that ``min_channels`` / ``round_to`` and the never-pruned output layers put out of reach fails
before any training (or, with U-Net levels removed first, before the fine-tune), naming what can be reached; the
fraction named is the one pruning then really reaches."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from prunescope.cli_errors import outcome_of
from prunescope.pruning.target import UnreachableRatio
from prunescope.train import run
from support import REPO_ROOT
from test_sweep import TRAIN_COMMAND, cli_env


def failed_before_training(cfg) -> dict:
    written = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert written["run.status"] == "failed"
    assert not Path(cfg.paths.baselines_dir).exists()  # no baseline trained
    return written


def test_ratio_above_what_min_channels_leaves_fails_before_training(make_cfg) -> None:
    cfg = make_cfg("pruning=l1", "pruning.ratio=0.999")  # U-Net depth 3, width 4: 92 prunable filters
    message = (
        "pruning.ratio=0.999 cannot be reached: every layer keeps pruning.min_channels=1 and the output layers are "
        "never pruned, so at most 0.870 of UNet's 92 prunable filters can be removed; lower pruning.ratio to 0.870 "
        "or less"
    )
    with pytest.raises(UnreachableRatio) as raised:
        run(cfg)
    assert str(raised.value) == message
    assert outcome_of(raised.value).exit_code == 2  # bad input: one line, exit status 2
    assert failed_before_training(cfg)["run.error"].endswith(message)

    cfg = make_cfg("pruning=l1", "pruning.ratio=0.8", "pruning.min_channels=2")
    with pytest.raises(
        UnreachableRatio, match=r"at most 0\.739 of .*; lower pruning\.ratio to 0\.739 or less, or "
    ):
        run(cfg)
    failed_before_training(cfg)

    cfg = make_cfg("pruning=l1", "pruning.ratio=0.99", "pruning.target=macs")
    with pytest.raises(UnreachableRatio) as raised:
        run(cfg)
    assert str(raised.value) == (
        "pruning.ratio=0.99 (pruning.target=macs) cannot be reached: every layer keeps pruning.min_channels=1 and "
        "the output layers are never pruned, so at most 0.947 of UNet's MACs can be removed; lower pruning.ratio "
        "to 0.947 or less"
    )
    failed_before_training(cfg)  # the bisection for a cost target used to find this out after the baseline


@pytest.mark.parametrize(("min_channels", "reachable"), [(1, 80 / 92), (2, 68 / 92)])
def test_the_named_fraction_is_what_pruning_reaches(
    make_cfg, tmp_path: Path, min_channels: int, reachable: float
) -> None:
    cfg = make_cfg(
        "pruning=l1", f"pruning.ratio={reachable:.3f}", f"pruning.min_channels={min_channels}", "sp2ps=false"
    )
    values = run(cfg)
    assert values["run.status"] == "completed"
    assert values["prune.ratio_removed"] == pytest.approx(reachable)


def test_after_unet_levels_are_removed_the_ratio_is_checked_before_the_finetune(make_cfg) -> None:
    """Levels change the network, so the check waits for them; it still runs before any fine-tuning epoch."""
    cfg = make_cfg("pruning=l1", "pruning.ratio=0.95", "pruning.layers.levels=1", "sp2ps=false")
    with pytest.raises(UnreachableRatio, match=r"of UNet's 36 prunable filters can be removed"):
        run(cfg)
    written = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert written["run.status"] == "failed" and "0.806" in written["run.error"]
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()  # no fine-tune epoch


def test_cli_exits_2_with_one_line(tmp_path: Path) -> None:
    """The issue's case: ``experiment=smoke pruning.ratio=0.999`` used to complete with 0.806 removed."""
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [
            *TRAIN_COMMAND,
            "experiment=smoke",
            "pruning=l1",
            "pruning.ratio=0.999",
            f"paths.log_dir={tmp_path / 'outputs'}",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=REPO_ROOT,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        "error: pruning.ratio=0.999 cannot be reached: every layer keeps pruning.min_channels=1 and the output "
        "layers are never pruned, so at most 0.806 of UNet's 36 prunable filters can be removed; lower "
        "pruning.ratio to 0.806 or less"
    )
    assert not (tmp_path / "outputs" / "baselines").exists()
