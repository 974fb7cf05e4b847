"""``prunescope-bench``: how fast pruned models really run, and what the framework itself costs.

Sections (``sections=[...]``): ``speedup`` (pruned vs baseline in eager PyTorch, eager + BatchNorm folded +
channels_last and ONNX Runtime), ``sp2ps`` (Sp2PS evaluation cost), ``calibration`` (statistics passes of the
data-driven criteria), ``training`` (Lightning fine-tune step vs a plain loop), ``training_speed`` (training steps
per model in fp32 NCHW, fp32 channels-last, ``auto`` and with the data on the device), ``pruning_time`` (seconds per
``prune()`` call). Every figure is a median over interleaved timed runs at a fixed thread count; the results go
to ``bench.json`` and ``bench.md`` in the run folder.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from prunescope import CONFIG_DIR
from prunescope.atomic_write import write_json_atomic
from prunescope.benchmarks.calibration_cost import calibration_cost
from prunescope.benchmarks.layer_profile import where_time_goes
from prunescope.benchmarks.pruning_time import pruning_time
from prunescope.benchmarks.report import acceptance, render
from prunescope.benchmarks.runtimes import RUNTIMES
from prunescope.benchmarks.sp2ps_cost import sp2ps_cost
from prunescope.benchmarks.speedup import build_variants, speedup_rows, time_variants
from prunescope.benchmarks.training_overhead import training_overhead
from prunescope.benchmarks.training_speed import training_speed
from prunescope.cli_errors import run_command, run_task
from prunescope.config_checks import ConfigError
from prunescope.pruning import CRITERIA
from prunescope.run_dirs import register_resolvers

log = logging.getLogger(__name__)
SECTIONS = ("speedup", "sp2ps", "calibration", "training", "training_speed", "pruning_time")
DEFAULT_THREADS = torch.get_num_threads()
"""PyTorch's own intra-op thread count (what ``prunescope-train`` runs with), read before ``bench`` sets ``threads``."""
register_resolvers()  # run_suffix and project_root, used by conf/


def net_factory(cfg: DictConfig, name: str) -> tuple[Callable[[], torch.nn.Module], list[int], int]:
    """``(make_net, input (C, H, W), num_classes)`` of ``cfg.models[name]``."""
    spec = cfg.models[name]
    return (lambda: instantiate(spec.net)), [int(v) for v in spec.input], int(spec.net.num_classes)


