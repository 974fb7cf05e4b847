"""The fine-tune's own protocol (``pruning.finetune``): optimizer arguments, batch size, batches per epoch."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import pytorch_lightning as pl
from omegaconf import DictConfig

from prunescope.pipeline import finetune as finetune_stage
from prunescope.pipeline.baseline import baseline_stage
from prunescope.pipeline.parts import build_parts


class BatchProbe(pl.Callback):
    """Records the size of every training batch and the optimizer's settings."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.groups: list[dict] = []
        self.labels: list[list[int]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.sizes.append(int(batch[0].shape[0]))
        self.labels.append(batch[1].tolist())
        self.groups.append(dict(trainer.optimizers[0].param_groups[0]))


def run_finetune(
    make_cfg: Callable[..., DictConfig], monkeypatch: pytest.MonkeyPatch, *overrides: str
) -> tuple[BatchProbe, object]:
    cfg = make_cfg(
        "model=vgg16", "data=digits", "pruning=l1", "pruning.ratio=0.3", "sp2ps=false", "finetune_epochs=2",
        *overrides,
    )  # fmt: skip
    parts = build_parts(cfg)
    baseline = baseline_stage(parts)
    probe = BatchProbe()
    monkeypatch.setattr(finetune_stage, "fresh_callbacks", lambda cfg: [probe])  # the configured callbacks
    finetune_stage.prune_finetune_stage(parts, baseline)
    return probe, parts


def test_fine_tune_protocol_applies_to_the_fine_tune_only(
    make_cfg: Callable[..., DictConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    probe, parts = run_finetune(
        make_cfg,
        monkeypatch,
        "pruning.finetune.batch_size=4",
        "pruning.finetune.limit_train_batches=3",
        "+pruning.finetune.optimizer.momentum=0.5",
        "+pruning.finetune.optimizer.nesterov=false",
        "pruning.finetune.lr=0.01",
        "pruning.finetune.schedule=constant",
    )
    assert probe.sizes == [4] * 6  # 3 batches of 4 in each of the 2 epochs
    assert all(g["momentum"] == 0.5 and g["nesterov"] is False for g in probe.groups)
    assert all(g["lr"] == pytest.approx(0.01) for g in probe.groups)
    assert all(g["weight_decay"] == parts.cfg.model.optimizer.weight_decay for g in probe.groups)  # kept
    assert parts.datamodule.batch_size == parts.cfg.data.batch_size  # restored for the test stage


def test_default_protocol_uses_the_datas_batches(
    make_cfg: Callable[..., DictConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    probe, parts = run_finetune(make_cfg, monkeypatch)
    assert probe.sizes and probe.sizes[0] == parts.cfg.data.batch_size
    assert all(g["momentum"] == parts.cfg.model.optimizer.momentum for g in probe.groups)


def test_fine_tune_optimizer_may_not_set_the_lr(make_cfg: Callable[..., DictConfig]) -> None:
    cfg = make_cfg("pruning=l1", "+pruning.finetune.optimizer.lr=0.1")
    with pytest.raises(Exception, match="finetune.optimizer must not set lr"):  # noqa: B017 - Hydra wraps it
        build_parts(cfg)


def test_fine_tune_order_follows_the_run_seed_when_data_seed_is_fixed(
    make_cfg: Callable[..., DictConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A study shares one baseline across seeds (data.seed, baseline.seed fixed); its fine-tunes still differ."""
    orders = {}
    for seed in (0, 1):
        probe, parts = run_finetune(make_cfg, monkeypatch, f"seed={seed}", "data.seed=0", "baseline.seed=0")
        orders[seed] = probe.labels
        assert parts.datamodule.seed == 0  # restored for the test stage
    assert orders[0] != orders[1]
