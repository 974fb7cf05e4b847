"""``prunescope-train``: baseline → (pruning + fine-tune) → test → Sp2PS → ``metrics.json``.

Thin Hydra wrapper around :func:`run`, which tests call directly with a composed config.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from prunescope import CONFIG_DIR
from prunescope.config_checks import ConfigError, check_layer_names, check_train_config, pruning_enabled
from prunescope.dashboards import log_run_dashboards
from prunescope.instantiate import build_module, build_trainer, fresh_callbacks, instantiate_group
from prunescope.modules import TaskModule
from prunescope.run_record import RunRecord
from prunescope.stages import (
    baseline_key_material,
    example_input,
    load_module_checkpoint,
    profile,
    seed_run,
    test_module,
    train_baseline,
)

log = logging.getLogger(__name__)


def run_identity(cfg: DictConfig) -> dict[str, Any]:
    """``run.*`` keys: what this run is, for tables and W&B grouping."""
    pruning = cfg.pruning if pruning_enabled(cfg) else None
    choices = _hydra_choices()
    schedule = None
    if pruning is not None:
        schedule = f"{pruning.schedule.kind}x{pruning.schedule.steps}"
    return {
        "model": choices.get("model", _registered_model_name(cfg.model.net.get("_target_", ""))),
        "data": choices.get("data", str(cfg.data.get("_target_", "")).rsplit(".", 1)[-1]),
        "method": pruning.method if pruning is not None else "none",
        "scope": pruning.scope if pruning is not None else None,
        "ratio": float(pruning.ratio) if pruning is not None else 0.0,
        "seed": cfg.get("seed"),
        "schedule": schedule,
        "name": Path(cfg.paths.output_dir).name,
        "output_dir": str(cfg.paths.output_dir),
        "tags": list(cfg.get("tags") or []),
    }


def _registered_model_name(target: str) -> str:
    from prunescope.models import MODELS

    names = {f"{cls.__module__}.{cls.__name__}": name for name, cls in MODELS.items()}
    return names.get(target, target)


def _hydra_choices() -> dict[str, str]:
    if not HydraConfig.initialized():
        return {}
    return {k: v for k, v in HydraConfig.get().runtime.choices.items() if isinstance(v, str)}


def taylor_options(cfg: DictConfig) -> dict[str, Any]:
    """Taylor's calibration loss must skip the dataset's void label; other criteria take no such option."""
    if cfg.pruning.method != "taylor" or cfg.data.get("ignore_index") is None:
        return {}
    options = dict(cfg.pruning.get("method_options") or {})
    options.setdefault("ignore_index", int(cfg.data.ignore_index))
    return {"method_options": options}


def obtain_baseline(
    cfg: DictConfig, datamodule: pl.LightningDataModule, record: RunRecord
) -> tuple[TaskModule, dict[str, Any]]:
    """The trained baseline: from ``baseline.ckpt_path``, the sweep's baseline cache, or trained in this run."""
    module = build_module(cfg, datamodule)
    ckpt_path = cfg.baseline.get("ckpt_path")
    if ckpt_path is not None:
        checkpoint = load_module_checkpoint(module, ckpt_path)
        metrics = checkpoint.get("metrics")
        if not metrics:
            trainer = build_trainer(cfg, callbacks=[], loggers=False, enable_checkpointing=False)
            metrics = test_module(trainer, module, datamodule)
        record.update("run", {"baseline_source": str(ckpt_path)})
        return module, dict(metrics)
    if cfg.baseline.get("cache"):
        from prunescope.baselines import BaselineCache

        cache = BaselineCache(Path(cfg.paths.baselines_dir))
        entry = cache.get_or_create(
            baseline_key_material(cfg), lambda out_dir: train_baseline(cfg, datamodule, Path(out_dir))
        )
        load_module_checkpoint(module, entry.ckpt_path)
        record.update(
            "run", {"baseline_source": str(entry.ckpt_path), "baseline_trained_here": entry.created}
        )
        return module, dict(entry.metrics)
    out_dir = Path(cfg.paths.output_dir) / "baseline"
    metrics = train_baseline(cfg, datamodule, out_dir)
    load_module_checkpoint(module, out_dir / "baseline.ckpt")
    record.update("run", {"baseline_source": str(out_dir / "baseline.ckpt"), "baseline_trained_here": True})
    return module, metrics


