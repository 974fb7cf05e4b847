"""Lightning callback that removes filters between fine-tuning epochs on a schedule.

Per fine-tune fit:

1. ``on_fit_start``: switch on distillation from the frozen baseline (``distill.alpha > 0`` or
   ``distill.feature_weight > 0``) and install the fine-tune LR schedule (:mod:`prunescope.fitting.finetune_optimizer`).
2. ``on_train_epoch_start`` of each scheduled epoch: score the current model (calibration = ``calibration_batches``
   training batches) and remove filters with :func:`prunescope.pruning.prune`, then rebuild optimizer and LR
   scheduler for the new parameters; the LR restarts at ``finetune.lr`` (after a linear warm-up over
   ``finetune.warmup_fraction`` of the segment, when set). Before the first step, a ``ratio`` that
   ``min_channels`` / ``round_to`` and the never-pruned layers put out of reach on the network as it is then (after
   any U-Net level removal) fails the fit before any fine-tuning (:func:`prunescope.pruning.api.check_reachable`).

Step ``i`` reaches the cumulative ratio ``c_i`` of the schedule: a fraction of the count ``pruning.target`` names
(prunable filters, parameters or MACs) as the network had it before its first filter step (see
:mod:`prunescope.pruning.schedule`). ``prune()`` takes a ratio of the *current* count, so step ``i`` passes
``r_i = (c_i - a) / (1 - a)``, where ``a = 1 - N_now / N_0`` is the fraction already removed as counted after the
previous steps (``a = c_{i-1}`` whenever earlier steps hit their target exactly; counting it makes rounding and
``min_channels`` clipping of earlier steps self-correcting). Threshold modes (pca_nci
``variance``, isd ``alpha``) ignore the ratio: every step applies the threshold to the current model.

Each step builds one dependency graph (inside ``prune``). Every operation is appended to
``pl_module.pruning_record`` (saved in checkpoints and replayed on load); :attr:`PruningCallback.progress` is the
callback's ``state_dict``, so a resumed fit continues the schedule without repeating steps. Under DDP rank 0 does
each step and the other ranks replay it; the DDP wrapper is then rebuilt (:mod:`prunescope.fitting.distributed`).

Feature distillation (``distill.feature_weight > 0``, :mod:`prunescope.modules.feature_distillation`): from the
first step on, the layers are the 2-D convolutions (``nn.Conv2d``, ``nn.ConvTranspose2d``) among the producers
the steps examined (every prunable conv of
``PruningResult.kept``, whether or not it lost channels; output layers are never among them); each adapter starts as
the identity on the baseline indices of the kept channels (composed over the steps) and, after a later step, as the
previous adapter with the removed channels' columns dropped. The adapters and channel indices are part of the
callback's state (a resumed fine-tune continues with them) and are released when the fit ends. Under DDP each rank
trains its own adapters (their gradients are not averaged; the network's are).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from prunescope.fitting.distributed import check_strategy, prune_on_rank_zero, rewrap_ddp
from prunescope.fitting.finetune_optimizer import install_finetune_optimizer
from prunescope.fp32 import as_fp32, full_precision
from prunescope.modules.feature_distillation import FeatureDistillation, is_feature_layer
from prunescope.progress import log_pruning_step
from prunescope.pruning.api import PruningResult, check_reachable, prune
from prunescope.pruning.options import PruningConfig
from prunescope.pruning.schedule import cumulative_ratios, step_epochs, step_ratio


@dataclass
class PruningProgress:
    """What the filter steps did so far; the callback's checkpointed state.

    Attributes:
        steps_done: filter steps applied.
        filters_original: prunable filters before the first step (``None`` until then).
        filters_now: prunable filters after the last step.
        target_original: the ``pruning.target`` count (filters, params or MACs) before the first step.
        target_now: that count after the last step.
        params_original: parameters before the first step.
        macs_original: MACs (one example input) before the first step.
        seconds: time spent scoring and removing filters (calibration included, fine-tuning excluded).
        cost_exponent: ``pruning.target=params+macs``: the exponent of the cost weights that met both drops.
        steps: one dict per step: ``step``, ``ratio_goal``, ``ratio_step``, ``ratio_removed``, ``target_removed``,
            ``params``, ``macs``, ``filters_removed``, ``seconds``.
    """

    steps_done: int = 0
    filters_original: int | None = None
    filters_now: int | None = None
    target_original: int | None = None
    target_now: int | None = None
    params_original: int | None = None
    macs_original: int | None = None
    seconds: float = 0.0
    steps: list[dict[str, Any]] = field(default_factory=list)
    cost_exponent: float | None = None

    @property
    def ratio_removed(self) -> float:
        """Fraction of the original prunable filters removed, ``1 - filters_now / filters_original``."""
        if not self.filters_original or self.filters_now is None:
            return 0.0
        return 1.0 - self.filters_now / self.filters_original

    @property
    def target_removed(self) -> float:
        """Fraction of the original ``pruning.target`` count removed, ``1 - target_now / target_original``."""
        if not self.target_original or self.target_now is None:
            return 0.0
        return 1.0 - self.target_now / self.target_original

    def add(self, result: PruningResult, goal: float, ratio: float, seconds: float) -> dict[str, Any]:
        """Count one ``prune()`` result; returns the step's entry."""
        counts = {
            "channels": (result.filters_before, result.filters_after),
            "params": (result.params_before, result.params_after),
            "macs": (result.macs_before, result.macs_after),
            "params+macs": (result.params_before, result.params_after),  # ratio: params; macs_ratio: MACs
        }[result.target]
        if self.filters_original is None:
            self.filters_original = result.filters_before
            self.target_original = counts[0]
            self.params_original = result.params_before
            self.macs_original = result.macs_before
        self.filters_now = result.filters_after
        self.target_now = counts[1]
        if "cost_exponent" in result.details:
            self.cost_exponent = float(result.details["cost_exponent"])
        self.steps_done += 1
        self.seconds += seconds
        entry = {
            "step": self.steps_done,
            "ratio_goal": goal,
            "ratio_step": ratio,
            "ratio_removed": self.ratio_removed,
            "target_removed": self.target_removed,
            "params": result.params_after,
            "macs": result.macs_after,
            "filters_removed": result.filters_before - result.filters_after,
            "seconds": seconds,
        }
        self.steps.append(entry)
        return entry


