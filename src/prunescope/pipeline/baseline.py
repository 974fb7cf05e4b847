"""The baseline stage: the trained, unpruned model — loaded, taken from the sweep's cache, or trained here."""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.callbacks import ModelCheckpoint

from prunescope.atomic_write import write_json_atomic
from prunescope.baselines import BaselineCache, baseline_key
from prunescope.baselines.cache import CKPT_NAME as BASELINE_CKPT
from prunescope.baselines.cache import PROVENANCE_NAME, NotCached
from prunescope.baselines.entries import code_version, now_iso, read_provenance
from prunescope.baselines.locks import DEFAULT_STALE_AFTER_S
from prunescope.baselines.material import baseline_key_material, early_stop_reason
from prunescope.checkpoints import (
    LAST_NAME,
    check_baseline_data,
    load_checkpoint_into,
    resume_path,
    save_checkpoint,
)
from prunescope.instantiate import build_module, build_trainer, fresh_callbacks
from prunescope.metrics.efficiency import profile_counts, profile_model
from prunescope.modules import TaskModule
from prunescope.modules.divergence import DivergenceGuard
from prunescope.pipeline.parts import RunParts
from prunescope.pipeline.resume import IDENTITY_KEY, FitIdentityStamp, fit_identity
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
        origin: a pruning run's baseline: where it came from (key, epochs, date); ``None`` for a run without pruning.
    """

    module: TaskModule
    quality: dict[str, Any]
    cost: dict[str, Any]
    seconds: float
    source: str | None
    trained_here: bool
    origin: BaselineOrigin | None = None


BASELINE_IDENTITY_PREFIX = "baseline-build:"
"""Fit identity stamped into a baseline build's ``checkpoints/last.ckpt``: the prefix + the cache key."""


def _build_identity(cfg: DictConfig) -> str:
    return BASELINE_IDENTITY_PREFIX + baseline_key(baseline_key_material(cfg))


def _resumable_checkpoint(cfg: DictConfig, ckpt_dir: Path) -> str | None:
    """``ckpt_dir/last.ckpt`` when it is this baseline fit's own (same key) and ``resume`` is on; a foreign or
    unreadable one is left out of the fit (and replaced by the fit's own at its first epoch)."""
    last = ckpt_dir / LAST_NAME
    if not cfg.get("resume", True) or not last.is_file():
        return None
    try:
        found = torch.load(last, map_location="cpu", weights_only=True, mmap=True).get(IDENTITY_KEY)
    except Exception:  # noqa: BLE001 - an unreadable leftover is simply not resumed
        found = None
    if found != _build_identity(cfg):
        log.warning("baseline: %s belongs to another fit (%s); training from the start", last, found)
        return None
    return str(last)


