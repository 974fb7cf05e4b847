"""PruningCallback in real (tiny) Lightning fits: schedule, optimizer rebuild, LR restarts, resume, KD."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from torch.utils.data import TensorDataset

from prunescope.data.digit_scenes import DigitScenesDataModule
from prunescope.fitting.callback import PruningCallback
from prunescope.metrics.efficiency import count_macs
from prunescope.models.unet import UNet
from prunescope.models.vgg16 import VGG16
from prunescope.modules import ClassificationModule, SegmentationModule
from prunescope.progress import format_count
from prunescope.pruning import PruningConfig, PruningOptions, prunable_units, prune, replay

NUM_CLASSES = 11
FINETUNE_LR = 0.01
OPTIMIZERS = {
    "adam": functools.partial(torch.optim.Adam, lr=0.1),
    "sgd_momentum": functools.partial(torch.optim.SGD, lr=0.1, momentum=0.9),
}


@pytest.fixture(scope="module", autouse=True)
def single_thread() -> Iterator[None]:
    """Tiny models run far faster on one intra-op thread, above all on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_data() -> DigitScenesDataModule:
    return DigitScenesDataModule(
        batch_size=4,
        image_size=16,
        num_train=12,
        num_val=4,
        num_test=4,
        digit_size=(6, 12),
        min_digits=1,
        max_digits=3,
        seed=0,
    )


def tiny_module(optimizer: str = "adam", depth: int = 3) -> SegmentationModule:
    torch.manual_seed(0)
    net = UNet(num_classes=NUM_CLASSES, depth=depth, base_channels=4)
    return SegmentationModule(net, optimizer=OPTIMIZERS[optimizer], num_classes=NUM_CLASSES)


def make_callback(teacher: torch.nn.Module | None = None, **overrides: Any) -> PruningCallback:
    options: dict[str, Any] = {
        "method": "l1",
        "ratio": 0.5,
        "schedule": {"steps": 2, "kind": "linear", "at_epochs": [0, 2]},
        "finetune": {"lr": FINETUNE_LR},
    }
    options.update(overrides)
    return PruningCallback(PruningConfig(**options), teacher=teacher)


