"""``metrics.json``: one flat JSON file per run, assembled from the stages' results; the report reads only this.

Keys are grouped by prefix (documented in README, "metrics.json schema"):

- ``run.*``       identity and outcome: model, data, method, scope, ratio, target, seed, precision (the trainer's,
  ``auto`` resolved), schedule, status, error, name, ``started_at`` / ``finished_at`` (UTC, ISO 8601; a sweep's wall
  time is its last ``finished_at`` minus its first ``started_at``), ``config_key`` (what ``skip_completed`` matches:
  :mod:`prunescope.pipeline.run_key`), ``layers`` (the U-Net levels asked, only when some are), ...
- ``quality.metric``  the main quality metric: ``miou`` (segmentation) or ``acc`` (classification)
- ``baseline.*`` / ``pruned.*``  quality (``miou``, ``pixel_acc``, ``iou_per_class`` or ``acc``) and cost
  (``params``, ``macs``, ``size_mb``, ``latency_ms`` with ``latency_runtime``, ``latency_batch``,
  ``latency_threads``; for a pruned run both latencies come from one interleaved measurement)
- ``prune.*``     what the pruning did: ``ratio_target``, ``ratio_removed`` (measured fraction of prunable filters),
  ``target_removed`` (measured fraction of the ``run.target`` count: filters, params or MACs; params for
  ``params+macs``, which adds ``macs_ratio_target`` and ``cost_exponent``), ``steps_done``, ``levels_removed`` and, for ``layers.levels: auto``, ``levels_baseline_metric`` /
  ``levels_metric_<k>``
- ``drop.params_pct``, ``drop.macs_pct``, ``drop.size_pct``; ``delta.<metric>`` = pruned - baseline; ``speedup``
- ``sp2ps.*``     score, spatial, spectral, pairs, skipped, per_class
- ``quality.before_finetune``, ``sp2ps.before_finetune``  a pruning run's test metric and Sp2PS score of the pruned
  model before any fine-tuning (:mod:`prunescope.pipeline.before_finetune`; ``null`` when not measured)
- ``baseline.val_<metric>``, ``pruned.val_<metric>``  quality on the validation split, where the data has one of
  its own (:mod:`prunescope.pipeline.validation`): what choices between settings are made on
- ``time.*``      seconds: baseline, prune, finetune, test, sp2ps, before_finetune, validation, total
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from hydra.utils import get_class
from omegaconf import DictConfig

from prunescope.atomic_write import write_json_atomic
from prunescope.baselines.entries import now_iso
from prunescope.config_checks import pruning_enabled
from prunescope.data import DATAMODULES
from prunescope.models import MODELS
from prunescope.pipeline.baseline import BaselineResult
from prunescope.pipeline.before_finetune import BeforeFinetuneResult
from prunescope.pipeline.finetune import PrunedResult
from prunescope.pipeline.layers import LayerResult
from prunescope.pipeline.run_key import run_config_key
from prunescope.pipeline.testing import TestResult
from prunescope.pipeline.validation import ValidationResult

SCHEMA_VERSION = 1
QUALITY_KEYS = ("miou", "pixel_acc", "acc")

log = logging.getLogger(__name__)


def to_json_value(value: Any) -> Any:
    """Tensors and numpy scalars → plain Python; non-finite floats → ``None`` (JSON has no NaN)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        value = value.item() if value.numel() == 1 else value.tolist()
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    return value


def percent_drop(before: float | None, after: float | None) -> float | None:
    """100 · (before − after) / before, or ``None`` when undefined."""
    if before is None or after is None or before == 0:
        return None
    return 100.0 * (before - after) / before


def _registry_name(target: str, registry: Mapping[str, type]) -> str:
    """The registry key of the class ``target`` names (any import path), else ``target``'s last part."""
    try:
        cls = get_class(target)
    except (ImportError, ValueError, AttributeError):
        return target.rsplit(".", 1)[-1]
    names = {registered: name for name, registered in registry.items()}
    return names.get(cls, target.rsplit(".", 1)[-1])


