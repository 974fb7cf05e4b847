"""``trainer=ddp`` sets ``sync_batchnorm: auto``: SyncBatchNorm on where the fit runs on CUDA, off on CPU (where
DDP refuses it); an explicit ``true`` without CUDA is one clear error before any training. The whole CPU run is
``tests/test_ddp_run.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from prunescope.config_checks import ConfigError
from prunescope.instantiate import build_trainer
from prunescope.sync_batchnorm import resolve_sync_batchnorm
from prunescope.train import run

CPU_DDP = ("trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2")


def test_ddp_on_cpu_builds_a_trainer_without_sync_batchnorm(make_cfg) -> None:
    cfg = make_cfg(*CPU_DDP)
    assert cfg.trainer.sync_batchnorm == "auto"
    trainer = build_trainer(cfg, callbacks=[], loggers=False)
    assert trainer.strategy.__class__.__name__ == "DDPStrategy"
    assert trainer.strategy._layer_sync is None  # no SyncBatchNorm conversion at fit start


@pytest.mark.parametrize(
    ("accelerator", "expected"),
    [("cpu", False), ("mps", False), ("gpu", True), ("cuda", True), ("auto", torch.cuda.is_available())],
)
def test_auto_is_on_only_where_the_fit_runs_on_cuda(accelerator: str, expected: bool) -> None:
    resolved = resolve_sync_batchnorm({"accelerator": accelerator, "sync_batchnorm": "auto"})
    assert resolved == {"sync_batchnorm": expected}
    assert resolve_sync_batchnorm({"accelerator": accelerator, "sync_batchnorm": False}) == {
        "sync_batchnorm": False
    }
    assert resolve_sync_batchnorm({"accelerator": accelerator}) == {}  # not set: Lightning's default


def test_explicit_sync_batchnorm_on_cpu_fails_before_training(make_cfg) -> None:
    cfg = make_cfg(*CPU_DDP, "trainer.sync_batchnorm=true")
    message = (
        "trainer.sync_batchnorm=true needs CUDA devices (SyncBatchNorm runs on GPUs only), and "
        "trainer.accelerator=cpu is not CUDA; valid: trainer.sync_batchnorm=auto (on when the fit runs on CUDA) "
        "or false"
    )
    with pytest.raises(ConfigError) as raised:
        run(cfg)
    assert str(raised.value) == message
    written = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert written["run.status"] == "failed" and written["run.error"].endswith(message)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()  # no epoch was trained
    with pytest.raises(ConfigError, match=r"trainer.sync_batchnorm='yes' is not valid; valid: auto, true"):
        resolve_sync_batchnorm({"accelerator": "cpu", "sync_batchnorm": "yes"})