def make_trainer(callbacks: list[pl.Callback], max_epochs: int = 3, **kwargs: Any) -> pl.Trainer:
    options: dict[str, Any] = {
        "max_epochs": max_epochs,
        "limit_train_batches": 2,
        "limit_val_batches": 0,
        "num_sanity_val_steps": 0,
        "accelerator": "cpu",
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    options.update(kwargs)
    return pl.Trainer(callbacks=callbacks, **options)


def prunable_filters(net: torch.nn.Module) -> int:
    _, units = prunable_units(net, torch.randn(1, 3, 16, 16))
    return sum(unit.weight * unit.channels for unit in units)


class Probe(pl.Callback):
    """Records, at every epoch start (after the pruning callback ran) and end, what the tests assert on."""

    def __init__(self) -> None:
        self.params: list[int] = []
        self.filters: list[int] = []
        self.lrs: list[float] = []
        self.optimizer_matches_model: list[bool] = []
        self.state_shapes_match: list[bool] = []

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        optimizer = trainer.optimizers[0]
        self.params.append(sum(p.numel() for p in pl_module.parameters()))
        self.filters.append(prunable_filters(pl_module.net))
        self.lrs.append(optimizer.param_groups[0]["lr"])
        in_optimizer = [p for group in optimizer.param_groups for p in group["params"]]
        self.optimizer_matches_model.append(
            len(in_optimizer) == len(list(pl_module.parameters()))
            and {id(p) for p in in_optimizer} == {id(p) for p in pl_module.parameters()}
        )

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        optimizer = trainer.optimizers[0]
        shapes_ok = bool(optimizer.state)
        for param, state in optimizer.state.items():
            for value in state.values():
                if torch.is_tensor(value) and value.dim() > 0:
                    shapes_ok &= value.shape == param.shape
        self.state_shapes_match.append(shapes_ok)


# ------------------------------------------------------------------------------------------------ construction
def test_unknown_method_lists_valid_methods() -> None:
    with pytest.raises(ValueError, match=r"unknown method 'l3'.*l1, l2.*pca_nci"):
        make_callback(method="l3")


def test_every_invalid_option_in_one_message() -> None:
    with pytest.raises(ValueError) as error:
        make_callback(ratio=1.0, schedule={"steps": 0, "kind": "cubic"}, finetune={"schedule": "linear"})
    message = str(error.value)
    assert "ratio must be in [0, 1)" in message
    assert "schedule.steps must be >= 1" in message
    assert "unknown schedule.kind 'cubic' (valid: linear, geometric)" in message
    assert "unknown finetune.schedule 'linear' (valid: cosine, constant, step)" in message


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"schedule": {"steps": 2, "every": 1}}, "unknown schedule key"),
        ({"schedule": {"steps": 2, "at_epochs": [3]}}, "at_epochs has 1 entries"),
        ({"layers": {"levels": -1}}, "layers.levels"),
        ({"distill": {"alpha": 2.0}}, "distill.alpha"),
        ({"method": "pca_nci", "method_options": {"varianse": 0.9}}, "varianse"),
    ],
)
def test_invalid_options(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_callback(**overrides)


def test_schedule_beyond_max_epochs_fails_before_training() -> None:
    module = tiny_module()
    with pytest.raises(ValueError, match="max_epochs=2"):
        make_trainer([make_callback()], max_epochs=2).fit(module, datamodule=tiny_data())


# ------------------------------------------------------------------------------------------------ schedule in a fit
class ScheduledRun:
    """One fit with steps at epochs 0 and 2 (linear to 0.5) and a checkpoint after every epoch."""

    def __init__(self, optimizer: str, checkpoint_dir: Path | None = None) -> None:
        self.module = tiny_module(optimizer)
        self.original_params = sum(p.numel() for p in self.module.parameters())
        self.original_filters = prunable_filters(self.module.net)
        self.callback, self.probe = make_callback(), Probe()
        callbacks: list[pl.Callback] = [self.callback, self.probe]
        if checkpoint_dir is not None:
            callbacks.append(ModelCheckpoint(dirpath=checkpoint_dir, filename="{epoch}", save_top_k=-1))
        self.trainer = make_trainer(callbacks, max_epochs=3, enable_checkpointing=checkpoint_dir is not None)
        self.trainer.fit(self.module, datamodule=tiny_data())


@pytest.fixture(scope="module")
def adam_run(tmp_path_factory: pytest.TempPathFactory) -> ScheduledRun:
    return ScheduledRun("adam", tmp_path_factory.mktemp("checkpoints"))


@pytest.fixture(scope="module")
def sgd_run() -> ScheduledRun:
    return ScheduledRun("sgd_momentum")


@pytest.mark.parametrize("run_name", ["adam_run", "sgd_run"])
def test_prunes_at_scheduled_epochs_and_rebuilds_the_optimizer(
    run_name: str, request: pytest.FixtureRequest
) -> None:
    run: ScheduledRun = request.getfixturevalue(run_name)
    probe = run.probe
    # params drop at epochs 0 and 2 only
    assert probe.params[0] < run.original_params
    assert probe.params[1] == probe.params[0]
    assert probe.params[2] < probe.params[1]
    # cumulative removed fraction follows the linear schedule 0.25, 0.5 (to one filter)
    removed = [1 - f / run.original_filters for f in probe.filters]
    assert removed == pytest.approx([0.25, 0.25, 0.5], abs=1.0 / run.original_filters)
    # the optimizer holds exactly the current parameters, and its state (Adam moments / momentum) their shapes
    assert probe.optimizer_matches_model == [True, True, True]
    assert probe.state_shapes_match == [True, True, True]
    # LR restarts at finetune.lr after each step, cosine over the segment (2 epochs, then 1)
    assert probe.lrs == pytest.approx([FINETUNE_LR, FINETUNE_LR / 2, FINETUNE_LR])
    assert run.callback.progress.steps_done == 2


def test_record_replays_on_a_fresh_net(adam_run: ScheduledRun) -> None:
    module = adam_run.module
    assert [op["op"] for op in module.pruning_record] == ["channels", "channels"]
    fresh = UNet(num_classes=NUM_CLASSES, depth=3, base_channels=4)
    replay(fresh, module.pruning_record)
    fresh.load_state_dict(module.net.state_dict())
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(fresh.eval()(x), module.net.eval()(x))


def test_progress_and_logged_metrics(adam_run: ScheduledRun) -> None:
    progress, net = adam_run.callback.progress, adam_run.module.net
    params_now = sum(p.numel() for p in net.parameters())
    assert progress.steps_done == 2 and len(progress.steps) == 2
    assert progress.seconds > 0
    assert progress.filters_original == adam_run.original_filters
    assert progress.filters_now == prunable_filters(net)
    assert progress.ratio_removed == pytest.approx(0.5, abs=1.0 / adam_run.original_filters)
    assert progress.steps[-1]["params"] == params_now
    assert progress.steps[-1]["macs"] == count_macs(net, torch.randn(1, 3, 16, 16))
    logged = adam_run.trainer.callback_metrics  # from the last step (epoch 2)
    assert float(logged["prune/step"]) == 2.0
    assert float(logged["prune/params"]) == params_now
    assert float(logged["prune/ratio_removed"]) == pytest.approx(0.5, abs=1.0 / adam_run.original_filters)


def test_step_lines_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    module = tiny_module()
    with caplog.at_level("INFO", logger="prunescope.progress"):
        make_trainer([make_callback(schedule={"steps": 1})], max_epochs=1).fit(module, datamodule=tiny_data())
    lines = [r.getMessage() for r in caplog.records if r.name == "prunescope.progress"]
    assert len(lines) == 1 and lines[0].startswith("prune step 1/1 l1: removed ")
    assert f"params {format_count(sum(p.numel() for p in module.net.parameters()))} (" in lines[0]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("constant", [1.0, 1.0, 1.0, 1.0]),
        ("step", [1.0, 1.0, 0.1, 0.01]),
        ("cosine", [1.0, 0.8535534, 0.5, 0.1464466]),
    ],
)
def test_finetune_schedules(schedule: str, expected: list[float]) -> None:
    probe = Probe()
    callback = make_callback(schedule={"steps": 1}, finetune={"lr": FINETUNE_LR, "schedule": schedule})
    make_trainer([callback, probe], max_epochs=4).fit(tiny_module(), datamodule=tiny_data())
    assert probe.lrs == pytest.approx([FINETUNE_LR * f for f in expected])