def epochs_done(trainer: pl.Trainer) -> int:
    """Whole training epochs the fit completed. ``current_epoch`` also counts an epoch cut short (by ``max_steps``,
    ``max_time`` or a callback), so it is capped by the optimizer steps done over the steps of a whole epoch."""
    batches = trainer.num_training_batches
    if not isinstance(batches, int) or batches <= 0:
        return int(trainer.current_epoch)
    per_epoch = math.ceil(batches / max(1, int(trainer.accumulate_grad_batches)))
    return min(int(trainer.current_epoch), int(trainer.global_step) // per_epoch)


def write_provenance(cfg: DictConfig, out_dir: Path, **values: Any) -> dict[str, Any]:
    """Merge ``values`` into ``out_dir/provenance.json`` (created with the key, date, code version, model, data,
    precision and run dir on first write); returns the whole record."""
    record = read_provenance(out_dir) or {
        "key": baseline_key(baseline_key_material(cfg)),
        "created": now_iso(),
        **code_version(cfg.paths.root_dir),
        "model": str(cfg.model.net.get("_target_", "?")).rsplit(".", 1)[-1],
        "data": str(cfg.data.get("_target_", "?")).rsplit(".", 1)[-1],
        "max_epochs": cfg.trainer.get("max_epochs"),
        "precision": cfg.trainer.get("precision"),
        "run_dir": str(cfg.paths.output_dir),
    }
    record.update(values)
    write_json_atomic(out_dir / PROVENANCE_NAME, record)
    return record


def train_baseline(
    cfg: DictConfig, datamodule: pl.LightningDataModule, out_dir: Path, resume_dir: Path | None = None
) -> dict[str, Any]:
    """Train a baseline in ``out_dir``, write ``out_dir/baseline.ckpt`` (and ``provenance.json``) as soon as
    training ends, then test it (:func:`test_baseline`); returns its test metrics.

    The fit is resumable: it writes ``out_dir/checkpoints/last.ckpt`` at the end of every epoch (stamped with the
    baseline's key) and continues from such a checkpoint of the same key left by an interrupted run. The checkpoints
    are removed once ``baseline.ckpt`` exists. ``resume_dir``: read the checkpoint to resume from there instead (a
    further DDP rank joining rank 0's fit from a scratch folder).
    """
    started = time.perf_counter()
    seed_run(cfg, baseline=True)
    module = build_module(cfg, datamodule)
    ckpt_dir = out_dir / "checkpoints"
    if not cfg.get("resume", True) and resume_dir is None:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    resume_from = _resumable_checkpoint(cfg, (resume_dir or out_dir) / "checkpoints")
    if resume_from is not None:
        log.info("baseline: resuming the interrupted fit from %s", resume_from)
    checkpointing = (
        ModelCheckpoint(  # the newest epoch as last.ckpt (save_last alone waits for a saved top-k)
            dirpath=ckpt_dir,
            filename=Path(LAST_NAME).stem,
            save_top_k=1,
            every_n_epochs=1,
            enable_version_counter=False,
        )
    )
    trainer = build_trainer(
        cfg,
        callbacks=[
            DivergenceGuard("baseline"),
            ProgressLog("baseline"),
            FitIdentityStamp(_build_identity(cfg)),
            checkpointing,
        ],
        loggers=False,
        default_root_dir=str(out_dir),
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)
    save_checkpoint(module, out_dir / BASELINE_CKPT)
    train_seconds = time.perf_counter() - started
    write_provenance(cfg, out_dir, epochs_done=epochs_done(trainer), train_seconds=train_seconds)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return test_baseline(cfg, datamodule, out_dir, train_seconds=train_seconds)


def test_baseline(
    cfg: DictConfig, datamodule: pl.LightningDataModule, out_dir: Path, train_seconds: float | None = None
) -> dict[str, Any]:
    """Test the baseline saved in ``out_dir/baseline.ckpt``; store the metrics in the checkpoint and its
    ``provenance.json``; return them."""
    module = build_module(cfg, datamodule)
    load_checkpoint_into(module, out_dir / BASELINE_CKPT)
    trainer = build_trainer(
        cfg, callbacks=[], loggers=False, default_root_dir=str(out_dir), enable_checkpointing=False
    )
    metrics = test_module(trainer, module, datamodule)
    if train_seconds is not None:
        metrics["train_seconds"] = train_seconds
    save_checkpoint(module, out_dir / BASELINE_CKPT, {"metrics": metrics})
    quality = {k.removeprefix("test/"): v for k, v in metrics.items() if k != "train_seconds"}
    write_provenance(cfg, out_dir, quality={k: v for k, v in quality.items() if isinstance(v, int | float)})
    return metrics


test_baseline.__test__ = False  # type: ignore[attr-defined]


def _train_in_run(parts: RunParts) -> tuple[dict[str, Any], float, int]:
    """A run without pruning: fit the run's module with its callbacks and loggers (resumable), then test it.

    Returns:
        The test metrics, the seconds of the fit alone and the epochs done.
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
    return quality, seconds, epochs_done(trainer)


def _cache(cfg: DictConfig, **options: Any) -> BaselineCache:
    return BaselineCache(
        Path(cfg.paths.baselines_dir),
        lock=cfg.baseline.get("lock", "file"),
        lock_stale_s=cfg.baseline.get("lock_stale_s", DEFAULT_STALE_AFTER_S),
        **options,
    )


def share_trained_baseline(
    cfg: DictConfig,
    module: TaskModule,
    quality: dict[str, Any],
    train_seconds: float | None = None,
    epochs_done: int | None = None,
) -> Path | None:
    """Put the model a run without pruning trained and tested into the baseline cache (``baseline.cache``), so
    that the pruning runs of the same (model, data, training, seed) reuse it instead of training it again.

    Skipped (``None``) when the cache is off, on a further DDP rank, without test metrics, when the model carries a
    pruning record (it is no baseline), when the run's ``seed`` is not its ``baseline.seed`` (the cache entry would
    claim a seed the model was not trained with), when the fit stopped early (:func:`early_stop_reason`:
    ``fast_dev_run``, ``overfit_batches``, fewer epochs than ``max_epochs``), or when another job holds the entry's
    lock (it is building that baseline: this run does not wait for it). An existing entry is kept as it is.

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
    if (reason := early_stop_reason(cfg, epochs_done)) is not None:
        log.warning("baseline: not put into the cache: %s", reason)
        return None

    metrics = {**quality, **({} if train_seconds is None else {"train_seconds": train_seconds})}

    def store(out_dir: Path) -> dict[str, Any]:
        save_checkpoint(module, out_dir / BASELINE_CKPT, {"metrics": metrics})
        numbers = {k: v for k, v in quality.items() if isinstance(v, int | float)}
        write_provenance(cfg, out_dir, epochs_done=epochs_done, train_seconds=train_seconds, quality=numbers)
        return metrics

    try:
        entry = _cache(cfg, lock_timeout_s=0.0).get_or_create(baseline_key_material(cfg), build=store)
    except filelock.Timeout:
        log.info("baseline cache entry is being built by another job: this run's model is not shared")
        return None
    return entry.ckpt_path