def run(cfg: DictConfig) -> dict[str, Any]:
    """Run one experiment; returns the flat ``metrics.json`` content (also written to the run dir)."""
    started = time.perf_counter()
    output_dir = Path(cfg.paths.output_dir)
    record = RunRecord(output_dir / "metrics.json")
    record.update("run", {**run_identity(cfg), "status": "running", "error": None})
    record.save()
    loggers: list[Any] = []
    try:
        check_train_config(cfg)
        pruning_callback = instantiate(cfg.pruning, **taylor_options(cfg)) if pruning_enabled(cfg) else None
        seed_run(cfg)
        datamodule = instantiate(cfg.data)
        module = build_module(cfg, datamodule)
        if pruning_callback is not None:
            names = [name for name, _ in module.net.named_modules() if name]
            check_layer_names(list(cfg.pruning.ignored_layers or []), names, "pruning.ignored_layers")
        record.update("quality", {"metric": module.quality_metric})
        loggers = instantiate_group(cfg.get("logger"))
        for logger in loggers:
            logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
        example = example_input(datamodule)
        repeats = int(cfg.efficiency.latency_repeats)

        if pruning_callback is None:
            trainer = build_trainer(cfg, callbacks=fresh_callbacks(cfg), loggers=loggers or False)
            t0 = time.perf_counter()
            if cfg.get("train"):
                trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
            record.update("time", {"baseline": time.perf_counter() - t0})
            if cfg.get("test"):
                record.update("baseline", test_module(trainer, module, datamodule))
            record.update("baseline", profile(module.net, example, repeats))
        else:
            t0 = time.perf_counter()
            baseline, baseline_metrics = obtain_baseline(cfg, datamodule, record)
            record.update("time", {"baseline": time.perf_counter() - t0})
            record.update("baseline", {k: v for k, v in baseline_metrics.items() if k != "train_seconds"})
            record.update("baseline", profile(baseline.net, example, repeats))
            record.save()
            seed_run(cfg)  # same seed → same fine-tune, whether the baseline was cached or not
            module.net.load_state_dict(baseline.net.state_dict())
            pruning_callback.set_baseline(baseline.net)
            callbacks = [pruning_callback, *fresh_callbacks(cfg)]
            sp2ps_callback = None
            if cfg.get("sp2ps") and cfg.get("cam") is not None:
                sp2ps_callback = instantiate(cfg.cam)
                sp2ps_callback.set_baseline(baseline.net)
                callbacks.append(sp2ps_callback)
            trainer = build_trainer(
                cfg, callbacks=callbacks, loggers=loggers or False, max_epochs=int(cfg.finetune_epochs)
            )
            t0 = time.perf_counter()
            trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
            finetune_seconds = time.perf_counter() - t0
            t0 = time.perf_counter()
            record.update("pruned", test_module(trainer, module, datamodule))
            test_seconds = time.perf_counter() - t0
            record.update("pruned", profile(module.net, example, repeats))
            summary = dict(getattr(pruning_callback, "summary", {}) or {})
            prune_seconds = summary.get("time.prune")
            record.update(
                "time",
                {
                    "prune": prune_seconds,
                    "finetune": finetune_seconds - (prune_seconds or 0.0),
                    "test": test_seconds,
                },
            )
            record.update("run", {"pruning_steps": len(module.pruning_record)})
            if sp2ps_callback is not None and getattr(sp2ps_callback, "result", None) is not None:
                result = dict(sp2ps_callback.result)
                sp2ps_seconds = result.pop("seconds", None)
                record.update("sp2ps", {"score": result.pop("sp2ps"), **result})
                record.update("time", {"sp2ps": sp2ps_seconds, "test": test_seconds - (sp2ps_seconds or 0.0)})
            record.add_comparison(["miou", "pixel_acc", "acc"])
        record.update("time", {"total": time.perf_counter() - started})
        record.update("run", {"status": "completed"})
        record.save()
        _log_summary(loggers, record.values)
        log_run_dashboards(loggers, cfg, record.values, getattr(datamodule, "class_names", None))
        return dict(record.values)
    except BaseException as error:
        record.update("run", {"status": "failed", "error": f"{type(error).__name__}: {error}"})
        record.update("time", {"total": time.perf_counter() - started})
        record.save()
        raise
    finally:
        _finish_wandb()


def _log_summary(loggers: list[Any], values: dict[str, Any]) -> None:
    numeric = {
        f"final/{k}": float(v)
        for k, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and not k.startswith("run.")
    }
    for logger in loggers:
        logger.log_metrics(numeric)
        logger.save()


def print_summary(values: dict[str, Any]) -> None:
    """Print the run's headline figures (quality, cost, Sp2PS) as a table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"PruneScope run {values.get('run.name')} ({values.get('run.status')})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    shown = ("baseline.", "pruned.", "drop.", "delta.", "speedup", "sp2ps.", "time.total")
    for key, value in values.items():
        if key.startswith(shown) and not isinstance(value, list | dict) and value is not None:
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    Console().print(table)


def _finish_wandb() -> None:
    """End the W&B run, if any, so that the next job of a multirun starts its own."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Entry point; in a multirun a failing job is recorded as failed and the sweep goes on."""
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        values = run(cfg)
    except ConfigError as error:
        if multirun:
            log.error("job failed: %s", error)
            return None
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except Exception:
        if multirun:
            log.exception("job failed; recorded in metrics.json, the sweep goes on")
            return None
        raise
    print_summary(values)
    metric = values.get("quality.metric")
    return values.get(f"pruned.{metric}", values.get(f"baseline.{metric}"))


if __name__ == "__main__":
    main()
