"""``trainer.precision: auto``: one fixed rule, resolved once per run into the config (so the baseline-cache key,
every trainer and ``metrics.json`` see the concrete value); explicit values pass through; bad values fail in one
line; and what must stay fp32 (pruning statistics, CAMs, export) does so under bf16-mixed."""

from __future__ import annotations

import copy
import functools
import json
import subprocess
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from prunescope.baselines.cache import baseline_key
from prunescope.baselines.material import baseline_key_material
from prunescope.cam.pairs import cam_pairs
from prunescope.config_checks import ConfigError
from prunescope.deploy.pipeline import export_network
from prunescope.fitting.callback import PruningCallback
from prunescope.metrics.efficiency import count_macs
from prunescope.models.vgg16 import VGG16
from prunescope.modules import ClassificationModule
from prunescope.precision import (
    BF16_MIN_STEP_GMACS,
    choose_precision,
    cpu_bf16_fast,
    resolve_run_precision,
)
from prunescope.pruning import PruningConfig, PruningOptions, prune
from prunescope.train import run
from support import REPO_ROOT
from test_sweep import TRAIN_COMMAND, cli_env

needs_bf16_cpu = pytest.mark.skipif(
    not cpu_bf16_fast(), reason="this CPU has no native bf16 (amx/avx512_bf16)"
)


