"""Lightning callback that prunes filters between fine-tuning epochs on a schedule.

Per fit (the fine-tune stage of a run):

1. ``on_fit_start``: profile the baseline; optionally remove the deepest U-Net levels (``layers.levels``: ``k`` or
   ``"auto"``, see :mod:`prunescope.pruning.layers`); switch on distillation from the frozen baseline
   (``distill.alpha > 0``); start the fine-tune LR schedule.
2. ``on_train_epoch_start`` of each scheduled epoch: recompute the criterion on the current model (calibration =
   ``calibration_batches`` training batches) and remove filters with :func:`prunescope.pruning.prune`, then rebuild
   optimizer and LR scheduler for the new parameters; the LR restarts at ``finetune.lr`` and decays with a cosine
   until the next step or the end of fit.
3. ``on_train_end``: profile the pruned model; :attr:`PruningCallback.summary` holds baseline vs pruned figures.

Step ``i`` reaches the cumulative ratio ``c_i`` of the schedule (fraction of the prunable filters the network had
before its first filter step, see :mod:`prunescope.pruning.schedule`). ``prune()`` takes a ratio of the *current*
prunable filters, so step ``i`` passes ``r_i = (c_i - a) / (1 - a)``, where ``a`` is the fraction already removed,
measured on the current network (``a = c_{i-1}`` whenever earlier steps hit their target exactly; measuring it
makes rounding and ``min_channels`` clipping of earlier steps self-correcting). Threshold modes (pca_nci
``variance``, isd ``alpha``) ignore the ratio: every step applies the threshold to the current model.

Every operation is appended to ``pl_module.pruning_record`` (saved in checkpoints and replayed on load); the
callback's ``state_dict`` keeps the steps done, so a resumed fit continues the schedule without repeating steps.
"""

from __future__ import annotations

import copy
import functools
import math
import time
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from prunescope.metrics.efficiency import profile_model
from prunescope.pruning.api import SCOPES, make_criterion, prunable_units, prune
from prunescope.pruning.criteria import CRITERIA
from prunescope.pruning.layers import choose_unet_levels, remove_unet_levels, supports_level_pruning
from prunescope.pruning.schedule import SCHEDULE_KINDS, cumulative_ratios, step_epochs, step_ratio

PROFILE_KEYS = ("params", "macs", "size_mb", "latency_ms")
DROP_LOG_KEYS = {
    "drop.params_pct": "prune/params_drop_pct",
    "drop.macs_pct": "prune/macs_drop_pct",
    "speedup": "prune/speedup",
}


@dataclass(frozen=True)
class ScheduleOptions:
    """``schedule`` config: ``steps`` (>= 1), ``kind`` (linear | geometric), ``at_epochs`` or ``every_n_epochs``."""

    steps: int = 1
    kind: str = "linear"
    at_epochs: tuple[int, ...] | None = None
    every_n_epochs: int = 1


@dataclass(frozen=True)
class FinetuneOptions:
    """``finetune`` config: ``lr`` (> 0) the LR restarts at after every step."""

    lr: float = 1e-3


@dataclass(frozen=True)
class DistillOptions:
    """``distill`` config: ``alpha`` in [0, 1] (0 = off) and ``temperature`` (> 0)."""

    alpha: float = 0.0
    temperature: float = 4.0


@dataclass(frozen=True)
class LayerOptions:
    """``layers`` config (U-Net level pruning).

    Attributes:
        levels: deepest levels removed (int >= 0) or ``"auto"``.
        tolerance: ``auto``: largest accepted absolute drop of the main validation metric.
        finetune_epochs: ``auto``: fine-tune epochs per candidate.
        limit_train_batches: ``auto``: ``pl.Trainer`` limit for the candidates' fine-tune (1.0 = all).
        limit_val_batches: ``auto``: ``pl.Trainer`` limit for the candidates' validation (1.0 = all).
    """

    levels: int | str = 0
    tolerance: float = 0.02
    finetune_epochs: int = 1
    limit_train_batches: int | float = 1.0
    limit_val_batches: int | float = 1.0