class PruningCallback(pl.Callback):
    """Remove filters between epochs on a schedule, with fine-tuning LR restarts and optional distillation.

    Args:
        config: the run's :class:`~prunescope.pruning.options.PruningConfig` (validated; ``layers`` is done by the
            layer stage before this fit, see :mod:`prunescope.pipeline.layers`).
        teacher: the unpruned baseline network, distillation teacher when ``distill.alpha > 0`` or
            ``distill.feature_weight > 0`` (a copy is kept).

    Logged (``pl_module.log`` in the epoch of each step): ``prune/step``, ``prune/ratio_goal``,
    ``prune/ratio_step``, ``prune/ratio_removed``, ``prune/target_removed``, ``prune/params``, ``prune/macs``; and
    one progress line per step (:func:`prunescope.progress.log_pruning_step`).
    """

    def __init__(self, config: PruningConfig, teacher: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config
        self.cumulative = cumulative_ratios(config.schedule.kind, config.ratio, config.schedule.steps)
        self.epochs = step_epochs(
            config.schedule.steps, config.schedule.at_epochs, config.schedule.every_n_epochs
        )
        self.progress = PruningProgress()
        self._teacher = copy.deepcopy(teacher) if teacher is not None else None
        self._resumed = False
        self._teacher_installed = False
        self._pending_logs: dict[str, float] = {}
        # feature distillation: layer -> baseline index of each current channel (None: unknown), adapter weights
        self.feature_channels: dict[str, list[int] | None] = {}
        self._adapter_weights: dict[str, torch.Tensor] = {}
        self._distiller: FeatureDistillation | None = None

    # ------------------------------------------------------------------------------------------- state
    @property
    def _features_on(self) -> bool:
        return self.config.distill.feature_weight > 0

    def state_dict(self) -> dict[str, Any]:
        state = {
            **dataclasses.asdict(self.progress),
            "cumulative": list(self.cumulative),
            "epochs": list(self.epochs),
        }
        if self._features_on:  # only then: the default state stays as it was
            weights = (
                self._distiller.adapter_weights() if self._distiller is not None else self._adapter_weights
            )
            state["feature_channels"] = copy.deepcopy(self.feature_channels)
            state["feature_adapters"] = {name: w.clone() for name, w in weights.items()}
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if list(state_dict.get("cumulative", self.cumulative)) != list(self.cumulative) or list(
            state_dict.get("epochs", self.epochs)
        ) != list(self.epochs):
            raise ValueError(
                "PruningCallback: the checkpoint was written with a different schedule "
                f"(ratios {state_dict.get('cumulative')} at epochs {state_dict.get('epochs')}); "
                f"this run has ratios {self.cumulative} at epochs {self.epochs}"
            )
        names = [f.name for f in dataclasses.fields(PruningProgress)]
        self.progress = PruningProgress(
            **{name: copy.deepcopy(state_dict[name]) for name in names if name in state_dict}
        )
        self._load_feature_state(state_dict)
        self._resumed = True

    def _load_feature_state(self, state: dict[str, Any]) -> None:
        self.feature_channels = copy.deepcopy(dict(state.get("feature_channels") or {}))
        self._adapter_weights = {
            name: torch.as_tensor(w).clone() for name, w in (state.get("feature_adapters") or {}).items()
        }

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
        check_strategy(trainer)  # world_size > 1: ddp (steps decided on rank 0, see fitting/distributed.py)
        max_epochs = trainer.max_epochs
        if max_epochs is None or max_epochs < 1:
            raise ValueError(f"PruningCallback needs a finite trainer.max_epochs, got {max_epochs}")
        if self.epochs[-1] >= max_epochs:
            raise ValueError(
                f"PruningCallback: schedule steps at epochs {self.epochs} but the fit has only "
                f"max_epochs={max_epochs} (epochs 0..{max_epochs - 1})"
            )

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # Runs before the optimizers are built and their states restored: build the same kind of optimizer and
        # scheduler the checkpoint holds (the saved states then overwrite LR and position).
        # The adapters of feature distillation are built here too, so that the optimizer holds them.
        state = checkpoint.get("callbacks", {}).get(self.state_key)
        if state is not None:
            install_finetune_optimizer(
                pl_module, self.config.finetune, self._segment_epochs(trainer, int(state["steps_done"]))
            )
            if self._features_on:
                self._install_teacher(pl_module)
                self._load_feature_state(state)
                self._install_feature_distillation(pl_module)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._install_teacher(pl_module)
        if not self._resumed:
            self._install_segment(trainer, pl_module)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """The adapters exist only during the fine-tune: released (hooks removed) when the fit ends, however."""
        if stage == "fit" and self._distiller is not None:
            self._take_adapters(pl_module)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        stepped = False
        while (
            self.progress.steps_done < len(self.epochs)
            and self.epochs[self.progress.steps_done] <= trainer.current_epoch
        ):
            self._prune_step(trainer, pl_module)
            stepped = True
        if stepped:
            if trainer.world_size > 1:
                rewrap_ddp(trainer)
            if self._features_on:
                self._install_feature_distillation(pl_module)
            self._install_segment(trainer, pl_module)
        if self._pending_logs:
            pl_module.log_dict(self._pending_logs, on_step=False, on_epoch=True)
            self._pending_logs = {}

    # ------------------------------------------------------------------------------------------- one step
    def _prune_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        progress = self.progress
        if self._features_on:
            self._take_adapters(pl_module)  # no hooks during the step; rebuilt for the new shapes after it
        if progress.steps_done == 0:  # a ratio out of this network's reach fails before any fine-tuning
            with full_precision():
                example = as_fp32(self._example_input(trainer, pl_module))
                check_reachable(pl_module.net, self.config.step_options(), example)
        goal = self.cumulative[progress.steps_done]
        ratio = step_ratio(min(progress.target_removed, goal), goal)
        start = time.perf_counter()

        def decide() -> PruningResult:
            with full_precision():  # scores from fp32 statistics, whatever the trainer's precision
                return prune(
                    pl_module.net,
                    self.config.step_options(ratio=ratio),
                    as_fp32(self._example_input(trainer, pl_module)),
                    self._calibration_loader(trainer),
                )

        result = prune_on_rank_zero(pl_module.net, decide) if trainer.world_size > 1 else decide()
        pl_module.pruning_record.extend(copy.deepcopy(result.record))
        if self._features_on:
            self._track_channels(result.kept)
        entry = progress.add(result, goal, ratio, time.perf_counter() - start)
        log_pruning_step(
            entry["step"], len(self.epochs), result, progress.params_original, progress.macs_original
        )
        self._pending_logs.update(
            {
                f"prune/{key}": float(entry[key])
                for key in (
                    "step",
                    "ratio_goal",
                    "ratio_step",
                    "ratio_removed",
                    "target_removed",
                    "params",
                    "macs",
                )
            }
        )

    # ------------------------------------------------------------------------------------------- distillation
    def _install_teacher(self, pl_module: pl.LightningModule) -> None:
        """Hand the baseline to the module as teacher, once per fit (when any distillation is on)."""
        if self._teacher_installed:
            return
        distill = self.config.distill
        if distill.enabled:
            if self._teacher is None:
                raise RuntimeError(
                    "PruningCallback: distill.alpha > 0 or distill.feature_weight > 0 needs the baseline network "
                    "as teacher"
                )
            pl_module.set_teacher(self._teacher, distill.alpha, distill.temperature)
        self._teacher = None
        self._teacher_installed = True

    def _track_channels(self, kept: dict[str, list[int]]) -> None:
        """Compose one step's kept indices (pre-step indexing) into the baseline index of every current channel,
        and drop the removed channels' columns from the adapters to start from."""
        for name, step_kept in kept.items():
            indices = [int(i) for i in step_kept]
            if name not in self.feature_channels:  # its first step: the pre-step indexing is the baseline's
                self.feature_channels[name] = indices
            else:
                previous = self.feature_channels[name]
                known = previous is not None and all(i < len(previous) for i in indices)
                self.feature_channels[name] = [previous[i] for i in indices] if known else None
            weight = self._adapter_weights.get(name)
            if weight is not None and all(i < weight.shape[1] for i in indices):
                self._adapter_weights[name] = weight[:, indices].clone()

    def _take_adapters(self, pl_module: pl.LightningModule) -> None:
        """Keep the current adapters' weights and release them (hooks removed)."""
        if self._distiller is not None:
            self._adapter_weights = self._distiller.adapter_weights()
            self._distiller = None
        pl_module.set_feature_distillation(None)

    def _install_feature_distillation(self, pl_module: pl.LightningModule) -> None:
        """Hook the convs of :attr:`feature_channels` on the student and the teacher, with their adapters."""
        teacher = pl_module.teacher
        if teacher is None or not self.feature_channels:
            return
        students, teachers = dict(pl_module.net.named_modules()), dict(teacher.named_modules())
        channels = {
            name: indices
            for name, indices in self.feature_channels.items()
            if is_feature_layer(students.get(name)) and is_feature_layer(teachers.get(name))
        }
        if not channels:
            return
        self._distiller = FeatureDistillation(pl_module.net, teacher, channels, self._adapter_weights)
        pl_module.set_feature_distillation(self._distiller, self.config.distill.feature_weight)

    # ------------------------------------------------------------------------------------------- optimisation
    def _segment_epochs(self, trainer: pl.Trainer, steps_done: int) -> int:
        """Epochs from the last step (or the fit start) to the next step (or ``max_epochs``), at least 1."""
        start = self.epochs[steps_done - 1] if steps_done > 0 else 0
        end = self.epochs[steps_done] if steps_done < len(self.epochs) else trainer.max_epochs
        return max(1, end - start)

    def _install_segment(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Restart the LR for the current segment and rebuild the optimizers on the current parameters."""
        epochs = self._segment_epochs(trainer, self.progress.steps_done)
        steps_per_epoch = 1
        if (
            getattr(pl_module, "scheduler_interval", "epoch") == "step"
            or self.config.finetune.warmup_fraction > 0
        ):
            total = trainer.estimated_stepping_batches  # (an LR per optimizer step)
            steps_per_epoch = max(1, math.ceil(total / trainer.max_epochs)) if math.isfinite(total) else 1
        install_finetune_optimizer(pl_module, self.config.finetune, epochs, steps_per_epoch)
        trainer.strategy.setup_optimizers(trainer)

    # ------------------------------------------------------------------------------------------- data
    @staticmethod
    def _calibration_loader(trainer: pl.Trainer) -> Any:
        if trainer.datamodule is not None:
            return trainer.datamodule.train_dataloader()
        if trainer.train_dataloader is None:
            trainer.fit_loop.setup_data()
        return trainer.train_dataloader

    def _example_input(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> torch.Tensor:
        """One training image ``(1, C, H, W)`` on the module's device (graph tracing and MACs)."""
        images = next(iter(self._calibration_loader(trainer)))[0]
        return images[:1].to(pl_module.device)
