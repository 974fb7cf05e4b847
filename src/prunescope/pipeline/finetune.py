"""The prune + fine-tune stage: one fit in which :class:`~prunescope.fitting.callback.PruningCallback` removes filters."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytorch_lightning as pl
from hydra.utils import instantiate

from prunescope.cam.callback import Sp2PSCallback
from prunescope.checkpoints import resume_path
from prunescope.fitting.callback import PruningCallback, PruningProgress
from prunescope.instantiate import build_trainer, fresh_callbacks
from prunescope.modules import TaskModule
from prunescope.modules.divergence import DivergenceGuard
from prunescope.pipeline.baseline import BaselineResult
from prunescope.pipeline.parts import RunParts
from prunescope.pipeline.resume import FitIdentityStamp, fit_identity
from prunescope.progress import ProgressLog


@dataclass
class PrunedResult:
    """What the prune + fine-tune stage did.

    Attributes:
        module: the pruned, fine-tuned module.
        trainer: the fit's trainer (the test stage tests with it, so loggers keep one step axis).
        sp2ps: the Sp2PS callback attached to ``trainer`` for the test stage, or ``None`` when Sp2PS is off.
        progress: the filter steps (count, filters removed, seconds, per-step figures).
        finetune_seconds: the fit's time without the pruning steps.
    """

    module: TaskModule
    trainer: pl.Trainer
    sp2ps: Sp2PSCallback | None
    progress: PruningProgress
    finetune_seconds: float


def prune_finetune_stage(parts: RunParts, baseline: BaselineResult) -> PrunedResult:
    """Fine-tune ``parts.module`` for ``finetune_epochs`` epochs, pruning filters on the schedule.

    ``pruning.finetune.batch_size`` / ``limit_train_batches`` / ``optimizer`` set the fine-tune's own batch size,
    training batches per epoch and optimizer arguments (the baseline's training is not affected). The fine-tune's
    shuffling and augmentation follow the run's ``seed``, also when a study fixes ``data.seed`` (and
    ``baseline.seed``) to share one baseline across seeds.

    The module must already hold the baseline's weights (and any removed U-Net levels, see the layer stage).
    """
    assert parts.pruning is not None, "prune_finetune_stage runs only for pruning runs"
    cfg = parts.cfg
    teacher = baseline.module.net if parts.pruning.distill.enabled else None
    pruning = PruningCallback(parts.pruning, teacher=teacher)
    sp2ps = None
    if cfg.get("sp2ps") and cfg.get("cam") is not None:
        sp2ps = instantiate(cfg.cam)
        sp2ps.set_baseline(baseline.module.net)
    callbacks = [
        pruning,
        DivergenceGuard("fine-tune"),
        ProgressLog("fine-tune"),
        FitIdentityStamp(fit_identity(cfg)),
        *fresh_callbacks(cfg),
        *([sp2ps] if sp2ps is not None else []),
    ]
    protocol = parts.pruning.finetune
    limits = (
        {} if protocol.limit_train_batches is None else {"limit_train_batches": protocol.limit_train_batches}
    )
    trainer = build_trainer(
        cfg,
        callbacks=callbacks,
        loggers=parts.loggers or False,
        max_epochs=int(cfg.finetune_epochs),
        **limits,
    )
    datamodule = parts.datamodule
    data_batch_size, data_seed = datamodule.batch_size, datamodule.seed
    if protocol.batch_size is not None:
        datamodule.batch_size = int(protocol.batch_size)
    if cfg.get("seed") is not None:
        # the fine-tune's order follows the run's seed (data.seed: the baseline's)
        datamodule.seed = int(cfg.seed)
    # no baseline LR warm-up: the fine-tune restarts at pruning.finetune.lr with its own schedule (and its own
    # warm-up, pruning.finetune.warmup_fraction)
    parts.module.warmup_fraction = 0.0
    start = time.perf_counter()
    try:
        trainer.fit(parts.module, datamodule=datamodule, ckpt_path=resume_path(cfg))
    finally:
        # the test stage batches and orders as the baseline's test did
        datamodule.batch_size, datamodule.seed = data_batch_size, data_seed
    seconds = time.perf_counter() - start
    return PrunedResult(parts.module, trainer, sp2ps, pruning.progress, seconds - pruning.progress.seconds)
