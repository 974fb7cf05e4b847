"""``metrics.json``: one flat JSON file per run, the only thing ``prunescope-report`` reads.

Keys are grouped by prefix (documented in README, "metrics.json schema"):

- ``run.*``       identity and outcome: model, data, method, scope, ratio, seed, schedule, status, error, name
- ``quality.metric``  the main quality metric: ``miou`` (segmentation) or ``acc`` (classification)
- ``baseline.*`` / ``pruned.*``  quality (``miou``, ``pixel_acc``, ``iou_per_class`` or ``acc``) and cost
  (``params``, ``macs``, ``size_mb``, ``latency_ms``)
- ``drop.params_pct``, ``drop.macs_pct``, ``drop.size_pct``; ``delta.<metric>`` = pruned - baseline; ``speedup``
- ``sp2ps.*``     score, spatial, spectral, pairs, skipped, per_class
- ``time.*``      seconds: baseline, prune, finetune, sp2ps, total
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

SCHEMA_VERSION = 1


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


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` via a temp file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(to_json_value(dict(data)), handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def percent_drop(before: float | None, after: float | None) -> float | None:
    """100 · (before − after) / before, or ``None`` when undefined."""
    if before is None or after is None or before == 0:
        return None
    return 100.0 * (before - after) / before


class RunRecord:
    """Accumulates the flat metrics of one run and rewrites ``metrics.json`` atomically on every :meth:`save`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.values: dict[str, Any] = {"schema": SCHEMA_VERSION}

    def update(self, prefix: str, values: Mapping[str, Any]) -> None:
        """Store ``values`` under ``prefix.<key>`` (``prefix=""`` stores keys as given)."""
        for key, value in values.items():
            self.values[f"{prefix}.{key}" if prefix else key] = to_json_value(value)

    def add_comparison(self, quality_keys: list[str]) -> None:
        """Derive ``drop.*``, ``delta.*`` and ``speedup`` from the stored ``baseline.*`` and ``pruned.*``."""
        v = self.values
        for name in ("params", "macs", "size_mb"):
            key = "size_pct" if name == "size_mb" else f"{name}_pct"
            v[f"drop.{key}"] = percent_drop(v.get(f"baseline.{name}"), v.get(f"pruned.{name}"))
        for name in quality_keys:
            before, after = v.get(f"baseline.{name}"), v.get(f"pruned.{name}")
            if isinstance(before, int | float) and isinstance(after, int | float):
                v[f"delta.{name}"] = after - before
        before, after = v.get("baseline.latency_ms"), v.get("pruned.latency_ms")
        v["speedup"] = before / after if before and after else None

    def save(self) -> None:
        write_json_atomic(self.path, self.values)
