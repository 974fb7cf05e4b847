"""What an export starts from: a checkpoint, the run that wrote it, and the input it was measured on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from prunescope.checkpoints import module_from_checkpoint, read_checkpoint
from prunescope.config_checks import ConfigError


@dataclass
class CheckpointSource:
    """A rebuilt network and what is known about the run that trained it.

    Attributes:
        net: The network, pruning record replayed and weights loaded, in eval mode.
        ckpt_path: The checkpoint file.
        pruning_record: The checkpoint's pruning record (list of ops).
        model_config: The checkpoint's resolved ``model`` config.
        run_dir: The run folder (holding ``.hydra/config.yaml`` and ``metrics.json``), if found.
        run_config: The run's composed config (``paths`` replaced by this process's), if found.
        metrics: The run's ``metrics.json``, if found.
    """

    net: nn.Module
    ckpt_path: Path
    pruning_record: list[dict[str, Any]]
    model_config: dict[str, Any]
    run_dir: Path | None
    run_config: DictConfig | None
    metrics: dict[str, Any] | None


def load_source(
    ckpt_path: str | Path, paths: DictConfig, run_dir: str | Path | None = None
) -> CheckpointSource:
    """Rebuild the network of ``ckpt_path`` and find its run (default run folder: two levels above the file).

    Raises:
        FileNotFoundError: The checkpoint does not exist.
        CheckpointError: The file is no checkpoint written by ``prunescope-train`` (no ``model_config``), or its
            model config, pruning record or weights do not fit this version's model.
    """
    from prunescope.eval import load_run_config

    ckpt_path = Path(ckpt_path)
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path} does not exist")
    checkpoint = read_checkpoint(ckpt_path)
    module = module_from_checkpoint(checkpoint, ckpt_path)
    folder = Path(run_dir) if run_dir is not None else ckpt_path.resolve().parent.parent
    run_config = load_run_config(folder, paths) if (folder / ".hydra" / "config.yaml").is_file() else None
    metrics_file = folder / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else None
    found = run_config is not None or metrics is not None
    return CheckpointSource(
        net=module.net.eval(),
        ckpt_path=ckpt_path,
        pruning_record=list(checkpoint.get("pruning_record") or []),
        model_config=dict(checkpoint["model_config"]),
        run_dir=folder if found else None,
        run_config=run_config,
        metrics=metrics,
    )


def input_shape(source: CheckpointSource, override: list[int] | None = None) -> list[int]:
    """``[1, C, H, W]`` of one deployed sample.

    In order: ``override`` (``[H, W]``, ``[C, H, W]`` or ``[B, C, H, W]``); one test image of the run's
    datamodule (the input ``metrics.json`` was measured on); the input shape stored in the pruning record.

    Raises:
        ConfigError: ``override`` has the wrong length, or nothing tells the shape.
    """
    channels = int(source.model_config.get("net", {}).get("in_channels", 3))
    if override is not None:
        values = [int(v) for v in override]
        if len(values) not in (2, 3, 4):
            raise ConfigError(f"input_shape must be [H, W], [C, H, W] or [B, C, H, W], got {list(override)}")
        return [1, *([channels] if len(values) == 2 else []), *values[-3 if len(values) > 2 else -2 :]]
    if source.run_config is not None:
        datamodule = instantiate(source.run_config.data)
        datamodule.setup("test")
        images, _ = next(iter(datamodule.test_dataloader()))
        return [1, *images.shape[1:]]
    for op in source.pruning_record:
        if "input_shape" in op:
            return [1, *op["input_shape"][1:]]
    raise ConfigError(
        f"cannot tell the input shape of {source.ckpt_path} (no run config); pass input_shape=[H,W]"
    )


def data_description(source: CheckpointSource) -> dict[str, Any]:
    """``task``, ``num_classes``, ``class_names`` and ``normalisation`` of the run's datamodule (class attributes).

    Without a run config, only ``num_classes`` (from the model config) is known.
    """
    net_config = source.model_config.get("net", {})
    description: dict[str, Any] = {
        "task": getattr(source.net, "task", None),
        "num_classes": net_config.get("num_classes"),
        "class_names": None,
        "normalisation": None,
    }
    if source.run_config is None:
        return description
    data = OmegaConf.to_container(source.run_config.data, resolve=True)
    cls = get_class(data["_target_"])
    description["class_names"] = list(getattr(cls, "class_names", []) or []) or None
    mean, std = getattr(cls, "input_mean", None), getattr(cls, "input_std", None)
    if mean is not None and std is not None:
        description["normalisation"] = {
            "pixel_range": [0.0, 1.0],
            "mean": [float(m) for m in mean],
            "std": [float(s) for s in std],
            "formula": "(pixel - mean) / std, per channel",
        }
    return description
