"""Fine-tune strategies: the LR warm-up of a segment (``finetune.warmup_fraction``) and feature-map distillation at
the pruned convs (``distill.feature_weight``), in real (tiny) fits and on the real scheduler."""

from __future__ import annotations

import copy
import functools
import math
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from prunescope.data.digit_scenes import DigitScenesDataModule
from prunescope.fitting.callback import PruningCallback
from prunescope.fitting.finetune_optimizer import segment_scheduler
from prunescope.models.registry import build_model
from prunescope.modules import SegmentationModule
from prunescope.modules.feature_distillation import FeatureDistillation, adapter_key, is_feature_layer
from prunescope.pruning import PruningConfig, PruningOptions, prune, replay
from prunescope.pruning.options import FinetuneOptions
from support import TINY_MODELS

LR = 0.01
NUM_CLASSES = 11  # digit scenes: background + 10 digits
TINY_UNET = {**TINY_MODELS["unet"], "num_classes": NUM_CLASSES}


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


def tiny_module() -> SegmentationModule:
    torch.manual_seed(0)
    net = build_model("unet", **TINY_UNET)
    return SegmentationModule(
        net, optimizer=functools.partial(torch.optim.Adam, lr=0.1), num_classes=NUM_CLASSES
    )


def fit(
    callback: PruningCallback,
    module: SegmentationModule,
    *probes: pl.Callback,
    epochs: int = 4,
    ckpt_path: Path | None = None,
    **trainer_options: Any,
) -> pl.Trainer:
    options: dict[str, Any] = {
        "limit_train_batches": 2,
        "limit_val_batches": 0,
        "num_sanity_val_steps": 0,
        "accelerator": "cpu",
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        **trainer_options,
    }
    trainer = pl.Trainer(max_epochs=epochs, callbacks=[callback, *probes], **options)
    trainer.fit(module, datamodule=tiny_data(), ckpt_path=ckpt_path)
    return trainer


def callback(teacher: torch.nn.Module | None = None, **overrides: Any) -> PruningCallback:
    options: dict[str, Any] = {"method": "l1", "ratio": 0.5, "schedule": {"steps": 1}, "finetune": {"lr": LR}}
    options.update(overrides)
    return PruningCallback(PruningConfig(**options), teacher=teacher)


class StepLR(pl.Callback):
    """The LR of every optimizer step."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def lrs_of(scheduler_factory: Any, steps: int) -> list[float]:
    """The LR sequence a scheduler gives over ``steps`` scheduler steps on a one-parameter SGD at ``LR``."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    scheduler = scheduler_factory(optimizer=optimizer)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


# ------------------------------------------------------------------------------------------------------ warm-up
def test_warmup_rises_linearly_then_follows_cosine_per_step() -> None:
    probe, module = StepLR(), tiny_module()
    fit(callback(finetune={"lr": LR, "warmup_fraction": 0.25}), module, probe)
    # 4 epochs of 2 steps: T = 8, W = round(0.25 * 8) = 2 steps of warm-up, then cosine over the other 6
    cosine = [(1 + math.cos(math.pi * u / 6)) / 2 for u in range(6)]
    assert probe.lrs == pytest.approx([LR * f for f in [0.5, 1.0, *cosine]])
    assert probe.lrs[0] < probe.lrs[1] == pytest.approx(LR)  # rises to finetune.lr
    assert module.scheduler_interval == "step"


def test_without_warmup_the_sequence_is_todays() -> None:
    probe = StepLR()
    fit(callback(finetune={"lr": LR, "warmup_fraction": 0.0}), tiny_module(), probe)
    # the segment's cosine, one LR per epoch (2 steps each), exactly as CosineAnnealingLR gives it
    per_epoch = lrs_of(functools.partial(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=4), 4)
    assert probe.lrs == [lr for lr in per_epoch for _ in range(2)]
    factory = segment_scheduler(FinetuneOptions(lr=LR), 4)
    assert factory.func is torch.optim.lr_scheduler.CosineAnnealingLR and factory.keywords == {"T_max": 4}


