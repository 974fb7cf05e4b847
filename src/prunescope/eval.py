"""``prunescope-eval ckpt_path=...``: rebuild a run's model from its saved config, replay its pruning, test it."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from prunescope import CONFIG_DIR
from prunescope.atomic_write import write_json_atomic
from prunescope.checkpoints import load_checkpoint_into
from prunescope.instantiate import build_module, build_trainer
from prunescope.pipeline.testing import test_module
from prunescope.seeding import seed_run

log = logging.getLogger(__name__)


def load_run_config(run_dir: Path, paths: DictConfig) -> DictConfig:
    """The composed config a run saved in ``run_dir/.hydra/config.yaml``, with this process's ``paths``."""
    config_file = run_dir / ".hydra" / "config.yaml"
    if not config_file.is_file():
        raise FileNotFoundError(
            f"no run config at {config_file}; pass run_dir=<the prunescope-train run dir that wrote the checkpoint>"
        )
    run_cfg = OmegaConf.load(config_file)
    with open_dict(run_cfg):
        run_cfg.paths = OmegaConf.create(OmegaConf.to_container(paths, resolve=True))
    return run_cfg


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Test the checkpoint ``cfg.ckpt_path``; returns (and writes to the output dir) its quality metrics."""
    ckpt_path = Path(cfg.ckpt_path)
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path} does not exist")
    run_dir = Path(cfg.run_dir) if cfg.get("run_dir") else ckpt_path.resolve().parent.parent
    run_cfg = load_run_config(run_dir, cfg.paths)
    if cfg.get("data_overrides"):
        with open_dict(run_cfg):
            run_cfg.data = OmegaConf.merge(run_cfg.data, cfg.data_overrides)
    seed_run(cfg)
    datamodule = instantiate(run_cfg.data)
    module = build_module(run_cfg, datamodule)
    load_checkpoint_into(module, ckpt_path)
    trainer = build_trainer(cfg, callbacks=[], loggers=False, enable_checkpointing=False)
    metrics = {"ckpt_path": str(ckpt_path), **test_module(trainer, module, datamodule)}
    write_json_atomic(Path(cfg.paths.output_dir) / "eval_metrics.json", metrics)
    return metrics


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="eval")
def main(cfg: DictConfig) -> None:
    try:
        metrics = evaluate(cfg)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    for key, value in metrics.items():
        log.info("%s: %s", key, value)
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
