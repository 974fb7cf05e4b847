"""What determines a baseline: the key material of the baseline cache.

The material is the **whole resolved run config minus** :data:`UNKEYED`, an explicit list of settings known not to
change a baseline's trained weights or its recorded test quality (each with the reason). Everything else is keyed,
so a setting added to a config group, or a Trainer argument given with ``+trainer.<name>=...``, changes the key
unless it is declared here. ``seed`` is replaced by the baseline's seed (``baseline.seed``, default ``seed``).

Every ``pytorch_lightning.Trainer`` parameter is classified once, in :data:`TRAINER_KEYED` or among the
``trainer.*`` entries of :data:`UNKEYED` (``tests/baselines/test_key_material.py`` fails on a new, unclassified
one). Fits that stop early by design are never cached at all (:func:`early_stop_reason`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from prunescope.seeding import baseline_seed

UNKEYED: dict[str, str] = {
    # what the run is called and how it is driven
    "task_name": "names the entry point",
    "tags": "labels for dashboards",
    "train": "a pruning run ignores it; a run that does not train has nothing to cache",
    "test": "a run that does not test has no quality to cache (it caches nothing)",
    "ckpt_path": "where a fit resumes from; a resumed fit ends with the uninterrupted fit's weights",
    "resume": "whether a fit resumes; same weights either way",
    "skip_completed": "whether a completed run dir is run again",
    "objectives": "what a run returns to a sweeper",
    "seed": "replaced by the baseline's seed (baseline.seed, default seed) under the key 'seed'",
    # how the baseline is obtained, not what it is
    "baseline.ckpt_path": "a run with a given baseline checkpoint does not use the cache",
    "baseline.cache": "whether the cache is used",
    "baseline.force": "only with baseline.ckpt_path, which does not use the cache",
    "baseline.seed": "keyed as 'seed'",
    "baseline.lock": "how the cache is locked",
    "baseline.lock_stale_s": "how the cache is locked",
    # what happens after the baseline
    "pruning": "pruning and its fine-tune come after the baseline",
    "finetune_epochs": "the fine-tune comes after the baseline",
    "cam": "CAMs are computed after the baseline",
    "sp2ps": "Sp2PS is scored after the baseline",
    "efficiency": "latency repeats: measured after training",
    # where things are written and how progress is shown
    "paths": "where files go (data roots are keyed through data.root)",
    "hydra": "Hydra's run/sweep dirs, launcher and logging",
    "logger": "loggers record, they do not train",
    "callbacks": "checkpoint writing; a callback that ends a fit early makes it uncacheable (never cached)",
    "data.pin_memory": "host memory pinning only",
    "data.validate": "decodes the files once at setup, changes nothing",
    "data.cache_dir": "where CIFAR tars are unpacked",
    "data.download": "whether torchvision may download (never at run time here)",
    "data.archive_images": "the image counts a CIFAR archive is checked against before it is unpacked",
    # Trainer arguments that do not change the weights or the test quality
    "trainer.logger": "loggers record, they do not train",
    "trainer.callbacks": "set by the pipeline, not the config",
    "trainer.default_root_dir": "where Lightning writes",
    "trainer.log_every_n_steps": "logging frequency",
    "trainer.enable_checkpointing": "checkpoint writing",
    "trainer.enable_progress_bar": "progress display",
    "trainer.enable_model_summary": "summary display",
    "trainer.enable_autolog_hparams": "logging",
    "trainer.profiler": "profiling only",
    "trainer.detect_anomaly": "checks only",
    "trainer.barebones": "turns off logging and display features only",
    "trainer.limit_predict_batches": "no predict loop in a baseline",
    "trainer.inference_mode": "no_grad vs inference_mode in evaluation: same results",
    "trainer.model_registry": "where a model is uploaded",
}
"""Dotted config paths (a path excludes its whole subtree) left out of the key, each with why."""

TRAINER_KEYED: tuple[str, ...] = (
    "accelerator",
    "strategy",
    "devices",
    "num_nodes",
    "precision",
    "fast_dev_run",
    "max_epochs",
    "min_epochs",
    "max_steps",
    "min_steps",
    "max_time",
    "limit_train_batches",
    "limit_val_batches",
    "limit_test_batches",
    "overfit_batches",
    "val_check_interval",
    "check_val_every_n_epoch",
    "num_sanity_val_steps",
    "accumulate_grad_batches",
    "gradient_clip_val",
    "gradient_clip_algorithm",
    "deterministic",
    "benchmark",
    "use_distributed_sampler",
    "plugins",
    "sync_batchnorm",
    "reload_dataloaders_every_n_epochs",
)
"""Trainer parameters that change a baseline's weights or its test quality (validation consumes random state)."""


