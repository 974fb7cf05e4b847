"""Training speed: Lightning training steps of one model under several configurations, timed interleaved.

Each variant is a list of overrides on top of the model's own (e.g. ``experiment=segnet_camvid_cpu``), by default
(``conf/bench.yaml``): ``fp32_nchw`` (``trainer.precision=32-true model.channels_last=false``), ``fp32_cl``
(``model.channels_last=true``), ``auto`` (``trainer.precision: auto`` resolved as ``prunescope-train`` resolves it,
the model's default layout), all three with the DataLoader path (``data.on_device=false``), and ``on_device``
(``auto`` with ``data.on_device=true``; a datamodule without that switch skips it). Per round every variant fits a
fresh module for ``warmup + steps`` steps with the run's own datamodule and trainer settings (no validation, no
checkpoints, no loggers); a step is the time from one batch start to the next (data loading, forward, backward,
optimizer). Rounds alternate the variants, so a shared machine's drifts hit them alike; ratios compare medians of
the same run.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig

from prunescope.benchmarks.training_overhead import StepTimer, compose_train_config
from prunescope.data import DatasetNotFoundError
from prunescope.instantiate import build_module, build_trainer
from prunescope.precision import resolve_run_precision
from prunescope.seeding import seed_run

log = logging.getLogger(__name__)
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
"""``wall``: elapsed time. ``cpu``: CPU time of the training thread, the work of a step whatever else the machine
runs (with ``threads: 1`` and ``data.num_workers=0`` it holds the whole step: data loading, forward, backward)."""


class ClockedStepTimer(StepTimer):
    """:class:`StepTimer` on another clock (see :data:`CLOCKS`)."""

    def __init__(self, clock: str = "wall") -> None:
        super().__init__()
        self.clock = CLOCKS[clock]

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.marks.append(self.clock())

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.marks.append(self.clock())


def variant_config(
    model_overrides: Sequence[str], variant_overrides: Sequence[str], output_dir: Path
) -> DictConfig | None:
    """The composed, precision-resolved train config of one variant, or ``None`` when it sets a ``data.*`` /
    ``model.*`` key the model's config lacks to a value other than ``false`` / ``null`` (e.g.
    ``data.on_device=true`` on a datamodule without that switch; ``data.on_device=false`` there is dropped: a
    switch the config does not have is off)."""
    base = compose_train_config(list(model_overrides), output_dir)
    kept = []
    for override in variant_overrides:
        key, _, value = override.partition("=")  # "+key=..." adds a key on purpose: not checked
        if key.startswith(("data.", "model.")) and _missing(base, key):
            if value.strip().lower() in ("false", "null"):
                continue
            return None
        kept.append(override)
    cfg = compose_train_config([*model_overrides, *kept], output_dir)
    resolve_run_precision(cfg)
    return cfg


def _missing(cfg: DictConfig, key: str) -> bool:
    node: Any = cfg
    for part in key.split("."):
        if not isinstance(node, DictConfig) or part not in node:
            return True
        node = node[part]
    return False


def _fit_steps(cfg: DictConfig, datamodule: Any, steps: int, clock: str = "wall") -> list[float]:
    """Seconds of each of ``steps`` training steps of a fresh module (fit from the step loop's start)."""
    seed_run(cfg)
    module = build_module(cfg, datamodule)
    timer = ClockedStepTimer(clock)
    trainer = build_trainer(
        cfg,
        callbacks=[timer],
        loggers=False,
        max_steps=steps,
        max_epochs=-1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=datamodule)
    return timer.steps[:steps]


def training_speed(
    models: Mapping[str, Sequence[str]],
    variants: Mapping[str, Sequence[str]],
    output_dir: Path,
    baseline: str = "fp32_nchw",
    steps: int = 10,
    warmup: int = 3,
    rounds: int = 2,
    clock: str = "wall",
    common: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Median training step of every (model, variant), and its speed-up over the ``baseline`` variant.

    Args:
        models: Model name -> overrides of ``train.yaml`` that set it up (its experiment, data size, ...).
        variants: Variant name -> overrides applied on top (precision, layout, data placement, ...).
        output_dir: Scratch folder of the fits.
        baseline: The variant speed-ups are relative to.
        steps: Timed steps per variant and round (after ``warmup`` untimed ones).
        rounds: Rounds; each runs every variant once, in turn.
        clock: ``wall`` or ``cpu`` (:data:`CLOCKS`).
        common: Overrides applied to every model and variant (e.g. ``data.num_workers=0`` for the ``cpu`` clock).

    Returns:
        One row per (model, variant): ``model``, ``variant``, ``precision`` (resolved), ``channels_last``,
        ``batch``, ``step_ms`` (median), ``images_per_s``, ``speedup`` (baseline step / this step), ``steps``; a
        variant the model's config cannot express has ``skipped`` (the reason) and no figures, and a model whose
        dataset is missing has one row with ``variant: None`` and ``skipped``.

    Raises:
        ValueError: ``baseline`` is not among ``variants``, or an unknown ``clock``.
    """
    if clock not in CLOCKS:
        raise ValueError(f"training_speed.clock={clock!r} is not a clock; valid: {', '.join(CLOCKS)}")
    if baseline not in variants:
        raise ValueError(
            f"training_speed.baseline={baseline!r} is not a variant; valid: {', '.join(variants)}"
        )
    rows = []
    for model, model_overrides in models.items():
        configs = {
            name: variant_config([*model_overrides, *common], overrides, output_dir / model / name)
            for name, overrides in variants.items()
        }
        datamodules = {}
        try:
            for name, cfg in configs.items():
                if cfg is not None:
                    seed_run(cfg)
                    datamodules[name] = instantiate(cfg.data)
                    datamodules[name].setup("fit")
        except DatasetNotFoundError as error:  # e.g. no CamVid on this machine: the other models still run
            rows.append({"model": model, "variant": None, "skipped": str(error)})
            continue
        times: dict[str, list[float]] = {name: [] for name in datamodules}
        for round_index in range(rounds):
            order = list(datamodules)
            shift = round_index % len(order)
            for name in order[shift:] + order[:shift]:
                times[name] += _fit_steps(configs[name], datamodules[name], warmup + steps, clock)[warmup:]
        base_ms = 1e3 * statistics.median(times[baseline]) if times.get(baseline) else None
        for name, overrides in variants.items():
            cfg = configs[name]
            if cfg is None:
                missing = [o.split("=", 1)[0] for o in overrides]
                rows.append(
                    {"model": model, "variant": name, "skipped": f"the config has no {', '.join(missing)}"}
                )
                continue
            step_ms = 1e3 * statistics.median(times[name])
            batch = int(cfg.data.batch_size)
            rows.append(
                {
                    "model": model,
                    "variant": name,
                    "precision": str(cfg.trainer.precision),
                    "channels_last": bool(cfg.model.get("channels_last", False)),
                    "batch": batch,
                    "step_ms": step_ms,
                    "images_per_s": batch / (step_ms / 1e3),
                    "speedup": base_ms / step_ms if base_ms else None,
                    "steps": len(times[name]),
                }
            )
            log.info(
                "training speed %s %s (%s%s): %.1f ms per step, %.2fx",
                model, name, rows[-1]["precision"], ", CL" if rows[-1]["channels_last"] else "", step_ms,
                rows[-1]["speedup"] or float("nan"),
            )  # fmt: skip
    return rows
