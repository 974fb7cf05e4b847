"""``prunescope-sp2ps baseline_ckpt=... pruned_ckpt=... data=...``: Sp2PS of any two checkpoints on a test split."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

from prunescope import CONFIG_DIR
from prunescope.atomic_write import write_json_atomic
from prunescope.checkpoints import module_from_checkpoint, read_checkpoint
from prunescope.instantiate import build_trainer
from prunescope.seeding import seed_run


def score_checkpoints(cfg: DictConfig) -> dict[str, Any]:
    """Sp2PS of ``cfg.pruned_ckpt`` against ``cfg.baseline_ckpt`` on ``cfg.data``'s test split."""
    baseline = module_from_checkpoint(read_checkpoint(cfg.baseline_ckpt))
    pruned = module_from_checkpoint(read_checkpoint(cfg.pruned_ckpt))
    seed_run(cfg)
    datamodule = instantiate(cfg.data)
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


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="sp2ps")
def main(cfg: DictConfig) -> None:
    try:
        result = score_checkpoints(cfg)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    for key in ("sp2ps", "spatial", "spectral", "pairs", "skipped"):
        print(f"{key}: {result.get(key)}")


if __name__ == "__main__":
    main()
