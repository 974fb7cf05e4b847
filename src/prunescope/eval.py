"""``prunescope-eval ckpt_path=...``: rebuild a run's model from its saved config, replay its pruning, test it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from prunescope import CONFIG_DIR
from prunescope.atomic_write import write_json_atomic
from prunescope.checkpoints import load_state, read_checkpoint
from prunescope.cli_errors import run_command, run_task
from prunescope.config_checks import ConfigError, instantiate_checked
from prunescope.instantiate import build_module, build_trainer
from prunescope.pipeline.testing import test_module
from prunescope.run_dirs import register_resolvers
from prunescope.seeding import seed_run

register_resolvers()  # run_suffix and project_root, used by conf/

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
    checkpoint = read_checkpoint(
        ckpt_path
    )  # a clear error for a missing, empty or foreign file, before any work
    run_dir = Path(cfg.run_dir) if cfg.get("run_dir") else ckpt_path.resolve().parent.parent
    run_cfg = load_run_config(run_dir, cfg.paths)
    if cfg.get("data_overrides"):
        with open_dict(run_cfg):
            run_cfg.data = OmegaConf.merge(run_cfg.data, cfg.data_overrides)
    seed_run(cfg)
    try:
        datamodule = instantiate_checked(run_cfg.data, run_cfg)
        module = build_module(run_cfg, datamodule)
    except ConfigError as error:
        raise ConfigError(
            f"the run config {run_dir / '.hydra' / 'config.yaml'} of checkpoint {ckpt_path} does not build: {error}"
        ) from error
    load_state(module, checkpoint, ckpt_path)
    trainer = build_trainer(cfg, callbacks=[], loggers=False, enable_checkpointing=False)
    metrics = {"ckpt_path": str(ckpt_path), **test_module(trainer, module, datamodule)}
    write_json_atomic(Path(cfg.paths.output_dir) / "eval_metrics.json", metrics)
    return metrics


def eval_command(cfg: DictConfig) -> None:
    """``prunescope-eval``'s task: evaluate, print the metrics."""
    for key, value in evaluate(cfg).items():
        log.info("%s: %s", key, value)
        print(f"{key}: {value}")


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="eval")
def hydra_main(cfg: DictConfig) -> None:
    run_task(eval_command, cfg)


def main() -> None:
    """Entry point of ``prunescope-eval``; errors end as :mod:`prunescope.cli_errors` says."""
    run_command(hydra_main)


if __name__ == "__main__":
    main()