@pytest.mark.parametrize(
    ("schedule", "after_warmup"),
    [("constant", [1.0] * 6), ("step", [1.0, 1.0, 1.0, 0.1, 0.01, 0.01])],  # milestones 3, 4 of the other 6
)
def test_warmup_then_other_schedules(schedule: str, after_warmup: list[float]) -> None:
    options = FinetuneOptions(lr=LR, schedule=schedule, gamma=0.1, warmup_fraction=0.25)
    assert lrs_of(segment_scheduler(options, 8), 8) == pytest.approx(
        [LR * f for f in [0.5, 1.0, *after_warmup]]
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"finetune": {"warmup_fraction": 1.0}}, "finetune.warmup_fraction must be in [0, 1), got 1.0"),
        ({"finetune": {"warmup_fraction": -0.1}}, "finetune.warmup_fraction must be in [0, 1), got -0.1"),
        ({"finetune": {"warmup_fraction": "abc"}}, "finetune.warmup_fraction must be a number, got 'abc'"),
        ({"distill": {"feature_weight": -1.0}}, "distill.feature_weight must be >= 0, got -1.0"),
        ({"distill": {"feature_weight": "abc"}}, "distill.feature_weight must be a number, got 'abc'"),
    ],
)
def test_invalid_values_give_one_line(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as error:
        PruningConfig(method="l1", **options)
    assert str(error.value) == f"pruning: {message}"


# ------------------------------------------------------------------------------------------ feature distillation
def conv_channels(net: torch.nn.Module) -> dict[str, list[int]]:
    return {name: list(range(m.out_channels)) for name, m in net.named_modules() if is_feature_layer(m)}


def feature_loss(
    distillation: FeatureDistillation, student: torch.nn.Module, teacher: torch.nn.Module
) -> torch.Tensor:
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    student(images)
    with torch.no_grad():
        teacher(images)
    return distillation.loss()


def test_loss_is_zero_for_the_baseline_itself_at_ratio_0() -> None:
    teacher = build_model("unet", **TINY_MODELS["unet"]).train()  # both in training mode: same BN statistics
    student = copy.deepcopy(teacher)
    result = prune(student, PruningOptions(method="l1", ratio=0.0), torch.randn(1, 3, 32, 32))
    student.train()
    kept = {name: idx for name, idx in result.kept.items() if name in conv_channels(student)}
    assert kept and all(idx == list(range(len(idx))) for idx in kept.values())  # ratio 0 keeps every channel
    distillation = FeatureDistillation(student, teacher, kept)
    try:
        for name in kept:  # identity adapters
            weight = distillation.adapters[adapter_key(name)].weight[:, :, 0, 0]
            assert torch.equal(weight, torch.eye(weight.shape[0]))
        assert feature_loss(distillation, student, teacher).item() == 0.0
    finally:
        distillation.release()


@pytest.mark.parametrize("model", ["unet", "vgg16"])
def test_a_few_steps_reduce_the_feature_loss(model: str) -> None:
    torch.manual_seed(0)
    teacher = build_model(model, **TINY_MODELS[model]).eval()
    student = copy.deepcopy(teacher)
    result = prune(student, PruningOptions(method="l1", ratio=0.5), torch.randn(1, 3, 32, 32))
    student.train()
    channels = {name: idx for name, idx in result.kept.items() if name in conv_channels(student)}
    distillation = FeatureDistillation(student, teacher, channels)
    try:
        for name, kept in channels.items():  # the adapter puts each kept channel back at its baseline index
            weight = distillation.adapters[adapter_key(name)].weight[:, :, 0, 0]
            assert torch.equal(weight[kept, range(len(kept))], torch.ones(len(kept)))
            assert weight.sum().item() == len(kept)
        optimizer = torch.optim.Adam([*student.parameters(), *distillation.parameters()], lr=1e-2)
        losses = []
        for _ in range(8):
            loss = feature_loss(distillation, student, teacher)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert losses[-1] < 0.9 * losses[0]
    finally:
        distillation.release()
    assert not any(m._forward_hooks for m in [*student.modules(), *teacher.modules()])  # released


def test_adapters_are_trained_in_the_fit_and_no_part_of_the_pruned_model() -> None:
    module = tiny_module()
    pruning = callback(teacher=module.net, distill={"feature_weight": 1.0})
    trainer = fit(pruning, module, epochs=2)
    assert "train/feature_distill_loss" in trainer.callback_metrics
    # discarded after the fine-tune: no adapter on the module, no hook left on student or teacher
    assert module.feature_distillation is None
    assert not any(m._forward_hooks for m in [*module.net.modules(), *module.teacher.modules()])
    # the pruned model is the record's architecture: same parameters and state-dict keys as a replay on a fresh net
    fresh = replay(build_model("unet", **TINY_UNET), module.pruning_record)
    assert sum(p.numel() for p in module.net.parameters()) == sum(p.numel() for p in fresh.parameters())
    assert set(module.state_dict()) == {f"net.{key}" for key in fresh.state_dict()}
    # the adapters were trained (they left the identity on the kept channels), and kept in the callback's state
    state = pruning.state_dict()
    assert state["feature_adapters"] and set(state["feature_adapters"]) == set(state["feature_channels"])
    changed = []
    for name, weight in state["feature_adapters"].items():
        kept = state["feature_channels"][name]
        start = torch.zeros_like(weight)
        start[kept, range(len(kept)), 0, 0] = 1.0
        changed.append(not torch.equal(weight, start))
    assert any(changed)


def test_default_state_has_no_feature_entries() -> None:
    state = callback().state_dict()
    assert "feature_channels" not in state and "feature_adapters" not in state


def test_resumed_fine_tune_continues_adapters_and_warmup(tmp_path: Path) -> None:
    """Two steps (epochs 0 and 2) with feature distillation and a warm-up, killed after epoch 0 and resumed from its
    checkpoint: the same network as the uninterrupted fit."""
    options = {
        "schedule": {"steps": 2, "at_epochs": [0, 2]},
        "finetune": {"lr": LR, "warmup_fraction": 0.25},
        "distill": {"feature_weight": 1.0},
    }
    checkpoints = ModelCheckpoint(dirpath=tmp_path, filename="{epoch}", save_top_k=-1)
    whole = tiny_module()
    whole_callback = callback(teacher=whole.net, **options)
    fit(whole_callback, whole, checkpoints, epochs=3, enable_checkpointing=True)
    assert len(whole_callback.state_dict()["feature_adapters"]) > 0

    resumed = tiny_module()  # same seed: the same baseline, hence the same teacher
    resumed_callback = callback(teacher=tiny_module().net, **options)
    fit(resumed_callback, resumed, epochs=3, ckpt_path=tmp_path / "epoch=0.ckpt")
    assert resumed.pruning_record == whole.pruning_record
    for (name, a), b in zip(whole.net.state_dict().items(), resumed.net.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), name
    for name, weight in whole_callback.state_dict()["feature_adapters"].items():
        assert torch.allclose(weight, resumed_callback.state_dict()["feature_adapters"][name], atol=1e-6), (
            name
        )