def test_geometric_schedule_with_calibration_method_and_distillation() -> None:
    module = tiny_module()
    original = prunable_filters(module.net)
    baseline_params = sum(p.numel() for p in module.net.parameters())
    callback, probe = (
        make_callback(
            teacher=module.net,
            method="taylor",
            ratio=0.75,
            schedule={"steps": 2, "kind": "geometric"},
            calibration_batches=1,
            distill={"alpha": 0.5, "temperature": 2.0},
        ),
        Probe(),
    )
    trainer = make_trainer([callback, probe], max_epochs=2)
    trainer.fit(module, datamodule=tiny_data())
    removed = [1 - f / original for f in probe.filters]
    assert removed == pytest.approx([0.5, 0.75], abs=1.0 / original)
    # distillation from the frozen, unpruned baseline
    assert module.teacher is not None
    assert module.distill_alpha == 0.5
    assert sum(p.numel() for p in module.teacher.parameters()) == baseline_params
    assert "train/distill_loss" in trainer.callback_metrics


def test_step_interval_cosine_spans_the_segment_in_optimizer_steps() -> None:
    module = tiny_module()
    module.scheduler_interval = "step"
    callback, probe = make_callback(schedule={"steps": 1}), Probe()
    trainer = make_trainer([callback, probe], max_epochs=2)
    trainer.fit(module, datamodule=tiny_data())
    assert trainer.lr_scheduler_configs[0].scheduler.T_max == 2 * 2  # 2 epochs of 2 batches
    assert probe.lrs == pytest.approx([FINETUNE_LR, FINETUNE_LR / 2])


def test_distillation_needs_the_baseline_as_teacher() -> None:
    baseline = tiny_module().net
    module = tiny_module()
    result = prune(module.net, PruningOptions(method="l1", ratio=0.2), torch.randn(1, 3, 16, 16))
    module.pruning_record.extend(result.record)
    trainer = make_trainer([make_callback(schedule={"steps": 1}, distill={"alpha": 0.3})], max_epochs=1)
    with pytest.raises(RuntimeError, match="needs the baseline network as teacher"):
        trainer.fit(module, datamodule=tiny_data())
    callback = make_callback(teacher=baseline, schedule={"steps": 1}, distill={"alpha": 0.3})
    make_trainer([callback], max_epochs=1).fit(module, datamodule=tiny_data())
    baseline_params = sum(p.numel() for p in baseline.parameters())
    assert sum(p.numel() for p in module.teacher.parameters()) == baseline_params


