"""Unusable checkpoint files fail with one line naming the file, what it is and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from prunescope.checkpoints import CheckpointError, load_checkpoint_into, read_checkpoint, save_checkpoint
from prunescope.models.unet import UNet
from prunescope.modules import SegmentationModule


def unet_module(base_channels: int) -> SegmentationModule:
    net = UNet(num_classes=3, depth=2, base_channels=base_channels)
    module = SegmentationModule(net, optimizer=torch.optim.Adam, num_classes=3)
    module.model_config = {
        "net": {"_target_": "prunescope.models.unet.UNet", "depth": 2, "base_channels": base_channels}
    }
    return module


def test_empty_truncated_directory_and_foreign_files(tmp_path: Path) -> None:
    good = save_checkpoint(unet_module(4), tmp_path / "good.ckpt")
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    foreign = tmp_path / "foreign.ckpt"
    torch.save([1, 2, 3], foreign)
    cases = {
        empty: "is an empty file (0 bytes)",
        truncated: "cannot be read, it is truncated or not a torch file",
        tmp_path: "is a directory",
        foreign: "has no state_dict",
    }
    for path, phrase in cases.items():
        with pytest.raises(CheckpointError) as error:
            read_checkpoint(path)
        message = str(error.value)
        assert phrase in message and str(path) in message and "expected a .ckpt" in message
        assert "\n" not in message
    assert read_checkpoint(good)["state_dict"]


def test_wrong_architecture_names_both_configs(tmp_path: Path) -> None:
    path = save_checkpoint(unet_module(8), tmp_path / "wide.ckpt")
    with pytest.raises(CheckpointError) as error:
        load_checkpoint_into(unet_module(4), path)
    message = str(error.value)
    assert "was made for another architecture" in message
    assert "UNet(depth=2, base_channels=8)" in message and "UNet(depth=2, base_channels=4)" in message
    assert "\n" not in message


def test_eval_command_reports_a_bad_checkpoint_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    empty = tmp_path / "run" / "checkpoints" / "last.ckpt"
    empty.parent.mkdir(parents=True)
    empty.write_bytes(b"")
    done = subprocess.run(
        [sys.executable, "-m", "prunescope.eval", f"ckpt_path={empty}", f"hydra.run.dir={tmp_path / 'eval'}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: checkpoint {empty} is an empty file (0 bytes); expected a .ckpt written by prunescope-train "
        "(state_dict + pruning_record, torch.save format)"
    )
