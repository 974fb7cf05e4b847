"""The baseline stage: the trained, unpruned model — loaded, taken from the sweep's cache, or trained here."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock
import pytorch_lightning as pl
from omegaconf import DictConfig

from prunescope.baselines import BaselineCache
from prunescope.baselines.cache import CKPT_NAME as BASELINE_CKPT
from prunescope.baselines.locks import DEFAULT_STALE_AFTER_S
from prunescope.baselines.material import baseline_key_material
from prunescope.checkpoints import load_checkpoint_into, resume_path, save_checkpoint
from prunescope.instantiate import build_module, build_trainer, fresh_callbacks
from prunescope.metrics.efficiency import profile_counts, profile_model
from prunescope.modules import TaskModule
from prunescope.modules.divergence import DivergenceGuard
from prunescope.pipeline.parts import RunParts
from prunescope.pipeline.resume import FitIdentityStamp, fit_identity
from prunescope.pipeline.testing import test_module
from prunescope.process_rank import is_follower
from prunescope.progress import ProgressLog
from prunescope.seeding import baseline_seed, seed_run

log = logging.getLogger(__name__)

FOLLOWER_WAIT_S = 600.0
"""How long a further DDP rank waits for rank 0's baseline checkpoint after their common training and test."""


@dataclass
class BaselineResult:
    """What the baseline stage measured.

    Attributes:
        module: the trained baseline.
        quality: its test metrics (empty when not tested).
        cost: ``params``, ``macs``, ``size_mb``, ``latency_ms``.
        seconds: time to obtain it (the fit, or loading / cache lookup / training and testing).
        source: checkpoint the baseline came from (``None`` for a run without pruning: the run's own training).
        trained_here: whether this run trained it.
    """

    module: TaskModule
    quality: dict[str, Any]
    cost: dict[str, Any]
    seconds: float
    source: str | None
    trained_here: bool


def train_baseline(cfg: DictConfig, datamodule: pl.LightningDataModule, out_dir: Path) -> dict[str, Any]:
    """Train a baseline in ``out_dir``, write ``out_dir/baseline.ckpt`` as soon as training ends, then test it
    (:func:`test_baseline`); returns its test metrics."""
    started = time.perf_counter()
    seed_run(cfg, baseline=True)
    module = build_module(cfg, datamodule)
    trainer = build_trainer(
        cfg,
        callbacks=[DivergenceGuard("baseline"), ProgressLog("baseline")],
        loggers=False,
        default_root_dir=str(out_dir),
        enable_checkpointing=False,
    )
    trainer.fit(module, datamodule=datamodule)
    save_checkpoint(module, out_dir / BASELINE_CKPT)
    return test_baseline(cfg, datamodule, out_dir, train_seconds=time.perf_counter() - started)


def test_baseline(
    cfg: DictConfig, datamodule: pl.LightningDataModule, out_dir: Path, train_seconds: float | None = None
) -> dict[str, Any]:
    """Test the baseline saved in ``out_dir/baseline.ckpt``; store the metrics in the checkpoint; return them."""
    module = build_module(cfg, datamodule)
    load_checkpoint_into(module, out_dir / BASELINE_CKPT)
    trainer = build_trainer(
        cfg, callbacks=[], loggers=False, default_root_dir=str(out_dir), enable_checkpointing=False
    )
    metrics = test_module(trainer, module, datamodule)
    if train_seconds is not None:
        metrics["train_seconds"] = train_seconds
    save_checkpoint(module, out_dir / BASELINE_CKPT, {"metrics": metrics})
    return metrics


test_baseline.__test__ = False  # type: ignore[attr-defined]


def _train_in_run(parts: RunParts) -> tuple[dict[str, Any], float]:
    """A run without pruning: fit the run's module with its callbacks and loggers (resumable), then test it.

    Returns:
        The test metrics and the seconds of the fit alone.
    """
    cfg, module = parts.cfg, parts.module
    callbacks = [
        DivergenceGuard("baseline"),
        ProgressLog("baseline"),
        FitIdentityStamp(fit_identity(cfg)),
        *fresh_callbacks(cfg),
    ]
    trainer = build_trainer(cfg, callbacks=callbacks, loggers=parts.loggers or False)
    start = time.perf_counter()
    if cfg.get("train"):
        trainer.fit(module, datamodule=parts.datamodule, ckpt_path=resume_path(cfg))
    seconds = time.perf_counter() - start
    quality = test_module(trainer, module, parts.datamodule) if cfg.get("test") else {}
    return quality, seconds


def _cache(cfg: DictConfig, **options: Any) -> BaselineCache:
    return BaselineCache(
        Path(cfg.paths.baselines_dir),
        lock=cfg.baseline.get("lock", "file"),
        lock_stale_s=cfg.baseline.get("lock_stale_s", DEFAULT_STALE_AFTER_S),
        **options,
    )