def _number(value: Any) -> Any:
    """``float(value)``, or ``value`` itself when it is no number (the pruning options' check names it)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def run_identity(cfg: DictConfig) -> dict[str, Any]:
    """``run.*`` keys: what this run is, for tables and W&B grouping (model and data by their registry keys)."""
    pruning = cfg.pruning if pruning_enabled(cfg) else None
    levels = pruning.get("layers", {}).get("levels") if pruning is not None else None
    layers = {"layers": levels} if levels not in (None, 0) else {}  # U-Net levels asked: 1, 2, ... or "auto"
    macs_ratio = pruning.get("macs_ratio") if pruning is not None else None  # pruning.target=params+macs
    pair = {"macs_ratio": _number(macs_ratio)} if macs_ratio is not None else {}
    precision = cfg.get("trainer", {}).get("precision")  # ``auto`` resolved by prunescope.precision
    return {
        "model": _registry_name(str(cfg.model.net.get("_target_", "")), MODELS),
        "data": _registry_name(str(cfg.data.get("_target_", "")), DATAMODULES),
        "method": pruning.method if pruning is not None else "none",
        "scope": pruning.scope if pruning is not None else None,
        "ratio": _number(pruning.ratio) if pruning is not None else 0.0,
        "target": pruning.target if pruning is not None else None,
        "seed": cfg.get("seed"),
        "precision": None if precision is None else str(precision),
        "schedule": f"{pruning.schedule.kind}x{pruning.schedule.steps}" if pruning is not None else None,
        "name": Path(cfg.paths.output_dir).name,
        "output_dir": str(cfg.paths.output_dir),
        "tags": list(cfg.get("tags") or []),
        "config_key": run_config_key(cfg),
        **layers,
        **pair,
    }


def completed_values(path: str | Path, identity: Mapping[str, Any]) -> dict[str, Any] | None:
    """The content of the ``metrics.json`` at ``path`` if it records a completed run with this ``run.*`` identity.

    Args:
        path: a run dir's ``metrics.json`` (it may not exist).
        identity: :func:`run_identity` of the run about to start.

    Returns:
        The stored values, or ``None`` when the file is missing, unreadable, not ``completed`` or another run's:
        another ``run.config_key`` (:mod:`prunescope.pipeline.run_key`), or, in a file written before the key was
        recorded, another ``run.*`` identity.
    """
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(values, dict) or values.get("run.status") != "completed":
        return None
    if "run.config_key" in values and "config_key" in identity:
        # same settings, wherever the dir is and whatever its tags
        return values if values["run.config_key"] == identity["config_key"] else None
    log.warning(
        "%s has no run.config_key (written before it was recorded): matched on the run.* identity only", path
    )
    same = all(
        values.get(f"run.{key}") == to_json_value(value)
        for key, value in identity.items()
        if key != "config_key"
    )
    return values if same else None


def _prefixed(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{prefix}.{key}": value for key, value in values.items()}


@dataclass
class RunReport:
    """The stage results of one run, and the one writer of its ``metrics.json``.

    The run assigns each stage's result as it returns; :meth:`write` assembles the flat file from whatever is
    there (so a failed run still records what it measured) and writes it atomically.
    """

    path: Path
    identity: dict[str, Any]
    read_only: bool = False
    quality_metric: str | None = None
    baseline: BaselineResult | None = None
    layers: LayerResult | None = None
    pruned: PrunedResult | None = None
    tested: TestResult | None = None
    before_finetune: BeforeFinetuneResult | None = None
    validation: ValidationResult | None = None
    started: float = field(default_factory=time.perf_counter)
    started_at: str = field(default_factory=now_iso)

    def values(self, status: str, error: BaseException | None = None) -> dict[str, Any]:
        """The flat ``metrics.json`` content for ``status`` (``running`` | ``completed`` | ``failed``)."""
        run = {
            **self.identity,
            "status": status,
            "error": f"{type(error).__name__}: {error}" if error else None,
            "started_at": self.started_at,
            "finished_at": None if status == "running" else now_iso(),
        }
        values: dict[str, Any] = {"schema": SCHEMA_VERSION}
        times: dict[str, Any] = {}
        if self.quality_metric is not None:
            values["quality.metric"] = self.quality_metric
        baseline, tested = self.baseline, self.tested
        if baseline is not None:
            if baseline.source is not None:
                run.update(baseline_source=baseline.source, baseline_trained_here=baseline.trained_here)
            if baseline.origin is not None:
                origin = baseline.origin
                run.update(
                    baseline_origin=origin.how,
                    baseline_key=origin.key,
                    baseline_epochs=origin.epochs,
                    baseline_created=origin.created,
                    baseline_train_seconds=origin.train_seconds,
                )
            values.update(_prefixed("baseline", {**baseline.quality, **baseline.cost}))
            times["baseline"] = baseline.seconds
        values.update(self._pruning_values(run, times))
        if tested is not None:
            values.update(_prefixed("pruned", {**tested.quality, **tested.cost}))
            values.update(_prefixed("baseline", tested.baseline_latency or {}))
            times["test"] = tested.seconds
            if tested.sp2ps is not None:
                scores = dict(tested.sp2ps.values)
                values.update(_prefixed("sp2ps", {"score": scores.pop("sp2ps"), **scores}))
                times["sp2ps"] = tested.sp2ps.seconds
            values.update(self._comparison(values))
        if self.pruned is not None:  # every pruning row has both keys, null when not measured
            before = self.before_finetune or BeforeFinetuneResult()
            values["quality.before_finetune"] = before.quality
            values["sp2ps.before_finetune"] = before.sp2ps
            if self.before_finetune is not None:
                times["before_finetune"] = before.seconds
        values.update(self._validation_values(times))
        times["total"] = time.perf_counter() - self.started
        values.update(_prefixed("run", run))
        values.update(_prefixed("time", times))
        return {key: to_json_value(value) for key, value in values.items()}

    def _pruning_values(self, run: dict[str, Any], times: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        layers, pruned = self.layers, self.pruned
        if layers is not None:
            values["prune.levels_removed"] = layers.levels
            if layers.baseline_metric is not None:
                values["prune.levels_baseline_metric"] = layers.baseline_metric
            values.update({f"prune.levels_metric_{k}": v for k, v in layers.candidate_metrics.items()})
            times["prune"] = layers.seconds
        if pruned is not None:
            run["pruning_steps"] = len(pruned.module.pruning_record)
            values["prune.ratio_target"] = self.identity.get("ratio")
            values["prune.ratio_removed"] = pruned.progress.ratio_removed
            values["prune.target_removed"] = pruned.progress.target_removed
            if getattr(pruned.progress, "cost_exponent", None) is not None:  # pruning.target=params+macs
                values["prune.macs_ratio_target"] = self.identity.get("macs_ratio")
                values["prune.cost_exponent"] = pruned.progress.cost_exponent
            values["prune.steps_done"] = pruned.progress.steps_done
            times["prune"] = times.get("prune", 0.0) + pruned.progress.seconds
            times["finetune"] = pruned.finetune_seconds
        return values

    def _validation_values(self, times: dict[str, Any]) -> dict[str, Any]:
        """``baseline.val_<metric>`` and ``pruned.val_<metric>``, each when measured."""
        validation, metric = self.validation, self.quality_metric
        if validation is None or metric is None:
            return {}
        values: dict[str, Any] = {}
        if validation.baseline is not None:
            values[f"baseline.val_{metric}"] = validation.baseline
        if validation.pruned is not None:
            values[f"pruned.val_{metric}"] = validation.pruned
        if values:
            times["validation"] = validation.seconds
        return values

    @staticmethod
    def _comparison(values: Mapping[str, Any]) -> dict[str, Any]:
        """``drop.*`` (percent), ``delta.<quality>`` (pruned − baseline) and ``speedup`` (latency ratio)."""
        out: dict[str, Any] = {}
        for name, key in (("params", "params_pct"), ("macs", "macs_pct"), ("size_mb", "size_pct")):
            out[f"drop.{key}"] = percent_drop(values.get(f"baseline.{name}"), values.get(f"pruned.{name}"))
        for name in QUALITY_KEYS:
            before, after = values.get(f"baseline.{name}"), values.get(f"pruned.{name}")
            if isinstance(before, int | float) and isinstance(after, int | float):
                out[f"delta.{name}"] = after - before
        before, after = values.get("baseline.latency_ms"), values.get("pruned.latency_ms")
        out["speedup"] = before / after if before and after else None
        return out

    def write(self, status: str, error: BaseException | None = None) -> dict[str, Any]:
        """Assemble :meth:`values` and write ``metrics.json`` atomically (not when ``read_only``: a further DDP rank);
        returns the values."""
        values = self.values(status, error)
        if not self.read_only:
            write_json_atomic(self.path, values)
        return values