@dataclass(frozen=True)
class BaselineOrigin:
    """Where a pruning run's baseline came from (printed as one line and recorded as ``run.baseline_*``)."""

    source: str
    """its checkpoint"""
    how: str
    """``checkpoint`` (baseline.ckpt_path), ``cache`` (reused), ``trained here`` (into the cache or the run dir),
    ``tested here`` (trained by a job that was killed before it completed the entry)"""
    key: str | None = None
    epochs: int | None = None
    created: str | None = None
    train_seconds: float | None = None
    """the baseline fit's wall time, from its ``provenance.json`` (a resumed fit: the last attempt's)"""

    @classmethod
    def from_provenance(
        cls, ckpt_path: Path, how: str, key: str | None, provenance: dict[str, Any]
    ) -> BaselineOrigin:
        """The origin of the checkpoint at ``ckpt_path``, its epochs, date and fit time read from its
        ``provenance.json`` content."""
        return cls(
            str(ckpt_path),
            how,
            key,
            provenance.get("epochs_done"),
            provenance.get("created"),
            provenance.get("train_seconds"),
        )

    @property
    def trained_here(self) -> bool:
        return self.how in ("trained here", "tested here")


def _build_cached(cfg: DictConfig, datamodule: pl.LightningDataModule, build_dir: Path) -> dict[str, Any]:
    """Train and test the baseline in the cache's build folder; a fit that ended before ``max_epochs`` is moved to
    ``<run dir>/baseline`` and reported with :class:`NotCached` (it never enters the cache)."""
    metrics = train_baseline(cfg, datamodule, build_dir)
    reason = early_stop_reason(cfg, read_provenance(build_dir).get("epochs_done"))
    if reason is not None:
        run_baseline = Path(cfg.paths.output_dir) / "baseline"
        run_baseline.mkdir(parents=True, exist_ok=True)
        for name in (BASELINE_CKPT, PROVENANCE_NAME):
            os.replace(build_dir / name, run_baseline / name)
        raise NotCached(reason, metrics)
    return metrics


def _train_in_run_dir(cfg: DictConfig, datamodule: pl.LightningDataModule) -> tuple[dict[str, Any], str]:
    """A pruning run's baseline without the cache, in ``<run dir>/baseline`` (resumable; a trained
    ``baseline.ckpt`` of the same key left by a killed run is tested, not trained again)."""
    out_dir = Path(cfg.paths.output_dir) / "baseline"
    key = baseline_key(baseline_key_material(cfg))
    if (
        cfg.get("resume", True)
        and (out_dir / BASELINE_CKPT).is_file()
        and read_provenance(out_dir).get("key") == key
    ):
        return test_baseline(cfg, datamodule, out_dir), "tested here"
    return train_baseline(cfg, datamodule, out_dir), "trained here"


def _load_or_build(parts: RunParts) -> tuple[TaskModule, dict[str, Any], BaselineOrigin]:
    """A pruning run's baseline: ``baseline.ckpt_path``, else the cache, else trained into ``<run>/baseline``."""
    cfg, datamodule = parts.cfg, parts.datamodule
    module = build_module(cfg, datamodule)
    ckpt_path = cfg.baseline.get("ckpt_path")
    if ckpt_path is not None:
        check_baseline_data(ckpt_path, cfg.data, force=bool(cfg.baseline.get("force", False)))
        checkpoint = load_checkpoint_into(module, ckpt_path)
        metrics = checkpoint.get("metrics")
        if not metrics:
            trainer = build_trainer(cfg, callbacks=[], loggers=False, enable_checkpointing=False)
            metrics = test_module(trainer, module, datamodule)
        return module, dict(metrics), BaselineOrigin(str(ckpt_path), "checkpoint")
    if is_follower():
        return _follow_baseline(cfg, datamodule, module)
    not_cached = early_stop_reason(cfg)
    if cfg.baseline.get("cache") and not_cached is None:
        cache = _cache(cfg)
        material = baseline_key_material(cfg)
        key = baseline_key(material)
        retested: list[Path] = []

        def retest(out_dir: Path) -> dict[str, Any]:
            retested.append(Path(out_dir))
            return test_baseline(cfg, datamodule, Path(out_dir))

        try:
            entry = cache.get_or_create(
                material, build=lambda out_dir: _build_cached(cfg, datamodule, Path(out_dir)), retest=retest
            )
        except NotCached as skipped:
            not_cached = skipped.reason
            metrics, source = skipped.result, Path(cfg.paths.output_dir) / "baseline"
            how = "trained here"
        else:
            load_checkpoint_into(module, entry.ckpt_path)
            how = ("tested here" if retested else "trained here") if entry.created else "cache"
            origin = BaselineOrigin.from_provenance(entry.ckpt_path, how, key, read_provenance(entry.path))
            return module, dict(entry.metrics), origin
    else:
        metrics, how = _train_in_run_dir(cfg, datamodule)
        source = Path(cfg.paths.output_dir) / "baseline"
    if not_cached is not None and cfg.baseline.get("cache"):
        log.warning("baseline: not put into the cache: %s", not_cached)
    load_checkpoint_into(module, source / BASELINE_CKPT)
    provenance = read_provenance(source)
    origin = BaselineOrigin.from_provenance(source / BASELINE_CKPT, how, provenance.get("key"), provenance)
    return module, metrics, origin