def check_bench_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` (a ``ValueError``) naming the first unknown section, model or runtime (before any
    work)."""
    unknown = sorted(set(cfg.sections) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"unknown section(s) {unknown}; valid: {', '.join(SECTIONS)}")
    used = {
        "speedup": list(cfg.speedup.models) + list(cfg.speedup.goal_models),
        "calibration": [cfg.calibration.model],
        "pruning_time": list(cfg.pruning_time.models),
    }
    for section, names in used.items():
        missing = sorted(set(names) - set(cfg.models)) if section in cfg.sections else []
        if missing:
            raise ConfigError(f"{section}: unknown model(s) {missing}; valid: {', '.join(cfg.models)}")
    speed = cfg.get("training_speed")
    if "training_speed" in cfg.sections and speed is not None:
        missing = sorted(set(speed.models) - set(speed.setups))
        if missing:
            raise ConfigError(
                f"training_speed: unknown model(s) {missing}; valid: {', '.join(speed.setups)} (training_speed.setups)"
            )
        if speed.get("clock", "wall") not in ("wall", "cpu"):
            raise ConfigError(f"training_speed.clock={speed.clock!r} is not a clock; valid: wall, cpu")
        if speed.baseline not in speed.variants:
            raise ConfigError(
                f"training_speed.baseline={speed.baseline!r} is not a variant; valid: {', '.join(speed.variants)}"
            )
    bad_runtimes = sorted(set(cfg.speedup.runtimes) - set(RUNTIMES))
    if "speedup" in cfg.sections and bad_runtimes:
        raise ConfigError(f"speedup: unknown runtime(s) {bad_runtimes}; valid: {', '.join(RUNTIMES)}")


def speedup_section(cfg: DictConfig, workdir: Path) -> dict[str, Any]:
    s = cfg.speedup
    rows, variants_by_model = [], {}
    for name in s.models:
        make_net, shape, _ = net_factory(cfg, name)
        variants = build_variants(
            name, make_net, shape, list(s.ratios), s.method, s.scope, s.round_to, seed=int(cfg.seed)
        )
        medians = time_variants(
            variants, list(s.batches), list(s.runtimes), workdir, int(cfg.threads), int(cfg.warmup),
            int(cfg.repeats), seed=int(cfg.seed),
        )  # fmt: skip
        rows += speedup_rows(variants, medians)
        variants_by_model[name] = variants
        log.info("speedup %s done", name)
    verdicts = acceptance(rows, list(s.goal_models), float(s.goal_ratio), int(s.goal_batch), float(s.goal))
    profiles = {}
    for verdict in verdicts:
        if verdict["met"]:
            continue
        variants = variants_by_model[verdict["model"]]
        images = torch.randn(
            int(s.goal_batch), *variants.input_shape, generator=torch.Generator().manual_seed(0)
        )
        channel_ratio = 1.0 / (1.0 - float(s.goal_ratio)) if s.scope == "local" else None
        profile = where_time_goes(
            variants.nets[0.0], variants.nets[float(s.goal_ratio)], images, workdir / "profiles",
            threads=int(cfg.threads), repeats=int(s.profile_repeats), mac_ratio=verdict["mac_ratio"],
            channel_ratio=channel_ratio,
        )  # fmt: skip
        profile["title"] = f"ratio {s.goal_ratio}, batch {s.goal_batch}"
        profiles[verdict["model"]] = profile
    return {"rows": rows, "acceptance": verdicts, "profiles": profiles}


def calibration_section(cfg: DictConfig, workdir: Path) -> dict[str, Any]:
    c = cfg.calibration
    make_net, shape, _ = net_factory(cfg, c.model)
    result = calibration_cost(
        make_net, shape, int(c.batch_size), int(c.batches), [int(n) for n in c.memory_batches],
        int(cfg.warmup), int(cfg.repeats), int(cfg.seed),
    )  # fmt: skip
    return {"model": c.model, **result}


def training_section(cfg: DictConfig, workdir: Path) -> dict[str, Any]:
    t = cfg.training
    overrides = [str(o) for o in t.overrides]
    result = training_overhead(overrides, workdir / "training", int(t.steps), int(t.warmup), int(t.rounds))
    return {**result, "overrides": overrides}


def training_speed_section(cfg: DictConfig, workdir: Path) -> dict[str, Any]:
    t = cfg.training_speed
    threads = int(t.threads) if t.get("threads") is not None else DEFAULT_THREADS
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rows = training_speed(
            {name: [str(o) for o in t.setups[name]] for name in t.models},
            {name: [str(o) for o in overrides] for name, overrides in t.variants.items()},
            workdir / "training_speed", str(t.baseline), int(t.steps), int(t.warmup), int(t.rounds),
            str(t.get("clock", "wall")), [str(o) for o in t.get("common") or []],
        )  # fmt: skip
    finally:
        torch.set_num_threads(before)
    return {
        "rows": rows,
        "threads": threads,
        "baseline": str(t.baseline),
        "clock": str(t.get("clock", "wall")),
        "common": [str(o) for o in t.get("common") or []],
    }


def sp2ps_section(cfg: DictConfig, workdir: Path) -> list[dict[str, Any]]:
    s = cfg.sp2ps
    return sp2ps_cost(
        list(s.models), s.method, int(s.batches), int(s.batch_size), int(s.classification_batch_size),
        int(s.warmup), int(cfg.repeats), s.clock,
    )  # fmt: skip


def pruning_time_section(cfg: DictConfig, workdir: Path) -> list[dict[str, Any]]:
    p = cfg.pruning_time
    criteria = list(CRITERIA) if p.get("criteria") is None else list(p.criteria)  # null: every registered one
    rows = []
    for name in p.models:
        make_net, shape, classes = net_factory(cfg, name)
        rows += pruning_time(
            name, make_net, shape, classes, criteria, float(p.ratio), p.scope, int(p.batch_size),
            int(p.calibration_batches), int(p.warmup), int(p.repeats), int(cfg.seed),
        )  # fmt: skip
    return rows


RUNNERS: dict[str, Callable[[DictConfig, Path], Any]] = {
    "speedup": speedup_section,
    "sp2ps": sp2ps_section,
    "calibration": calibration_section,
    "training": training_section,
    "training_speed": training_speed_section,
    "pruning_time": pruning_time_section,
}


def machine() -> str:
    """CPU model and logical core count (Linux ``/proc/cpuinfo``; ``platform`` elsewhere)."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} logical cores, {platform.system()}"


def bench(cfg: DictConfig, command: str = "prunescope-bench") -> dict[str, Any]:
    """Run the configured sections; returns the results (also written as bench.json and bench.md).

    Intermediate files (ONNX exports, the training section's run folder) live in a temporary folder.
    """
    check_bench_config(cfg)
    started, cpu_started = time.perf_counter(), time.process_time()
    threads = torch.get_num_threads()
    torch.set_num_threads(int(cfg.threads))
    out_dir = Path(cfg.paths.output_dir)
    versions = {}
    for package in ("torch", "onnxruntime", "torch-pruning", "pytorch-lightning"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    results: dict[str, Any] = {
        "meta": {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": machine(),
            "threads": int(cfg.threads),
            "warmup": int(cfg.warmup),
            "repeats": int(cfg.repeats),
            "command": command,
            "versions": versions,
            "config": OmegaConf.to_container(cfg, resolve=False),
        },
        "seconds": {},
    }
    try:
        with tempfile.TemporaryDirectory(prefix="prunescope-bench-") as workdir:
            for section in cfg.sections:
                t0 = time.perf_counter()
                results[section] = RUNNERS[section](cfg, Path(workdir))
                results["seconds"][section] = time.perf_counter() - t0
                log.info("section %s: %.0f s", section, results["seconds"][section])
    finally:
        torch.set_num_threads(threads)
    results["seconds"]["total"] = time.perf_counter() - started
    results["seconds"]["cpu_total"] = time.process_time() - cpu_started
    write_json_atomic(out_dir / "bench.json", results)
    (out_dir / "bench.md").write_text(render(results))
    return results


def bench_command(cfg: DictConfig) -> None:
    """``prunescope-bench``'s task: check the config, run the sections, print the report."""
    command = " ".join(["prunescope-bench", *sys.argv[1:]])
    check_bench_config(cfg)
    bench(cfg, command)
    out_dir = Path(cfg.paths.output_dir)
    print((out_dir / "bench.md").read_text())
    print(f"wrote {out_dir / 'bench.md'} and {out_dir / 'bench.json'}")


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="bench")
def hydra_main(cfg: DictConfig) -> None:
    run_task(bench_command, cfg)


def main() -> None:
    """Entry point of ``prunescope-bench``; errors end as :mod:`prunescope.cli_errors` says."""
    run_command(hydra_main)


if __name__ == "__main__":
    main()