def test_classification_network() -> None:
    torch.manual_seed(0)
    images, labels = torch.randn(16, 3, 32, 32), torch.randint(0, 3, (16,))
    data = pl.LightningDataModule.from_datasets(train_dataset=TensorDataset(images, labels), batch_size=4)
    net = VGG16(num_classes=3, width_mult=0.125)
    module = ClassificationModule(net, optimizer=OPTIMIZERS["sgd_momentum"], num_classes=3)
    before = sum(p.numel() for p in net.parameters())
    callback = make_callback(method="fpgm", schedule={"steps": 2})
    make_trainer([callback], max_epochs=2).fit(module, datamodule=data)
    assert sum(p.numel() for p in module.net.parameters()) < before
    assert module(images[:2]).shape == (2, 3)
    assert callback.progress.ratio_removed == pytest.approx(0.5, abs=0.02)


# ------------------------------------------------------------------------------------------------ resume
def test_resume_mid_schedule_continues_without_repeating_steps(adam_run: ScheduledRun) -> None:
    checkpoint_path = Path(adam_run.trainer.checkpoint_callback.dirpath) / "epoch=0.ckpt"
    assert len(torch.load(checkpoint_path, weights_only=False)["pruning_record"]) == 1
    module, callback, probe = tiny_module(), make_callback(), Probe()
    make_trainer([callback, probe], max_epochs=3).fit(
        module, datamodule=tiny_data(), ckpt_path=checkpoint_path
    )
    assert callback.progress.steps_done == 2
    assert len(module.pruning_record) == 2
    assert module.pruning_record[0] == adam_run.module.pruning_record[0]
    # epochs 1 and 2 only: no step at 1 (done before the checkpoint), the second step at 2
    removed = [1 - f / adam_run.original_filters for f in probe.filters]
    assert removed == pytest.approx([0.25, 0.5], abs=1.0 / adam_run.original_filters)
    # the cosine position was restored (epoch 1 at lr/2), then the restart at the step
    assert probe.lrs == pytest.approx([FINETUNE_LR / 2, FINETUNE_LR])
    assert probe.optimizer_matches_model == [True, True]
    assert probe.state_shapes_match == [True, True]
    assert callback.progress.filters_original == adam_run.original_filters


def test_resume_with_a_different_schedule_is_rejected(adam_run: ScheduledRun) -> None:
    checkpoint_path = Path(adam_run.trainer.checkpoint_callback.dirpath) / "epoch=0.ckpt"
    with pytest.raises(ValueError, match="different schedule"):
        make_trainer([make_callback(ratio=0.3)], max_epochs=3).fit(
            tiny_module(), datamodule=tiny_data(), ckpt_path=checkpoint_path
        )


@pytest.mark.parametrize("target", ["params", "macs"])
def test_cost_target_is_met_by_every_step_of_a_schedule(target: str) -> None:
    """Two steps at 0.3 then 0.6 of the original parameters (or MACs), each within 0.5 points."""
    torch.manual_seed(0)
    net = UNet(num_classes=NUM_CLASSES, depth=3, base_channels=8)
    module = SegmentationModule(net, optimizer=OPTIMIZERS["adam"], num_classes=NUM_CLASSES)
    example = torch.zeros(1, 3, 16, 16)
    before = count_macs(net, example) if target == "macs" else sum(p.numel() for p in net.parameters())
    callback = make_callback(
        method="fpgm", ratio=0.6, target=target, schedule={"steps": 2, "at_epochs": [0, 1]}
    )
    make_trainer([callback], max_epochs=2).fit(module, datamodule=tiny_data())
    progress = callback.progress
    assert [step["ratio_goal"] for step in progress.steps] == pytest.approx([0.3, 0.6])
    for step in progress.steps:
        assert abs(step["target_removed"] - step["ratio_goal"]) <= 0.005
    after = (
        count_macs(module.net, example)
        if target == "macs"
        else sum(p.numel() for p in module.net.parameters())
    )
    assert abs((1 - after / before) - 0.6) <= 0.005
    assert progress.target_removed == pytest.approx(1 - after / before)
