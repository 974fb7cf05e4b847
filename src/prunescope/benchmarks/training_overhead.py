"""Training overhead: a Lightning fine-tune step with the framework's callbacks vs a plain PyTorch loop.

Both run the same pruned network, the same training batches (the same loader) and the same loss
(``module.task_loss``) and optimizer factory. The Lightning side is what ``prunescope-train`` runs in its
fine-tune stage: the composed ``train.yaml`` (with the given overrides), its ``PruningCallback`` (which prunes at
the start of the fit, before the timed steps), ``Sp2PSCallback``, the configured callbacks and loggers. A step is
the time from one batch start to the next (data loading, forward, backward, optimizer, logging, hooks). Rounds
alternate Lightning and plain, each starting from the same baseline.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from prunescope import CONFIG_DIR
from prunescope.fitting.callback import PruningCallback
from prunescope.instantiate import build_module, build_trainer, fresh_callbacks, instantiate_group
from prunescope.modules.divergence import DivergenceGuard
from prunescope.seeding import seed_run


class StepTimer(pl.Callback):
    """Records ``time.perf_counter()`` at every training batch start and at the last batch end."""

    def __init__(self) -> None:
        self.marks: list[float] = []

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.marks.append(time.perf_counter())

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.marks.append(time.perf_counter())

    @property
    def steps(self) -> list[float]:
        """Seconds of each step (start to next start)."""
        return [b - a for a, b in zip(self.marks, self.marks[1:], strict=False)]


def compose_train_config(overrides: Sequence[str], output_dir: Path) -> DictConfig:
    """``train.yaml`` composed with ``overrides`` (inside a running Hydra app or not), writing to ``output_dir``."""
    if GlobalHydra.instance().is_initialized():
        cfg = compose(config_name="train", overrides=list(overrides))
    else:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name="train", overrides=list(overrides))
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    return cfg


def plain_loop(module: pl.LightningModule, loader, steps: int) -> list[float]:
    """Seconds of each of ``steps`` plain steps: next batch, forward, ``task_loss``, backward, optimizer step."""
    net = module.net.train()
    optimizer = module.optimizer_factory(params=[p for p in net.parameters() if p.requires_grad])
    marks = []
    batches = iter(loader)
    for _ in range(steps):
        marks.append(time.perf_counter())
        images, targets = next(batches)
        loss = module.task_loss(net(images), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    marks.append(time.perf_counter())
    return [b - a for a, b in zip(marks, marks[1:], strict=False)]


def training_overhead(
    overrides: Sequence[str], output_dir: Path, steps: int = 20, warmup: int = 3, rounds: int = 2
) -> dict[str, Any]:
    """Median step seconds of Lightning (with the framework's callbacks) and of a plain loop, and their ratio.

    Returns:
        ``lightning_step_ms``, ``plain_step_ms``, ``lightning_over_plain`` (goal <= 1.10), ``steps`` (timed
        steps per side) and ``callbacks`` (class names on the Lightning side).

    Raises:
        ValueError: The config has no pruning method, or the training set is shorter than a round.
    """
    cfg = compose_train_config(overrides, output_dir)
    if cfg.pruning is None or cfg.pruning.get("method") is None:
        raise ValueError("training overhead needs a pruning config (e.g. pruning=l1) among the overrides")
    seed_run(cfg)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    baseline = build_module(cfg, datamodule)
    per_round = warmup + steps
    if len(datamodule.train_dataloader()) < per_round:
        raise ValueError(f"the training set has fewer than {per_round} batches; raise data.num_train")
    lightning, plain, names = [], [], []
    for _ in range(rounds):
        module = copy.deepcopy(baseline)
        pruning = PruningCallback(instantiate(cfg.pruning), teacher=baseline.net)
        sp2ps = instantiate(cfg.cam)
        sp2ps.set_baseline(baseline.net)
        timer = StepTimer()
        callbacks = [pruning, DivergenceGuard("fine-tune"), sp2ps, *fresh_callbacks(cfg), timer]
        trainer = build_trainer(
            cfg,
            callbacks=callbacks,
            loggers=instantiate_group(cfg.get("logger")) or False,
            max_steps=per_round,
            max_epochs=1,
            enable_progress_bar=False,
            num_sanity_val_steps=0,
        )
        trainer.fit(module, datamodule=datamodule)
        lightning += timer.steps[warmup:per_round]
        plain += plain_loop(module, datamodule.train_dataloader(), per_round)[warmup:]
        names = [type(c).__name__ for c in callbacks if c is not timer]
    lightning_ms, plain_ms = 1e3 * statistics.median(lightning), 1e3 * statistics.median(plain)
    return {
        "lightning_step_ms": lightning_ms,
        "plain_step_ms": plain_ms,
        "lightning_over_plain": lightning_ms / plain_ms,
        "steps": len(lightning),
        "callbacks": names,
    }
