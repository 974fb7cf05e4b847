"""The JSON sidecar written next to an exported model: what goes in, what comes out, what it costs, where from."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

from prunescope.deploy.onnx_model import INPUT_NAME, OUTPUT_NAME
from prunescope.deploy.pipeline import ExportedModel
from prunescope.deploy.source import CheckpointSource

SIDECAR_NAME = "model.json"
RUN_KEYS = ("run.name", "run.model", "run.data", "run.method", "run.scope", "run.ratio", "run.seed")


def build_sidecar(
    exported: ExportedModel, source: CheckpointSource, data: dict[str, Any], round_method: str
) -> dict[str, Any]:
    """The sidecar of ``exported`` (a plain JSON-safe dict).

    Keys: ``format``, ``file``, ``runtime_checked``, ``max_relative_error``; ``input`` (name, shape ``[B, C, H,
    W]`` with ``B`` free, dtype, layout, normalisation) and ``output`` (name, task, classes, class names);
    ``params`` / ``macs`` (the network as trained, BatchNorm counted, one sample: equal to the run's
    ``pruned.params`` / ``pruned.macs`` unless ``round_to`` changed the network), ``params_folded`` (the file),
    ``batch_norm_folded``; ``round_to`` (with its method and fraction removed); ``source`` (checkpoint, run folder,
    the run's identity from ``metrics.json``, pruning ops); ``versions``.
    """
    rounding = exported.rounding
    metrics = source.metrics or {}
    return {
        "format": exported.format,
        "file": exported.path.name,
        "runtime_checked": exported.runtime,
        "max_relative_error": exported.max_relative_error,
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch", *exported.input_shape[1:]],
            "dtype": "float32",
            "layout": "NCHW",
            "normalisation": data.get("normalisation"),
        },
        "output": {
            "name": OUTPUT_NAME,
            "task": data.get("task"),
            "num_classes": data.get("num_classes"),
            "class_names": data.get("class_names"),
            "kind": "logits, (batch, classes, H, W)" if data.get("task") == "segmentation" else "logits",
        },
        "params": exported.params,
        "macs": exported.macs,
        "params_folded": exported.params_folded,
        "batch_norm_folded": len(exported.folded),
        "round_to": None
        if rounding is None
        else {
            "multiple": exported.round_to,
            "method": round_method,
            "filters_removed_fraction": rounding.ratio,
            "params_before": rounding.params_before,
            "macs_before": rounding.macs_before,
        },
        "source": {
            "ckpt_path": str(Path(source.ckpt_path).resolve()),
            "run_dir": None if source.run_dir is None else str(Path(source.run_dir).resolve()),
            **{key.removeprefix("run."): metrics.get(key) for key in RUN_KEYS},
            "pruning_ops": [op.get("op") for op in source.pruning_record],
        },
        "versions": _versions(),
    }


def _versions() -> dict[str, str]:
    """Installed versions of the packages that wrote and checked the file."""
    versions = {}
    for package in ("prunescope", "torch", "onnx", "onnxruntime"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
