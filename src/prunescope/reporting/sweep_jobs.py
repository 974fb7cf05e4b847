"""The jobs a Hydra sweep was to run, read from the ``multirun.yaml`` Hydra writes into the sweep dir.

A job that left no ``metrics.json`` (never started, killed before its first write, folder removed) is still a job of
the sweep: :func:`prunescope.reporting.collect.collect_runs` lists it as a failed row with its overrides.

Hydra's basic sweeper (the default, also under the joblib, submitit and Slurm launchers) runs the cartesian product of
the swept values: the parameter lists of ``hydra.sweeper.params`` and of the command line's overrides
(``hydra.overrides.task``), expanded here by Hydra's own :meth:`BasicSweeper.split_arguments`, job ``i`` in the
folder ``<sweep dir>/<hydra.sweep.subdir>`` (``i`` itself by default). Sweeps of other sweepers (Optuna) choose
their jobs as they run; their job list is unknown here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

MULTIRUN_FILE = "multirun.yaml"
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
DEFAULT_SUBDIR = "${hydra.job.num}"


@dataclass(frozen=True)
class SweepJob:
    """One job of a sweep.

    Attributes:
        sweep_dir: the sweep dir (holding ``multirun.yaml``).
        num: the job number (``hydra.job.num``), 0-based.
        total: the number of jobs of the sweep.
        overrides: the job's overrides as Hydra writes them to its ``.hydra/overrides.yaml``.
        folder: the job's folder when the sweep uses the default ``hydra.sweep.subdir`` (the job number), else None.
        swept: the keys whose values the sweep varies (the others are in ``multirun.yaml``'s config already).
    """

    sweep_dir: Path
    num: int
    total: int
    overrides: tuple[str, ...]
    folder: Path | None
    swept: frozenset[str] = frozenset()


def sweep_jobs(sweep_dir: str | Path) -> list[SweepJob] | None:
    """The jobs of the sweep in ``sweep_dir``, in job order; None without a readable ``multirun.yaml`` or when
    another sweeper than Hydra's basic one ran it."""
    sweep_dir = Path(sweep_dir)
    try:
        config = OmegaConf.load(sweep_dir / MULTIRUN_FILE)
        hydra = OmegaConf.to_container(config.hydra, resolve=False)  # raw: ${...} stays text
        sweeper = hydra.get("sweeper") or {}
        if sweeper.get("_target_") != BASIC_SWEEPER:
            return None
        params = sweeper.get("params") or {}
        arguments = [f"{key}={value}" for key, value in params.items()]
        arguments += [str(item) for item in hydra["overrides"]["task"]]
        overrides = OverridesParser.create().parse_overrides(arguments)
        batches = BasicSweeper.split_arguments(overrides, max_batch_size=None)
    except Exception:  # unreadable, not written by Hydra, or a sweep syntax that needs the config dir (glob)
        return None
    jobs = [tuple(job) for batch in batches for job in batch]
    swept = frozenset(o.get_key_element().lstrip("+~") for o in overrides if o.is_sweep_override())
    default_subdir = str(hydra.get("sweep", {}).get("subdir")) == DEFAULT_SUBDIR
    return [
        SweepJob(sweep_dir, num, len(jobs), job, sweep_dir / str(num) if default_subdir else None, swept)
        for num, job in enumerate(jobs)
    ]


def sweep_config(sweep_dir: str | Path) -> DictConfig | None:
    """The sweep's ``multirun.yaml`` (the config without the swept values), or None."""
    try:
        return OmegaConf.load(Path(sweep_dir) / MULTIRUN_FILE)
    except Exception:
        return None


def _number(text: str | None, kind: type) -> Any:
    try:
        return kind(text) if text is not None else None
    except ValueError:
        return None


def job_identity(job: SweepJob, config: DictConfig | None) -> dict[str, Any]:
    """``run.model``, ``run.data``, ``run.method``, ``run.scope``, ``run.ratio``, ``run.seed`` of a job that wrote no
    ``metrics.json``: its overrides, else the sweep's config (``multirun.yaml``: the overrides that are not swept
    applied).
    A value that a swept group would change, such as ``pruning.ratio`` under ``pruning=l1,isd`` or anything under
    a swept ``experiment``, stays unknown (None)."""
    values: dict[str, str] = {}
    for override in job.overrides:
        key, sep, value = override.partition("=")
        if sep:
            values[key.lstrip("+~")] = value
    plain: Mapping[str, Any] = {}
    choices: Mapping[str, Any] = {}
    if config is not None and "experiment" not in job.swept:
        plain = OmegaConf.to_container(config, resolve=False)
        choices = ((plain.get("hydra") or {}).get("runtime") or {}).get("choices") or {}
    pruning = plain.get("pruning") or {}
    pruning_fixed = "pruning" not in job.swept and pruning.get("_target_") is not None

    def pruning_value(name: str) -> Any:
        if f"pruning.{name}" in values:
            return values[f"pruning.{name}"]
        return pruning.get(name) if pruning_fixed else None

    seed = values.get("seed", plain.get("seed"))
    return {
        "run.model": values.get("model", choices.get("model")),
        "run.data": values.get("data", choices.get("data")),
        "run.method": values.get("pruning", choices.get("pruning")),
        "run.scope": pruning_value("scope"),
        "run.ratio": _number(pruning_value("ratio"), float),
        "run.seed": _number(seed, int) if isinstance(seed, str) else seed,
    }
