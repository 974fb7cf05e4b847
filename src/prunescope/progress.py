"""Progress lines in the run's log: one per training epoch and one per pruning step.

A run without a terminal (background job, sweep, cluster) shows no progress bar; these lines go to the Python
logger ``prunescope.progress`` at INFO, which Hydra writes to the job's ``.log`` file (and to the console)::

    baseline epoch 3/15 | train/loss 0.8123 | val/miou 0.3410 | epoch 24.1s | elapsed 1m12s | eta 4m48s
    prune step 1/2 pca_nci: removed 184 channels (params target 0.300, channel ratio 0.214) | params 1.23M (-30.1%) | MACs 4.56G (-25.0%)
    layer stage: removed 1 U-Net level (asked auto; val/miou baseline 0.4821, 1 level 0.4702, 2 levels 0.4413) | params 483k (-75.1%) | MACs 437M (-23.4%)
"""

from __future__ import annotations

import logging
import time

import pytorch_lightning as pl

from prunescope.pruning.api import PruningResult

log = logging.getLogger("prunescope.progress")


def format_duration(seconds: float) -> str:
    """``3h05m``, ``4m48s`` or ``12s`` (rounded down to whole seconds)."""
    seconds = int(max(0.0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


def format_count(value: float) -> str:
    """``987``, ``12.3k``, ``1.23M``, ``4.56G`` (three significant digits above 1000)."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.0f}"


class ProgressLog(pl.Callback):
    """Log one line per training epoch: stage, epoch/total, train loss, validation metric, this epoch's seconds
    (training and its validation, from the previous epoch's end), elapsed time, ETA.

    The ETA extrapolates the mean epoch time of this fit (validation included) to the epochs left.

    Args:
        stage: Name of the fit in the line (e.g. ``"baseline"``, ``"fine-tune"``).
        metric: Validation metric logged; ``None``: ``val/<module.quality_metric>`` (``val/miou``, ``val/acc``).
        loss: Training loss logged.
    """

    def __init__(self, stage: str, metric: str | None = None, loss: str = "train/loss") -> None:
        super().__init__()
        self.stage = stage
        self.metric = metric
        self.loss = loss
        self._start = 0.0
        self._last = 0.0
        self._first_epoch = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = self._last = time.perf_counter()
        self._first_epoch = trainer.current_epoch

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        metric = self.metric or f"val/{getattr(pl_module, 'quality_metric', 'loss')}"
        epoch, total = trainer.current_epoch + 1, trainer.max_epochs
        now = time.perf_counter()
        elapsed, epoch_seconds, self._last = now - self._start, now - self._last, now
        done = epoch - self._first_epoch
        parts = [f"{self.stage} epoch {epoch}/{total if total and total > 0 else '?'}"]
        for name in (self.loss, metric):
            value = trainer.callback_metrics.get(name)
            if value is not None:
                parts.append(f"{name} {float(value):.4f}")
        parts.append(f"epoch {epoch_seconds:.1f}s")
        parts.append(f"elapsed {format_duration(elapsed)}")
        if total and total > 0 and done > 0:
            parts.append(f"eta {format_duration(elapsed / done * max(0, total - epoch))}")
        log.info(" | ".join(parts))


def _drop(now: int, reference: int) -> str:
    return f"{-100.0 * (1.0 - now / reference):+.1f}%" if reference else "n/a"


def log_layer_stage(
    levels: int,
    asked: int | str,
    params: tuple[int, int],
    macs: tuple[int, int],
    metric: str = "val/miou",
    baseline_metric: float | None = None,
    candidate_metrics: dict[int, float] | None = None,
) -> str:
    """Log (and return) the line of the U-Net layer stage: levels removed, the ``auto`` search's validation
    metrics (baseline and per candidate ``k``), params/MACs now against before the stage.

    Args:
        levels: Levels removed.
        asked: ``pruning.layers.levels`` as configured (``k`` or ``"auto"``).
        params: (before, after) the stage.
        macs: (before, after) the stage.
        metric: Name of the validation metric the ``auto`` search compared.
        baseline_metric: ``auto``: the unmodified model's validation metric.
        candidate_metrics: ``auto``: validation metric per candidate ``k`` after its short fine-tune.
    """
    search = ""
    if baseline_metric is not None or candidate_metrics:
        scores = [f"baseline {baseline_metric:.4f}"] if baseline_metric is not None else []
        scores += [
            f"{k} level{'s' if k != 1 else ''} {value:.4f}"
            for k, value in sorted((candidate_metrics or {}).items())
        ]
        search = f"; {metric} " + ", ".join(scores)
    line = (
        f"layer stage: removed {levels} U-Net level{'s' if levels != 1 else ''} (asked {asked}{search}) | "
        f"params {format_count(params[1])} ({_drop(params[1], params[0])}) | "
        f"MACs {format_count(macs[1])} ({_drop(macs[1], macs[0])})"
    )
    log.info(line)
    return line


def log_pruning_step(
    step: int,
    steps: int,
    result: PruningResult,
    baseline_params: int | None = None,
    baseline_macs: int | None = None,
) -> str:
    """Log (and return) the line of one pruning step: method, removed channels, params/MACs now.

    Args:
        step: Step number, from 1.
        steps: Steps in the schedule.
        result: What :func:`prunescope.pruning.prune` returned for this step.
        baseline_params: Parameters before the first step (default: before this step); the drop is against it.
        baseline_macs: Same for MACs.
    """
    removed = sum(len(indices) for indices in result.removed.values())
    asked = f"{result.target} target {result.ratio:.3f}"
    if "channel_ratio" in result.details:
        asked += f", channel ratio {result.details['channel_ratio']:.3f}"
    params_ref = baseline_params or result.params_before
    macs_ref = baseline_macs or result.macs_before

    line = (
        f"prune step {step}/{steps} {result.method}: removed {removed} channels ({asked}) | "
        f"params {format_count(result.params_after)} ({_drop(result.params_after, params_ref)}) | "
        f"MACs {format_count(result.macs_after)} ({_drop(result.macs_after, macs_ref)})"
    )
    log.info(line)
    return line