def is_unkeyed(path: str, unkeyed: Mapping[str, str] = UNKEYED) -> bool:
    """Whether the dotted config ``path`` is left out of a key (it or one of its parents is in ``unkeyed``, by
    default the baseline cache's :data:`UNKEYED`)."""
    parts = path.split(".")
    return any(".".join(parts[:i]) in unkeyed for i in range(1, len(parts) + 1))


def keyed_settings(
    node: DictConfig, unkeyed: Callable[[str], bool] = is_unkeyed, prefix: str = ""
) -> dict[str, Any]:
    """The resolved settings of ``node`` as plain nested dicts, minus each dotted path for which ``unkeyed`` holds
    (the path and its subtree); a node whose every setting is left out is left out too."""
    out: dict[str, Any] = {}
    for key in node:
        path = f"{prefix}.{key}" if prefix else str(key)
        if unkeyed(path):
            continue
        if OmegaConf.is_missing(node, key):
            out[str(key)] = "???"
            continue
        value = node[key]  # resolves interpolations against the whole config
        if isinstance(value, DictConfig):
            subtree = keyed_settings(value, unkeyed, path)
            if subtree or not value:  # a node whose every setting is unkeyed is left out
                out[str(key)] = subtree
        elif isinstance(value, ListConfig):
            out[str(key)] = OmegaConf.to_container(value, resolve=True)
        else:
            out[str(key)] = value
    return out


def baseline_key_material(cfg: DictConfig) -> dict[str, Any]:
    """The part of a run config that determines its baseline: every resolved setting except :data:`UNKEYED`,
    plus ``seed`` = the baseline's seed. ``trainer.accelerator: auto`` is keyed as the device it picks here
    (``cuda`` or ``cpu``), so baselines trained on a GPU and on a CPU never share an entry."""
    material = {**keyed_settings(cfg), "seed": baseline_seed(cfg)}
    trainer = material.get("trainer")
    if isinstance(trainer, dict) and trainer.get("accelerator") == "auto":
        trainer["accelerator"] = "cuda" if torch.cuda.is_available() else "cpu"
    return material


def early_stop_reason(cfg: DictConfig, epochs_done: int | None = None) -> str | None:
    """Why a baseline fit of ``cfg`` must not be cached, or ``None`` when it may be.

    Before the fit (``epochs_done`` None): ``trainer.fast_dev_run`` and ``trainer.overfit_batches`` stop or bend a fit
    by design. After it: a fit that ended before ``trainer.max_epochs`` for any reason (``max_time``, ``max_steps``,
    a callback) is not the fit its config describes.
    """
    trainer = cfg.trainer
    if trainer.get("fast_dev_run"):
        return f"trainer.fast_dev_run={trainer.fast_dev_run} runs a test batch, not a training"
    if trainer.get("overfit_batches"):
        return f"trainer.overfit_batches={trainer.overfit_batches} trains on a fixed few batches"
    if epochs_done is None:
        return None
    max_epochs = trainer.get("max_epochs")
    if max_epochs is None or int(max_epochs) < 1:
        return f"trainer.max_epochs={max_epochs} sets no fixed training length"
    if epochs_done < int(max_epochs):
        limits = [
            f"{name}={trainer.get(name)}"
            for name in ("max_time", "max_steps")
            if trainer.get(name) not in (None, -1)
        ]
        why = f" ({', '.join(limits)})" if limits else ""
        return f"the fit ended after {epochs_done} of trainer.max_epochs={max_epochs} epochs{why}"
    return None
