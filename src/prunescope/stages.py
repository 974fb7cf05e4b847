"""The stages of one run: test a module, train a baseline, load a checkpoint, profile cost."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from prunescope.instantiate import build_module, build_trainer
from prunescope.modules import TaskModule


def seed_run(cfg: DictConfig) -> None:
    """Seed Python, NumPy and torch (and dataloader workers) from ``cfg.seed``; ``seed: null`` leaves them as they are."""
    if cfg.get("seed") is not None:
        pl.seed_everything(int(cfg.seed), workers=True)


def quality_from_logged(logged: dict[str, Any], quality_metric: str) -> dict[str, Any]:
    """``test/miou``, ``test/pixel_acc``, ``test/iou_<k>`` → ``miou``, ``pixel_acc``, ``iou_per_class``; or ``acc``."""
    values = {k.removeprefix("test/"): float(v) for k, v in logged.items() if k.startswith("test/")}
    if quality_metric == "acc":
        return {"acc": values.get("acc")}
    per_class = sorted((int(k.split("_")[1]), v) for k, v in values.items() if k.startswith("iou_"))
    return {
        "miou": values.get("miou"),
        "pixel_acc": values.get("pixel_acc"),
        "iou_per_class": [v for _, v in per_class],
    }


def test_module(
    trainer: pl.Trainer, module: TaskModule, datamodule: pl.LightningDataModule
) -> dict[str, Any]:
    """Run ``trainer.test`` and return the quality metrics by their short names."""
    results = trainer.test(module, datamodule=datamodule, verbose=False)
    return quality_from_logged(results[0] if results else {}, module.quality_metric)


def example_input(datamodule: pl.LightningDataModule) -> torch.Tensor:
    """One test image ``(1, 3, H, W)``: the input for MACs and latency."""
    datamodule.setup("test")
    images, _ = next(iter(datamodule.test_dataloader()))
    return images[:1].clone()


def profile(net: torch.nn.Module, example: torch.Tensor, repeats: int) -> dict[str, float]:
    """params, macs, size_mb, latency_ms of ``net`` on ``example`` (see :mod:`prunescope.metrics.efficiency`)."""
    from prunescope.metrics import efficiency

    device = next(net.parameters()).device
    x = example.to(device)
    return {
        "params": efficiency.count_params(net),
        "macs": efficiency.count_macs(net, x),
        "size_mb": efficiency.model_size_mb(net),
        "latency_ms": efficiency.measure_latency_ms(net, x, repeats=repeats),
    }


def save_module_checkpoint(module: TaskModule, path: Path, extra: dict[str, Any] | None = None) -> None:
    """A ``weights_only``-safe checkpoint: ``state_dict`` + ``pruning_record`` (+ plain ``extra`` data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "state_dict": module.state_dict(),
        "pruning_record": list(module.pruning_record),
        "model_config": module.model_config,
    }
    payload.update(extra or {})
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_module_checkpoint(module: TaskModule, path: str | Path) -> dict[str, Any]:
    """Replay the checkpoint's pruning record on ``module.net``, then load its weights (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    module.apply_pruning_record(checkpoint.get("pruning_record") or [])
    module.load_state_dict(checkpoint["state_dict"])
    return checkpoint


def baseline_key_material(cfg: DictConfig) -> dict[str, Any]:
    """The part of a run config that determines its baseline: model, data, training length, seed."""
    trainer = cfg.trainer
    return {
        "model": OmegaConf.to_container(cfg.model, resolve=True),
        "data": OmegaConf.to_container(cfg.data, resolve=True),
        "trainer": {
            key: OmegaConf.select(trainer, key)
            for key in ("max_epochs", "min_epochs", "limit_train_batches", "limit_val_batches", "precision")
        },
        "seed": cfg.get("seed"),
    }


def train_baseline(cfg: DictConfig, datamodule: pl.LightningDataModule, out_dir: Path) -> dict[str, Any]:
    """Train and test a baseline in ``out_dir``; write ``out_dir/baseline.ckpt``; return its test metrics."""
    started = time.perf_counter()
    seed_run(cfg)
    module = build_module(cfg, datamodule)
    trainer = build_trainer(
        cfg, callbacks=[], loggers=False, default_root_dir=str(out_dir), enable_checkpointing=False
    )
    trainer.fit(module, datamodule=datamodule)
    metrics = test_module(trainer, module, datamodule)
    metrics["train_seconds"] = time.perf_counter() - started
    save_module_checkpoint(module, out_dir / "baseline.ckpt", {"metrics": metrics})
    return metrics
