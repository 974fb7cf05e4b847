"""``prunescope-train``: baseline → (pruning + fine-tune) → test → Sp2PS → ``metrics.json``.

Thin Hydra wrapper around :func:`run`, which tests call directly with a composed config.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from prunescope import CONFIG_DIR
from prunescope.cli_errors import run_command, run_task
from prunescope.config_checks import ConfigError
from prunescope.dashboards import log_run_dashboards
from prunescope.objectives import configured_objectives, objective_values
from prunescope.pipeline import (
    RunReport,
    baseline_stage,
    before_finetune_stage,
    build_parts,
    layer_stage,
    prune_finetune_stage,
    run_identity,
    single_process_trainer,
    test_stage,
    validation_stage,
)
from prunescope.pipeline.loggers import finish_wandb, log_final_metrics
from prunescope.pipeline.metrics_file import completed_values
from prunescope.pipeline.resume import check_resumable
from prunescope.precision import resolve_run_precision
from prunescope.process_rank import is_follower
from prunescope.run_dirs import claim_run_dir, register_resolvers
from prunescope.signals import RunInterrupted, interrupt_on_signals, restore_signal_handlers

log = logging.getLogger(__name__)
register_resolvers()  # run_suffix and project_root, used by conf/


def run(cfg: DictConfig) -> dict[str, Any]:
    """Run one experiment; returns the flat ``metrics.json`` content (also written to the run dir).

    With ``skip_completed: true`` a run dir whose ``metrics.json`` already records this run as completed is not run
    again (a resubmitted sweep reruns only its unfinished jobs).

    Stages: build the parts → baseline (trained here, cached or loaded) → for a pruning run: U-Net layer pruning →
    filter pruning + fine-tune → test (quality and Sp2PS) → the same test of the pruned model before fine-tuning
    (:mod:`prunescope.pipeline.before_finetune`) → baseline and final model on the validation split, where the data
    has one of its own (:mod:`prunescope.pipeline.validation`). Each stage returns what it measured; ``RunReport`` writes
    ``metrics.json`` from those results (``running`` once the parts are built, ``completed`` or ``failed`` at the end;
    a run refused while its parts are built, i.e. for bad input, leaves a ``metrics.json`` already there as it is).
    Under ``trainer=ddp`` only rank 0 claims the run dir and writes ``metrics.json``, and a pruning run's test stage
    (quality, Sp2PS, CAM grid, latency) runs on rank 0 alone, on one device.
    """
    resolve_run_precision(cfg)  # trainer.precision: auto -> a concrete value, before anything reads it
    follower = is_follower()  # a further DDP rank: same stages, no files of its own
    run_dir_lock = None if follower else claim_run_dir(cfg.paths.output_dir)
    report = RunReport(Path(cfg.paths.output_dir) / "metrics.json", run_identity(cfg), read_only=follower)
    if cfg.get("skip_completed") and (done := completed_values(report.path, report.identity)) is not None:
        log.info("%s holds this run, completed; skip_completed=true returns its metrics", report.path)
        if run_dir_lock is not None:
            run_dir_lock.release()
        return done
    if not follower:
        try:  # before metrics.json is rewritten: a refused re-run leaves the dir as it found it
            check_resumable(cfg)
        except ConfigError:
            if run_dir_lock is not None:
                run_dir_lock.release()
            raise
    handlers = interrupt_on_signals()
    started = False  # until the parts are built, a failure (bad input) leaves an earlier run's metrics.json as it is
    try:
        parts = build_parts(cfg)
        report.write("running")
        started = True
        report.quality_metric = parts.module.quality_metric
        report.baseline = baseline_stage(parts)
        if parts.pruning is not None:
            report.layers = layer_stage(parts, report.baseline)
            report.pruned = prune_finetune_stage(parts, report.baseline)
            pruned = report.pruned
            if not follower:  # under DDP rank 0 tests alone, so test metrics and Sp2PS files are whole
                trainer = single_process_trainer(parts, pruned.trainer, pruned.sp2ps)
                report.tested = test_stage(
                    parts, trainer, pruned.module, pruned.sp2ps, report.baseline.module
                )
                report.before_finetune = before_finetune_stage(  # after the final test: it stays as it was
                    parts, pruned.module.pruning_record, report.baseline.module, pruned.sp2ps is not None
                )
                report.validation = validation_stage(parts, report.baseline.module, pruned.module)
        elif not follower:
            report.validation = validation_stage(parts, report.baseline.module)
        values = report.write("completed")
        log_final_metrics(parts.loggers, values)
        log_run_dashboards(parts.loggers, cfg, values, getattr(parts.datamodule, "class_names", None))
        return values
    except BaseException as error:
        # SystemExit: the job's host exits it (submitit requeues a preempted or timed-out Slurm job that way)
        if started or not report.path.exists():
            report.write("interrupted" if isinstance(error, RunInterrupted | SystemExit) else "failed", error)
        raise
    finally:
        restore_signal_handlers(handlers)
        finish_wandb()
        if run_dir_lock is not None:
            run_dir_lock.release()


def print_summary(values: dict[str, Any]) -> None:
    """Print the run's headline figures (quality, cost, Sp2PS) as a table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"PruneScope run {values.get('run.name')} ({values.get('run.status')})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    shown = ("baseline.", "pruned.", "drop.", "delta.", "speedup", "sp2ps.", "quality.before", "time.total")
    for key, value in values.items():
        if key.startswith(shown) and not isinstance(value, list | dict) and value is not None:
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    Console().print(table)


def train_command(cfg: DictConfig) -> float | list[float] | None:
    """``prunescope-train``'s task: run, print the summary, return the ``objectives`` to a sweeper (a float for one,
    a list for several). Errors end as :mod:`prunescope.cli_errors` says (in a multirun: ``None``, the sweep goes
    on)."""
    values = run(cfg)
    if not is_follower():  # one summary per run, not one per DDP rank
        print_summary(values)
    return objective_values(values, configured_objectives(cfg.get("objectives")))


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def hydra_main(cfg: DictConfig) -> float | list[float] | None:
    return run_task(train_command, cfg)


def main() -> float | list[float] | None:
    """Entry point of ``prunescope-train``."""
    return run_command(hydra_main)


if __name__ == "__main__":
    main()
