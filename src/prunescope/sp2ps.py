"""``prunescope-sp2ps baseline_ckpt=... pruned_ckpt=... [data=...]``: Sp2PS of two checkpoints on a test split.

The data settings are the checkpoints' own (recorded in them at training time) unless ``data=<name>`` is given;
two checkpoints made with different data settings are refused unless ``force=true``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from prunescope import CONFIG_DIR
from prunescope.atomic_write import write_json_atomic
from prunescope.checkpoints import data_differences, module_from_checkpoint, read_checkpoint
from prunescope.cli_errors import run_command, run_task
from prunescope.config_checks import TASK_OF_MODULE, ConfigError, group_choice
from prunescope.instantiate import build_trainer
from prunescope.run_dirs import register_resolvers
from prunescope.seeding import seed_run

register_resolvers()  # run_suffix and project_root, used by conf/


def data_config(cfg: DictConfig, checkpoints: list[dict[str, Any]]) -> DictConfig:
    """The data to score on: ``data=<name>`` when given, else the checkpoints' own (which must agree).

    Raises:
        ConfigError: no data given and none recorded, the given data is of another task than the checkpoints'
            models (segmentation / classification), or the two checkpoints were made with different data settings
            (image size, classes, ...) and ``force`` is false.
    """
    if cfg.get("data") is not None:
        targets = {str((c.get("model_config") or {}).get("_target_")) for c in checkpoints}
        tasks = {TASK_OF_MODULE[t] for t in targets if t in TASK_OF_MODULE}
        data_task = cfg.data.get("task")
        if data_task is not None and tasks and tasks != {data_task}:
            raise ConfigError(
                f"data={group_choice(cfg, 'data')} is a {data_task} dataset but the checkpoints hold "
                f"{' and '.join(sorted(tasks))} models; choose data of their task, or no data= to score on the "
                "checkpoints' own"
            )
        return cfg.data
    recorded = [c["data_config"] for c in checkpoints if c.get("data_config") is not None]
    if not recorded:
        raise ConfigError(
            "the checkpoints record no data settings (written before data_config); pass data=<name>"
        )
    if len(recorded) == 2 and data_differences(*recorded) and not cfg.get("force"):
        raise ConfigError(
            "the two checkpoints were made with different data settings ("
            + "; ".join(data_differences(*recorded))
            + "); pass force=true to score on the baseline's, or data=<name> to choose"
        )
    return OmegaConf.create(recorded[0])


def score_checkpoints(cfg: DictConfig) -> dict[str, Any]:
    """Sp2PS of ``cfg.pruned_ckpt`` against ``cfg.baseline_ckpt`` on the test split of the checkpoints' data
    (or ``cfg.data`` when given)."""
    checkpoints = [read_checkpoint(cfg.baseline_ckpt), read_checkpoint(cfg.pruned_ckpt)]
    data = data_config(cfg, checkpoints)
    baseline, pruned = (
        module_from_checkpoint(c, path)
        for c, path in zip(checkpoints, (cfg.baseline_ckpt, cfg.pruned_ckpt), strict=True)
    )
    seed_run(cfg)
    datamodule = instantiate(data)
    callback = instantiate(cfg.cam)
    callback.set_baseline(baseline.net)
    trainer = build_trainer(cfg, callbacks=[callback], loggers=False, enable_checkpointing=False)
    trainer.test(pruned, datamodule=datamodule, verbose=False)
    scores = callback.result
    if scores is None:
        raise RuntimeError("Sp2PS was not scored: the test loop ran no batch (check data and cam.enabled)")
    result = {
        "baseline_ckpt": str(cfg.baseline_ckpt),
        "pruned_ckpt": str(cfg.pruned_ckpt),
        **scores.values,
        "seconds": scores.seconds,
    }
    write_json_atomic(Path(cfg.paths.output_dir) / "sp2ps.json", result)
    return result


def sp2ps_command(cfg: DictConfig) -> None:
    """``prunescope-sp2ps``'s task: score, print the figures."""
    result = score_checkpoints(cfg)
    for key in ("sp2ps", "spatial", "spectral", "pairs", "skipped"):
        print(f"{key}: {result.get(key)}")


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="sp2ps")
def hydra_main(cfg: DictConfig) -> None:
    run_task(sp2ps_command, cfg)


def main() -> None:
    """Entry point of ``prunescope-sp2ps``; errors end as :mod:`prunescope.cli_errors` says."""
    run_command(hydra_main)


if __name__ == "__main__":
    main()