def _options(cls: type, name: str, values: dict[str, Any] | None) -> Any:
    """Build the options dataclass ``cls`` from a config dict, naming unknown keys."""
    values = dict(values or {})
    valid = list(cls.__dataclass_fields__)
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ValueError(f"PruningCallback: unknown {name} key(s) {unknown}; valid: {valid}")
    if name == "schedule" and values.get("at_epochs") is not None:
        values["at_epochs"] = tuple(int(e) for e in values["at_epochs"])
    return cls(**values)


class PruningCallback(pl.Callback):
    """Prune filters between epochs on a schedule, with fine-tuning LR restarts, optional KD and U-Net level pruning.

    Args:
        method: pruning criterion, one of ``prunescope.pruning.CRITERIA``.
        ratio: final fraction of prunable filters removed, in [0, 1).
        scope: ``"global"`` or ``"local"``.
        round_to: kept channel counts rounded up to a multiple of this, or ``None``.
        min_channels: fewest channels a layer keeps (>= 1).
        ignored_layers: module names never pruned.
        calibration_batches: training batches used per step for statistics / gradients.
        method_options: criterion options (e.g. ``{"variance": 0.9}`` for pca_nci).
        schedule: ``{steps, kind, at_epochs, every_n_epochs}`` (see :class:`ScheduleOptions`).
        finetune: ``{lr}`` (see :class:`FinetuneOptions`).
        distill: ``{alpha, temperature}`` (see :class:`DistillOptions`).
        layers: ``{levels, tolerance, finetune_epochs, limit_train_batches, limit_val_batches}``
            (see :class:`LayerOptions`).
        latency_repeats: timed forward passes per latency measurement (median reported).

    Attributes:
        summary: flat figures for ``metrics.json``, complete after fit: ``baseline.{params,macs,size_mb,latency_ms}``,
            ``pruned.{...}`` (same keys), ``drop.params_pct``, ``drop.macs_pct``, ``speedup`` (baseline latency /
            pruned latency), ``time.prune`` (seconds spent choosing and removing levels and filters, calibration
            included, fine-tuning excluded), ``prune.steps_done``, ``prune.levels_removed``, ``prune.ratio_target``,
            ``prune.ratio_removed`` (measured fraction of prunable filters removed) and, for ``levels: auto``,
            ``prune.levels_baseline_metric`` / ``prune.levels_metric_<k>``. MACs / latency are for one image of the
            training set.

    Logged (``pl_module.log`` at the start of the epoch of each step): ``prune/step``, ``prune/ratio_goal``,
    ``prune/ratio_step``, ``prune/ratio_removed``, ``prune/{params,macs,size_mb,latency_ms}``,
    ``prune/params_drop_pct``, ``prune/macs_drop_pct``, ``prune/speedup``, ``prune/levels_removed``; at the end
    (to ``trainer.loggers``): ``prune/final_*`` of the same figures.

    Raises:
        ValueError: one message listing every invalid option (unknown method, ratio outside [0, 1), steps < 1,
            unknown schedule kind, ...).
    """

    def __init__(
        self,
        method: str,
        ratio: float = 0.5,
        scope: str = "global",
        round_to: int | None = None,
        min_channels: int = 1,
        ignored_layers: list[str] | None = None,
        calibration_batches: int = 4,
        method_options: dict[str, Any] | None = None,
        schedule: dict[str, Any] | None = None,
        finetune: dict[str, Any] | None = None,
        distill: dict[str, Any] | None = None,
        layers: dict[str, Any] | None = None,
        latency_repeats: int = 10,
    ) -> None:
        super().__init__()
        self.method = method
        self.ratio = float(ratio)
        self.scope = scope
        self.round_to = round_to
        self.min_channels = int(min_channels)
        self.ignored_layers = list(ignored_layers or [])
        self.calibration_batches = int(calibration_batches)
        self.method_options = dict(method_options or {})
        self.schedule = _options(ScheduleOptions, "schedule", schedule)
        self.finetune = _options(FinetuneOptions, "finetune", finetune)
        self.distill = _options(DistillOptions, "distill", distill)
        self.layers = _options(LayerOptions, "layers", layers)
        self.latency_repeats = int(latency_repeats)
        self._validate()
        self.cumulative = cumulative_ratios(self.schedule.kind, self.ratio, self.schedule.steps)
        self.epochs = step_epochs(self.schedule.steps, self.schedule.at_epochs, self.schedule.every_n_epochs)

        # progress (saved in checkpoints through state_dict)
        self.steps_done = 0
        self.levels_done = False
        self.levels_removed = 0
        self.filters_original: int | None = None
        self.summary: dict[str, Any] = {}

        self._baseline: nn.Module | None = None
        self._resumed = False
        self._pending_logs: dict[str, float] = {}

    # ------------------------------------------------------------------------------------------- validation
    def _validate(self) -> None:
        problems = []
        if self.method not in CRITERIA:
            problems.append(f"unknown method {self.method!r} (valid: {', '.join(CRITERIA)})")
        else:
            try:
                make_criterion(self.method, self.method_options)
            except (TypeError, ValueError) as error:
                problems.append(str(error))
        if not 0.0 <= self.ratio < 1.0:
            problems.append(f"ratio must be in [0, 1), got {self.ratio}")
        if self.scope not in SCOPES:
            problems.append(f"unknown scope {self.scope!r} (valid: {', '.join(SCOPES)})")
        if self.min_channels < 1:
            problems.append(f"min_channels must be >= 1, got {self.min_channels}")
        if self.round_to is not None and int(self.round_to) < 1:
            problems.append(f"round_to must be >= 1 or null, got {self.round_to}")
        if self.calibration_batches < 1:
            problems.append(f"calibration_batches must be >= 1, got {self.calibration_batches}")
        if self.schedule.steps < 1:
            problems.append(f"schedule.steps must be >= 1, got {self.schedule.steps}")
        if self.schedule.kind not in SCHEDULE_KINDS:
            problems.append(
                f"unknown schedule.kind {self.schedule.kind!r} (valid: {', '.join(SCHEDULE_KINDS)})"
            )
        if self.schedule.steps >= 1:
            try:
                step_epochs(self.schedule.steps, self.schedule.at_epochs, self.schedule.every_n_epochs)
            except ValueError as error:
                problems.append(str(error))
        if not self.finetune.lr > 0:
            problems.append(f"finetune.lr must be > 0, got {self.finetune.lr}")
        if not 0.0 <= self.distill.alpha <= 1.0:
            problems.append(f"distill.alpha must be in [0, 1], got {self.distill.alpha}")
        if not self.distill.temperature > 0:
            problems.append(f"distill.temperature must be > 0, got {self.distill.temperature}")
        levels = self.layers.levels
        if not (
            levels == "auto" or (isinstance(levels, int) and not isinstance(levels, bool) and levels >= 0)
        ):
            problems.append(f"layers.levels must be an int >= 0 or 'auto', got {levels!r}")
        if self.layers.tolerance < 0:
            problems.append(f"layers.tolerance must be >= 0, got {self.layers.tolerance}")
        if self.layers.finetune_epochs < 0:
            problems.append(f"layers.finetune_epochs must be >= 0, got {self.layers.finetune_epochs}")
        if self.latency_repeats < 1:
            problems.append(f"latency_repeats must be >= 1, got {self.latency_repeats}")
        if problems:
            raise ValueError("PruningCallback: " + "; ".join(problems))

    @property
    def wants_levels(self) -> bool:
        """Whether U-Net level pruning is requested."""
        return self.layers.levels == "auto" or self.layers.levels > 0

    # ------------------------------------------------------------------------------------------- public API
    def set_baseline(self, baseline: nn.Module) -> None:
        """Baseline network (trained, unpruned) used for profiling and as distillation teacher; a copy is kept.

        Without it the network of the module at the start of a fresh fit is the baseline.
        """
        self._baseline = copy.deepcopy(baseline)

    def state_dict(self) -> dict[str, Any]:
        return {
            "steps_done": self.steps_done,
            "levels_done": self.levels_done,
            "levels_removed": self.levels_removed,
            "filters_original": self.filters_original,
            "cumulative": list(self.cumulative),
            "epochs": list(self.epochs),
            "summary": dict(self.summary),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if list(state_dict.get("cumulative", self.cumulative)) != list(self.cumulative) or list(
            state_dict.get("epochs", self.epochs)
        ) != list(self.epochs):
            raise ValueError(
                "PruningCallback: the checkpoint was written with a different schedule "
                f"(ratios {state_dict.get('cumulative')} at epochs {state_dict.get('epochs')}); "
                f"this run has ratios {self.cumulative} at epochs {self.epochs}"
            )
        self.steps_done = int(state_dict["steps_done"])
        self.levels_done = bool(state_dict["levels_done"])
        self.levels_removed = int(state_dict["levels_removed"])
        self.filters_original = state_dict["filters_original"]
        self.summary = dict(state_dict["summary"])
        self._resumed = True

    # ------------------------------------------------------------------------------------------- hooks
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        for attribute in ("net", "pruning_record", "optimizer_factory", "scheduler_factory"):
            if not hasattr(pl_module, attribute):
                raise TypeError(
                    f"PruningCallback needs a module with {attribute!r} (prunescope.modules.TaskModule); "
                    f"got {type(pl_module).__name__}"
                )
        if trainer.world_size > 1:
            raise ValueError(
                f"PruningCallback supports single-device training only (world_size={trainer.world_size}): "
                "distributed wrappers keep references to the removed parameters"
            )
        max_epochs = trainer.max_epochs
        if max_epochs is None or max_epochs < 1:
            raise ValueError(f"PruningCallback needs a finite trainer.max_epochs, got {max_epochs}")
        if self.epochs[-1] >= max_epochs:
            raise ValueError(
                f"PruningCallback: schedule steps at epochs {self.epochs} but the fit has only max_epochs={max_epochs} "
                f"(epochs 0..{max_epochs - 1})"
            )
        if self.wants_levels and not self.levels_done and not supports_level_pruning(pl_module.net):
            raise ValueError(
                f"PruningCallback: layers.levels={self.layers.levels!r} needs a network with "
                f"remove_deepest_levels(k) (model=unet); {type(pl_module.net).__name__} has none; set layers.levels=0"
            )

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # Runs before the optimizers are built and their states restored: build the same kind of optimizer and
        # scheduler the checkpoint holds (the saved states then overwrite LR, T_max and position).
        state = checkpoint.get("callbacks", {}).get(self.state_key)
        if state is not None:
            self._install_cosine(pl_module, self._segment_epochs(trainer, int(state["steps_done"])))

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        fresh = not (self._resumed or self.steps_done or self.levels_done or pl_module.pruning_record)
        baseline = self._baseline
        if baseline is None and fresh:
            baseline = copy.deepcopy(pl_module.net)
        if "baseline.params" not in self.summary:
            if baseline is None:
                raise RuntimeError(
                    "PruningCallback: the network is already pruned and no baseline is known; "
                    "call set_baseline(baseline_net) before fit"
                )
            example = self._example_input(trainer, pl_module)
            profile = self._profile(baseline.to(pl_module.device), example)
            self.summary.update({f"baseline.{k}": v for k, v in profile.items()})
            self.summary["time.prune"] = 0.0
        if self.distill.alpha > 0 and baseline is None:
            raise RuntimeError(
                "PruningCallback: distill.alpha > 0 on an already pruned network (resumed fit) needs "
                "set_baseline(baseline_net) before fit"
            )
        self._baseline = None

        if self.wants_levels and not self.levels_done:
            self._prune_levels(trainer, pl_module)
        if self.distill.alpha > 0:
            pl_module.set_teacher(baseline, self.distill.alpha, self.distill.temperature)
        if not self._resumed:
            self._set_finetune_factories(trainer, pl_module, self.steps_done)
            trainer.strategy.setup_optimizers(trainer)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        stepped = False
        while self.steps_done < len(self.epochs) and self.epochs[self.steps_done] <= trainer.current_epoch:
            self._prune_filters(trainer, pl_module)
            stepped = True
        if stepped:
            self._set_finetune_factories(trainer, pl_module, self.steps_done)
            trainer.strategy.setup_optimizers(trainer)
        if self._pending_logs:
            pl_module.log_dict(self._pending_logs, on_step=False, on_epoch=True)
            self._pending_logs = {}

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        example = self._example_input(trainer, pl_module)
        pruned = self._profile(pl_module.net, example)
        self.summary.update({f"pruned.{k}": v for k, v in pruned.items()})
        self.summary.update(self._drops(pruned))
        self.summary["prune.steps_done"] = self.steps_done
        self.summary["prune.levels_removed"] = self.levels_removed
        self.summary["prune.ratio_target"] = self.ratio
        if self.filters_original:
            removed = 1.0 - self._prunable_filters(pl_module.net, example) / self.filters_original
            self.summary["prune.ratio_removed"] = removed
        final = {f"prune/final_{k}": float(v) for k, v in pruned.items()}
        final.update(
            {
                key.replace("prune/", "prune/final_"): float(self.summary[name])
                for name, key in DROP_LOG_KEYS.items()
            }
        )
        for logger in trainer.loggers:
            logger.log_metrics(final, step=trainer.global_step)

    # ------------------------------------------------------------------------------------------- pruning
    def _prune_levels(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        start = time.perf_counter()
        levels = self.layers.levels
        if levels == "auto":
            if trainer.datamodule is None:
                raise ValueError(
                    "PruningCallback: layers.levels='auto' needs the fit to use a LightningDataModule"
                )
            search = choose_unet_levels(
                pl_module,
                trainer.datamodule,
                tolerance=self.layers.tolerance,
                finetune_epochs=self.layers.finetune_epochs,
                prepare=self._prepare_candidate,
                trainer_kwargs={
                    **self._inner_trainer_kwargs(trainer, pl_module),
                    "limit_train_batches": self.layers.limit_train_batches,
                    "limit_val_batches": self.layers.limit_val_batches,
                },
            )
            levels = search.levels
            self.summary["prune.levels_baseline_metric"] = search.baseline
            for k, score in search.scores.items():
                self.summary[f"prune.levels_metric_{k}"] = score
        if levels > 0:
            pl_module.pruning_record.append(remove_unet_levels(pl_module.net, levels))
        self.levels_removed = int(levels)
        self.levels_done = True
        self.summary["time.prune"] = self.summary.get("time.prune", 0.0) + time.perf_counter() - start
        self._pending_logs["prune/levels_removed"] = float(levels)

    def _prune_filters(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        net = pl_module.net
        example = self._example_input(trainer, pl_module)
        start = time.perf_counter()
        current = self._prunable_filters(net, example)
        if self.filters_original is None:
            self.filters_original = current
        done = 1.0 - current / self.filters_original if self.filters_original else 0.0
        goal = self.cumulative[self.steps_done]
        ratio = step_ratio(min(done, goal), goal)
        result = prune(
            net,
            example,
            method=self.method,
            ratio=ratio,
            scope=self.scope,
            calibration=self._calibration_loader(trainer),
            ignored_layers=self.ignored_layers,
            round_to=self.round_to,
            min_channels=self.min_channels,
            calibration_batches=self.calibration_batches,
            method_options=self.method_options,
        )
        pl_module.pruning_record.extend(copy.deepcopy(result.record))
        self.steps_done += 1
        self.summary["time.prune"] = self.summary.get("time.prune", 0.0) + time.perf_counter() - start

        profile = self._profile(net, example)
        drops = self._drops(profile)
        removed = (
            1.0 - self._prunable_filters(net, example) / self.filters_original
            if self.filters_original
            else 0.0
        )
        self._pending_logs.update(
            {
                "prune/step": float(self.steps_done),
                "prune/ratio_goal": goal,
                "prune/ratio_step": ratio,
                "prune/ratio_removed": removed,
                **{f"prune/{k}": float(v) for k, v in profile.items()},
                **{key: float(drops[name]) for name, key in DROP_LOG_KEYS.items()},
            }
        )

    def _prunable_filters(self, net: nn.Module, example: torch.Tensor) -> int:
        """``sum_u w_u C_u`` over prunable units: the filter count ``prune``'s ratio refers to."""
        _, units = prunable_units(net, example, self.ignored_layers)
        return sum(unit.weight * unit.channels for unit in units)

    # ------------------------------------------------------------------------------------------- optimisation
    def _segment_epochs(self, trainer: pl.Trainer, steps_done: int) -> int:
        """Epochs from the last step (or the fit start) to the next step (or ``max_epochs``), at least 1."""
        start = self.epochs[steps_done - 1] if steps_done > 0 else 0
        end = self.epochs[steps_done] if steps_done < len(self.epochs) else trainer.max_epochs
        return max(1, end - start)

    def _set_finetune_factories(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, steps_done: int
    ) -> None:
        """LR restarts at ``finetune.lr`` and follows a cosine to 0 over the current segment.

        ``lr(t) = lr_0 · (1 + cos(π t / T)) / 2`` with ``T`` = segment epochs, or segment optimizer steps when the
        module's ``scheduler_interval`` is ``"step"``.
        """
        periods = self._segment_epochs(trainer, steps_done)
        if getattr(pl_module, "scheduler_interval", "epoch") == "step":
            periods *= self._steps_per_epoch(trainer)
        self._install_cosine(pl_module, periods)

    def _install_cosine(self, pl_module: pl.LightningModule, periods: int) -> None:
        pl_module.optimizer_factory = functools.partial(pl_module.optimizer_factory, lr=self.finetune.lr)
        pl_module.scheduler_factory = functools.partial(
            torch.optim.lr_scheduler.CosineAnnealingLR, T_max=periods
        )

    @staticmethod
    def _steps_per_epoch(trainer: pl.Trainer) -> int:
        total = trainer.estimated_stepping_batches
        return max(1, math.ceil(total / trainer.max_epochs)) if math.isfinite(total) else 1

    def _prepare_candidate(self, candidate: pl.LightningModule, epochs: int) -> None:
        """U-Net ``auto`` search: fine-tune candidates at ``finetune.lr`` with a cosine over their epochs."""
        candidate.set_teacher(None, 0.0)
        candidate.scheduler_interval = "epoch"
        self._install_cosine(candidate, epochs)

    @staticmethod
    def _inner_trainer_kwargs(trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        device = pl_module.device
        kwargs: dict[str, Any] = {
            "precision": trainer.precision,
            "default_root_dir": trainer.default_root_dir,
        }
        if device.type == "cuda":
            kwargs.update(accelerator="gpu", devices=[device.index or 0])
        else:
            kwargs.update(accelerator="cpu", devices=1)
        return kwargs

    # ------------------------------------------------------------------------------------------- data, profiling
    @staticmethod
    def _calibration_loader(trainer: pl.Trainer) -> Any:
        if trainer.datamodule is not None:
            return trainer.datamodule.train_dataloader()
        if trainer.train_dataloader is None:
            trainer.fit_loop.setup_data()
        return trainer.train_dataloader

    def _example_input(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> torch.Tensor:
        """One training image ``(1, C, H, W)`` on the module's device (graph tracing, MACs and latency)."""
        images = next(iter(self._calibration_loader(trainer)))[0]
        return images[:1].to(pl_module.device)

    def _profile(self, net: nn.Module, example: torch.Tensor) -> dict[str, Any]:
        return profile_model(net, example, warmup=min(3, self.latency_repeats), repeats=self.latency_repeats)

    def _drops(self, pruned: dict[str, Any]) -> dict[str, float]:
        """``drop.params_pct``, ``drop.macs_pct`` (100 · (1 - pruned / baseline)) and ``speedup`` (latency ratio)."""
        base = {k: self.summary[f"baseline.{k}"] for k in PROFILE_KEYS}
        return {
            "drop.params_pct": 100.0 * (1.0 - pruned["params"] / base["params"]),
            "drop.macs_pct": 100.0 * (1.0 - pruned["macs"] / base["macs"]) if base["macs"] else 0.0,
            "speedup": base["latency_ms"] / pruned["latency_ms"]
            if pruned["latency_ms"] > 0
            else float("nan"),
        }