@pytest.fixture
def cpuinfo(tmp_path: Path):
    """``cpuinfo(bf16)``: a /proc/cpuinfo-like file of a CPU with or without the avx512_bf16 flag."""

    def write(bf16: bool) -> Path:
        flags = "fpu sse2 avx2 avx512f" + (" avx512_bf16" if bf16 else "")
        path = tmp_path / f"cpuinfo_{bf16}"
        path.write_text(f"processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
        return path

    return write


@pytest.mark.parametrize("trainer", ["cpu", "gpu", "ddp"])
def test_every_trainer_config_defaults_to_auto(make_cfg, trainer: str) -> None:
    assert make_cfg(f"trainer={trainer}", small=False).trainer.precision == "auto"


def test_auto_picks_bf16_only_for_big_steps_on_a_bf16_cpu(make_cfg, cpuinfo) -> None:
    demo = make_cfg(small=False)  # the default run: U-Net width 8, 40x40 digit scenes, batch 16
    study = make_cfg("experiment=vgg16_cifar10_cpu", small=False)  # quarter-width VGG-16, 32x32, batch 128
    tiny = make_cfg("experiment=smoke", small=False)  # the tests' U-Net: width 4, depth 2, batch 8
    vgg = VGG16(num_classes=10, head="cifar_fc", width_mult=0.25, dropout=0.0)
    study_gmacs = count_macs(vgg, torch.zeros(1, 3, 32, 32)) * 128 / 1e9  # 2.55
    assert (
        study_gmacs > 0.29 > BF16_MIN_STEP_GMACS["cpu"] > 0.01
    )  # the demo's step is 0.29 GMACs, smoke's 0.008

    value, why = choose_precision(study, cpuinfo(True))
    assert value == "bf16-mixed" and f"{study_gmacs:.2f} GMACs" in why
    value, why = choose_precision(demo, cpuinfo(True))
    assert value == "bf16-mixed" and "0.29 GMACs" in why
    value, why = choose_precision(tiny, cpuinfo(True))
    assert value == "32-true" and "0.01 GMACs" in why
    for cfg in (demo, study):  # no native bf16: never bf16
        assert choose_precision(cfg, cpuinfo(False)) == (
            "32-true",
            "auto: this CPU has neither the amx_bf16 nor the avx512_bf16 flag",
        )
    # the same config resolves alike every time (no timing): it is part of the baseline-cache key
    assert choose_precision(study, cpuinfo(True))[0] == choose_precision(study, cpuinfo(True))[0]


@pytest.mark.parametrize("value", ["32-true", "16-mixed", "64-true", 32])
def test_explicit_values_pass_through_unchanged(make_cfg, cpuinfo, value) -> None:
    cfg = make_cfg(f"trainer.precision={value}", "experiment=vgg16_cifar10_cpu", small=False)
    assert choose_precision(cfg, cpuinfo(True)) == (value, "set explicitly")
    assert choose_precision(cfg, cpuinfo(False)) == (value, "set explicitly")


def test_bad_precisions_are_named_with_the_valid_ones(make_cfg, cpuinfo) -> None:
    with pytest.raises(ConfigError) as error:
        choose_precision(make_cfg("trainer.precision=fp8"), cpuinfo(True))
    assert str(error.value) == (
        "trainer.precision=fp8 is not a precision; valid: auto, 32-true, bf16-mixed, bf16-true, 16-mixed, 16-true, "
        "64-true, transformer-engine, transformer-engine-float16, 32, 16, bf16, 64"
    )
    with pytest.raises(ConfigError) as error:
        choose_precision(make_cfg("trainer.precision=bf16-mixed"), cpuinfo(False))
    assert str(error.value) == (
        "trainer.precision=bf16-mixed needs native bf16 and this CPU has neither the amx_bf16 nor the avx512_bf16 "
        "flag; valid here: auto, 32-true, 16-mixed, 16-true, 64-true, transformer-engine, "
        "transformer-engine-float16, 32, 16, 64"
    )
    assert choose_precision(make_cfg("trainer.precision=bf16-mixed"), cpuinfo(True))[0] == "bf16-mixed"


def test_unknown_precision_exits_2_before_any_work(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [
            *TRAIN_COMMAND,
            "trainer.precision=fp8",
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
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "error: trainer.precision=fp8 is not a precision; valid: auto, 32-true, bf16-mixed"
    )
    assert not (run_dir / "metrics.json").exists() and not (tmp_path / "outputs" / "baselines").exists()


def test_run_resolves_once_and_records_the_concrete_value(make_cfg) -> None:
    cfg = make_cfg()  # tiny U-Net: far below the bf16 bound on any machine
    values = run(cfg)
    assert cfg.trainer.precision == "32-true"  # written into the config: every later reader sees it
    assert values["run.precision"] == "32-true"
    written = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert written["run.precision"] == "32-true" and written["run.status"] == "completed"


def test_resolved_auto_shares_the_baseline_key_of_its_explicit_value(make_cfg) -> None:
    auto = make_cfg("experiment=vgg16_cifar10_cpu", small=False)
    value = resolve_run_precision(auto)
    assert value != "auto"
    explicit = make_cfg("experiment=vgg16_cifar10_cpu", f"trainer.precision={value}", small=False)
    other = make_cfg("experiment=vgg16_cifar10_cpu", "trainer.precision=64-true", small=False)
    key = baseline_key(baseline_key_material(auto))
    assert key == baseline_key(baseline_key_material(explicit))
    assert key != baseline_key(baseline_key_material(other))


# ----------------------------------------------------------------------------------------- fp32 islands


def _net(width: float = 0.25) -> VGG16:
    torch.manual_seed(0)
    return VGG16(num_classes=10, head="cifar_fc", width_mult=width, dropout=0.0)


def _batches(count: int = 2, size: int = 16) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    return [
        (torch.randn(size, 3, 32, 32, generator=generator), torch.arange(size) % 10) for _ in range(count)
    ]


@needs_bf16_cpu
@pytest.mark.parametrize("method", ["pca_nci", "isd"])
def test_pruning_statistics_stay_fp32_inside_autocast(method: str) -> None:
    """A bf16 autocast region around prune() (as inside a bf16-mixed Lightning step) selects the same channels
    (without the fp32 guard both criteria pick other channels here: bf16 activations move close scores)."""
    calibration = _batches()
    options = PruningOptions(method=method, ratio=0.7, calibration_batches=2)
    kept = prune(_net(), options, calibration[0][0][:1], calibration)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = prune(_net(), options, calibration[0][0][:1], calibration)
    assert under.record == kept.record and under.removed == kept.removed


class AutocastProbe(pl.Callback):
    """Per forward of the network: was it a training forward, and did bf16 autocast run it?"""

    def __init__(self) -> None:
        self.forwards: list[tuple[bool, torch.dtype]] = []

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        def record(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            self.forwards.append((module.training, output.dtype))

        pl_module.net.register_forward_hook(record)


def _fit_with_pruning(method: str, precision: str) -> tuple[ClassificationModule, AutocastProbe]:
    module = ClassificationModule(
        _net(), optimizer=functools.partial(torch.optim.SGD, lr=0.01, momentum=0.9), num_classes=10
    )
    data = TensorDataset(*(torch.cat(parts) for parts in zip(*_batches(4), strict=True)))
    probe = AutocastProbe()
    config = PruningConfig(
        method=method,
        ratio=0.5,
        calibration_batches=2,
        schedule={"steps": 1, "at_epochs": [0]},
        finetune={"lr": 0.01},
    )
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        precision=precision,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[PruningCallback(config), probe],
    )
    trainer.fit(module, train_dataloaders=DataLoader(data, batch_size=16))
    return module, probe


@needs_bf16_cpu
@pytest.mark.parametrize("method", ["pca_nci", "isd"])
def test_a_bf16_mixed_fit_prunes_the_same_channels_as_fp32(method: str) -> None:
    """What ``auto`` resolves to on this machine for the studies: training steps in bf16, the pruning step's
    calibration (at the start of the epoch, from the same weights) in fp32, so both fits remove the same filters."""
    fp32, fp32_probe = _fit_with_pruning(method, "32-true")
    mixed, mixed_probe = _fit_with_pruning(method, "bf16-mixed")
    assert mixed.pruning_record == fp32.pruning_record
    training = {dtype for is_training, dtype in mixed_probe.forwards if is_training}
    calibration = {dtype for is_training, dtype in mixed_probe.forwards if not is_training}
    assert training == {torch.bfloat16} and calibration == {torch.float32}
    assert {dtype for _, dtype in fp32_probe.forwards} == {torch.float32}


@needs_bf16_cpu
def test_cams_stay_fp32_inside_autocast() -> None:
    baseline, pruned = _net().eval(), copy.deepcopy(_net(0.125)).eval()
    images, labels = _batches(1, 4)[0]
    expected = cam_pairs(baseline, pruned, images, labels)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = cam_pairs(baseline, pruned, images, labels)
    assert under.h0.dtype == under.h1.dtype == torch.float32
    torch.testing.assert_close(under.h0, expected.h0, rtol=0, atol=1e-6)
    torch.testing.assert_close(under.h1, expected.h1, rtol=0, atol=1e-6)


@needs_bf16_cpu
def test_export_stays_fp32_inside_autocast(tmp_path: Path) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        exported = export_network(_net(0.125), [1, 3, 32, 32], tmp_path / "net.onnx", tolerance=1e-4)
    assert exported.max_relative_error <= 1e-4