def share_trained_baseline(
    cfg: DictConfig, module: TaskModule, quality: dict[str, Any], train_seconds: float | None = None
) -> Path | None:
    """Put the model a run without pruning trained and tested into the baseline cache (``baseline.cache``), so
    that the pruning runs of the same (model, data, training, seed) reuse it instead of training it again.

    Skipped (``None``) when the cache is off, on a further DDP rank, without test metrics, when the model carries a
    pruning record (it is no baseline), when the run's ``seed`` is not its ``baseline.seed`` (the cache entry would
    claim a seed the model was not trained with), or when another job holds the entry's lock (it is building that
    baseline: this run does not wait for it). An existing entry is kept as it is.

    Returns:
        The entry's checkpoint, or ``None`` when skipped.
    """
    if not cfg.baseline.get("cache") or is_follower() or not quality or baseline_seed(cfg) != cfg.get("seed"):
        return None
    if module.pruning_record:
        log.warning(
            "the run's model is pruned (resumed from a pruning run's checkpoint?): not shared as a baseline"
        )
        return None

    metrics = {**quality, **({} if train_seconds is None else {"train_seconds": train_seconds})}

    def store(out_dir: Path) -> dict[str, Any]:
        save_checkpoint(module, out_dir / BASELINE_CKPT, {"metrics": metrics})
        return metrics

    try:
        entry = _cache(cfg, lock_timeout_s=0.0).get_or_create(baseline_key_material(cfg), build=store)
    except filelock.Timeout:
        log.info("baseline cache entry is being built by another job: this run's model is not shared")
        return None
    return entry.ckpt_path


def _load_or_build(parts: RunParts) -> tuple[TaskModule, dict[str, Any], str, bool]:
    """A pruning run's baseline: ``baseline.ckpt_path``, else the cache, else trained into ``<run>/baseline``."""
    cfg, datamodule = parts.cfg, parts.datamodule
    module = build_module(cfg, datamodule)
    ckpt_path = cfg.baseline.get("ckpt_path")
    if ckpt_path is not None:
        metrics = load_checkpoint_into(module, ckpt_path).get("metrics")
        if not metrics:
            trainer = build_trainer(cfg, callbacks=[], loggers=False, enable_checkpointing=False)
            metrics = test_module(trainer, module, datamodule)
        return module, dict(metrics), str(ckpt_path), False
    if is_follower():
        return _follow_baseline(cfg, datamodule, module)
    if cfg.baseline.get("cache"):
        entry = _cache(cfg).get_or_create(
            baseline_key_material(cfg),
            build=lambda out_dir: train_baseline(cfg, datamodule, Path(out_dir)),
            retest=lambda out_dir: test_baseline(cfg, datamodule, Path(out_dir)),
        )
        load_checkpoint_into(module, entry.ckpt_path)
        return module, dict(entry.metrics), str(entry.ckpt_path), entry.created
    out_dir = Path(cfg.paths.output_dir) / "baseline"
    metrics = train_baseline(cfg, datamodule, out_dir)
    load_checkpoint_into(module, out_dir / BASELINE_CKPT)
    return module, metrics, str(out_dir / BASELINE_CKPT), True


def _follow_baseline(
    cfg: DictConfig, datamodule: pl.LightningDataModule, module: TaskModule
) -> tuple[TaskModule, dict[str, Any], str, bool]:
    """A further DDP rank's baseline: it takes part in rank 0's baseline training (when rank 0 trains one) in a
    scratch folder, then loads the checkpoint rank 0 wrote (the cache entry, or ``<run dir>/baseline``)."""
    if cfg.baseline.get("cache"):
        cache = BaselineCache(Path(cfg.paths.baselines_dir))
        entry = cache.lookup(baseline_key_material(cfg))
        if entry is None:  # rank 0 is training it now, in a fit this rank must join
            with tempfile.TemporaryDirectory(prefix="prunescope-rank-") as scratch:
                train_baseline(cfg, datamodule, Path(scratch))
            entry = _wait_for(lambda: cache.lookup(baseline_key_material(cfg)), "the cached baseline")
        load_checkpoint_into(module, entry.ckpt_path)
        return module, dict(entry.metrics), str(entry.ckpt_path), False
    ckpt = Path(cfg.paths.output_dir) / "baseline" / BASELINE_CKPT
    with tempfile.TemporaryDirectory(prefix="prunescope-rank-") as scratch:
        metrics = train_baseline(cfg, datamodule, Path(scratch))
    _wait_for(lambda: ckpt if ckpt.is_file() else None, str(ckpt))
    load_checkpoint_into(module, ckpt)
    return module, metrics, str(ckpt), False


def _wait_for(find: Callable[[], Any], what: str, timeout_s: float = FOLLOWER_WAIT_S) -> Any:
    """Poll ``find()`` until it returns something (rank 0 finishing a file after the last collective)."""
    deadline = time.monotonic() + timeout_s
    while (found := find()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"rank 0 did not write {what} within {timeout_s:.0f} s")
        time.sleep(0.2)
    return found


def baseline_stage(parts: RunParts) -> BaselineResult:
    """The baseline of the run, tested and profiled.

    A run without pruning trains ``parts.module`` itself (this *is* the run) and shares it through the baseline
    cache (:func:`share_trained_baseline`). A pruning run takes
    ``baseline.ckpt_path``, or the cached baseline of its (model, data, training, seed), or trains one into
    ``<run dir>/baseline``.
    """
    start = time.perf_counter()
    if parts.pruning is None:
        module, (quality, seconds) = parts.module, _train_in_run(parts)
        source, trained_here = None, bool(parts.cfg.get("train"))
        if trained_here:
            share_trained_baseline(parts.cfg, module, quality, train_seconds=seconds)
    else:
        module, quality, source, trained_here = _load_or_build(parts)
        seconds = time.perf_counter() - start
    quality = {k: v for k, v in quality.items() if k != "train_seconds"}
    example = parts.example.to(module.device)
    if parts.pruning is None:
        cost = profile_model(module.net, example, repeats=parts.latency_repeats)
    else:  # its latency is timed by the test stage, interleaved with the pruned model's
        cost = profile_counts(module.net, example)
    return BaselineResult(module, quality, cost, seconds, source, trained_here)
