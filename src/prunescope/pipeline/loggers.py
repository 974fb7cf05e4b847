"""The run's loggers at the end of a run: final metrics, and closing W&B so the next job of a multirun starts its own."""

from __future__ import annotations

import sys
from typing import Any


def log_final_metrics(loggers: list[Any], values: dict[str, Any]) -> None:
    """Log every numeric ``metrics.json`` value except ``run.*`` as ``final/<key>`` to each logger."""
    numeric = {
        f"final/{k}": float(v)
        for k, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and not k.startswith("run.")
    }
    for logger in loggers:
        logger.log_metrics(numeric)
        logger.save()


def finish_wandb() -> None:
    """End the W&B run, if any, so that the next job of a multirun starts its own."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()
