"""``prunescope-export ckpt_path=... format=onnx|torchscript``: a run's network as a deployable file + sidecar."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from prunescope import CONFIG_DIR
from prunescope.atomic_write import write_json_atomic
from prunescope.cli_errors import run_command, run_task
from prunescope.config_checks import ConfigError
from prunescope.deploy import (
    FORMATS,
    SIDECAR_NAME,
    build_sidecar,
    check_export_options,
    data_description,
    export_network,
    input_shape,
    load_source,
)
from prunescope.run_dirs import register_resolvers

log = logging.getLogger(__name__)
register_resolvers()  # run_suffix and project_root, used by conf/


def export(cfg: DictConfig) -> dict[str, Any]:
    """Export the checkpoint ``cfg.ckpt_path`` into ``cfg.paths.output_dir``; returns the sidecar (also written)."""
    round_to, tolerance = cfg.round_to, cfg.tolerance
    check_export_options(str(cfg.format), round_to, str(cfg.round_method), tolerance)
    if cfg.input_shape is not None and not OmegaConf.is_list(cfg.input_shape):
        raise ConfigError(
            f"input_shape must be a list [H, W], [C, H, W] or [B, C, H, W], got {cfg.input_shape!r}"
        )
    override = None if cfg.input_shape is None else list(OmegaConf.to_container(cfg.input_shape))
    source = load_source(cfg.ckpt_path, cfg.paths, run_dir=cfg.get("run_dir"))
    shape = input_shape(source, override)
    out_dir = Path(cfg.paths.output_dir)
    exported = export_network(
        source.net,
        shape,
        out_dir / FORMATS[str(cfg.format)],
        fmt=str(cfg.format),
        round_to=round_to,
        round_method=str(cfg.round_method),
        tolerance=float(tolerance),
        seed=int(cfg.seed),
    )
    sidecar = build_sidecar(exported, source, data_description(source), str(cfg.round_method))
    write_json_atomic(out_dir / SIDECAR_NAME, sidecar)
    return sidecar


def export_command(cfg: DictConfig) -> None:
    """``prunescope-export``'s task: export, print what was written."""
    sidecar = export(cfg)
    out_dir = Path(cfg.paths.output_dir)
    print(f"wrote {out_dir / sidecar['file']} and {out_dir / SIDECAR_NAME}")
    for key in (
        "params",
        "macs",
        "params_folded",
        "batch_norm_folded",
        "max_relative_error",
        "runtime_checked",
    ):
        log.info("%s: %s", key, sidecar[key])
        print(f"{key}: {sidecar[key]}")


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="export")
def hydra_main(cfg: DictConfig) -> None:
    run_task(export_command, cfg)


def main() -> None:
    """Entry point of ``prunescope-export``; errors end as :mod:`prunescope.cli_errors` says."""
    run_command(hydra_main)


if __name__ == "__main__":
    main()
