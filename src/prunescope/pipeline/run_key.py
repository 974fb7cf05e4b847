"""What a run is, for ``skip_completed``: the key of its whole resolved config (``run.config_key`` in metrics.json).

A run dir's ``metrics.json`` holds a completed run only if it was written by a run of the same settings. The
``run.*`` identity (model, method, ratio, seed, ...) does not say that: a sweep dir re-used with another width, another
fine-tune length or another learning rate would match it and be skipped as done. The key is
``sha256(canonical_json(settings))[:16]`` of the **whole resolved config minus** :data:`RUN_UNKEYED`, an explicit list
of settings that change neither the trained weights nor the figures recorded (each with the reason), so a setting
added later is keyed unless it is declared here.
"""

from __future__ import annotations

from functools import partial

from omegaconf import DictConfig

from prunescope.baselines.cache import baseline_key
from prunescope.baselines.material import UNKEYED, is_unkeyed, keyed_settings

RUN_UNKEYED: dict[str, str] = {
    "task_name": "names the entry point",
    "tags": "labels for dashboards",
    "skip_completed": "whether a completed run dir is run again",
    "ckpt_path": "where a fit resumes from; a resumed fit ends with the uninterrupted fit's weights",
    "resume": "whether a fit resumes; same weights either way",
    "objectives": "what a run returns to a sweeper, read from metrics.json",
    "paths": "where files go (data roots are keyed through data.root)",
    "hydra": "Hydra's run/sweep dirs, launcher and logging",
    "logger": "loggers record, they do not train",
    "callbacks": "checkpoint writing in the run dir (their paths follow it)",
    "baseline.cache": "whether the baseline cache is used: the cache holds the baseline that this config trains",
    "baseline.lock": "how the cache is locked",
    "baseline.lock_stale_s": "how the cache is locked",
    "baseline.force": "retrains the same baseline",
    **{path: reason for path, reason in UNKEYED.items() if path.startswith(("data.", "trainer."))},
}
"""Dotted config paths (a path excludes its whole subtree) left out of ``run.config_key``, each with why: the
display, logging and file-location settings, and the data and Trainer settings the baseline cache also leaves out
(:data:`prunescope.baselines.material.UNKEYED`)."""


def run_config_key(cfg: DictConfig) -> str:
    """The first 16 hex digits of ``sha256`` of ``cfg``'s resolved settings minus :data:`RUN_UNKEYED` (call it after
    ``trainer.precision: auto`` is resolved, so that the key names the precision the run used)."""
    return baseline_key(keyed_settings(cfg, partial(is_unkeyed, unkeyed=RUN_UNKEYED)))