def describe_baseline(origin: BaselineOrigin, quality: dict[str, Any], metric: str | None) -> str:
    """The one line a pruning run prints about its baseline: what, how good, from where."""
    value = quality.get(metric) if metric else None
    score = f"test {metric} {value:.4f}" if isinstance(value, int | float) else "test quality not recorded"
    epochs = f", {origin.epochs} epochs" if origin.epochs is not None else ""
    when = f", trained {origin.created}" if origin.created else ""
    key = f" {origin.key}" if origin.key else ""
    where = {
        "checkpoint": "given checkpoint",
        "cache": "reused from the baseline cache",
        "trained here": "trained by this run",
        "tested here": "trained by a killed run, tested by this one",
    }[origin.how]
    return f"baseline{key}: {score}{epochs}{when}; {where}: {origin.source}"


def _follow_baseline(
    cfg: DictConfig, datamodule: pl.LightningDataModule, module: TaskModule
) -> tuple[TaskModule, dict[str, Any], BaselineOrigin]:
    """A further DDP rank's baseline: it takes part in rank 0's baseline training (when rank 0 trains one) in a
    scratch folder, resuming from the same checkpoint as rank 0, then loads the checkpoint rank 0 wrote (the cache
    entry, or ``<run dir>/baseline``)."""
    run_ckpt = Path(cfg.paths.output_dir) / "baseline" / BASELINE_CKPT
    if cfg.baseline.get("cache") and early_stop_reason(cfg) is None:
        cache = _cache(cfg)
        material = baseline_key_material(cfg)
        entry = cache.lookup(material)
        if entry is None:  # rank 0 is training it now, in a fit this rank must join
            build_dir = cache.build_dir(baseline_key(material))
            with tempfile.TemporaryDirectory(prefix="prunescope-rank-") as scratch:
                train_baseline(cfg, datamodule, Path(scratch), resume_dir=build_dir)
            found = _wait_for(
                lambda: cache.lookup(material) or (run_ckpt if run_ckpt.is_file() else None),
                "the cached baseline",
            )
            if isinstance(found, Path):  # rank 0's fit stopped early: not cached, kept in the run dir
                metrics = load_checkpoint_into(module, found).get("metrics") or {}
                return module, dict(metrics), BaselineOrigin(str(found), "trained here")
            entry = found
        load_checkpoint_into(module, entry.ckpt_path)
        return module, dict(entry.metrics), BaselineOrigin(str(entry.ckpt_path), "cache", entry.key)
    with tempfile.TemporaryDirectory(prefix="prunescope-rank-") as scratch:
        metrics = train_baseline(cfg, datamodule, Path(scratch), resume_dir=run_ckpt.parent)
    _wait_for(lambda: run_ckpt if run_ckpt.is_file() else None, str(run_ckpt))
    load_checkpoint_into(module, run_ckpt)
    return module, metrics, BaselineOrigin(str(run_ckpt), "trained here")


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
    origin = None
    if parts.pruning is None:
        module, (quality, seconds, epochs) = parts.module, _train_in_run(parts)
        source, trained_here = None, bool(parts.cfg.get("train"))
        if trained_here:
            share_trained_baseline(parts.cfg, module, quality, train_seconds=seconds, epochs_done=epochs)
    else:
        module, quality, origin = _load_or_build(parts)
        source, trained_here = origin.source, origin.trained_here
        seconds = time.perf_counter() - start
    quality = {k: v for k, v in quality.items() if k != "train_seconds"}
    if origin is not None and not is_follower():
        log.info(describe_baseline(origin, quality, module.quality_metric))
    example = parts.example.to(module.device)
    if parts.pruning is None:
        cost = profile_model(module.net, example, repeats=parts.latency_repeats)
    else:  # its latency is timed by the test stage, interleaved with the pruned model's
        cost = profile_counts(module.net, example)
    return BaselineResult(module, quality, cost, seconds, source, trained_here, origin)
