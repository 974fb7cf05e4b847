"""The Lightning module shared by both tasks: network, optimizer factories, pruning record and distillation."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from prunescope.modules.feature_distillation import FeatureDistillation

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., Any]


class TaskModule(pl.LightningModule):
    """Wraps a network with a loss, an optimizer/scheduler built from Hydra partials and a pruning record.

    Subclasses supply the loss, the distillation term and the metrics; this class owns what pruning needs:

    - ``optimizer_factory`` / ``scheduler_factory`` are called on the *current* parameters in
      :meth:`configure_optimizers`, so a callback can replace them and call
      ``trainer.strategy.setup_optimizers(trainer)`` after channels were removed.
    - ``pruning_record`` (JSON-safe list of operations) is saved in every checkpoint as
      ``checkpoint["pruning_record"]``; loading into a fresh module replays it on :attr:`net` before the weights load.
    - ``model_config`` (the resolved ``model`` config node, set by the train script) is saved as
      ``checkpoint["model_config"]`` so that ``prunescope-sp2ps`` can rebuild a model from its checkpoint alone.
    - :meth:`set_teacher` enables knowledge distillation from a frozen copy of the baseline (logits), and
      :meth:`set_feature_distillation` adds the feature-map term at the pruned layers.

    Args:
        net: the network (``forward(x)`` returns logits).
        optimizer: partial optimizer, called as ``optimizer(params=...)``.
        scheduler: partial LR scheduler, called as ``scheduler(optimizer=...)``, or ``None``.
        scheduler_interval: ``"epoch"`` or ``"step"``.
        warmup_fraction: linear LR warm-up over this fraction of the fit's optimizer steps (Goyal et al. 2017):
            step ``t`` (0-based) of ``W = warmup_fraction · total steps`` runs at ``min(1, (t + 1) / W)`` times the
            scheduled LR; the scheduler itself never sees the scaled LR. 0 = off; the fine-tune of a pruning run
            switches it off (its LR restart has its own schedule).
        channels_last: train in the channels-last (NHWC) memory layout: 4-D weights are converted at the start of
            every training epoch (so also after a pruning step) and 4-D inputs on every forward. Same model, other
            strides: results match NCHW up to float rounding; on CPUs with oneDNN a conv step runs about 20-35 %
            faster (quarter-width VGG-16 on 32x32 here). Checkpoints load into either layout.
        compile: run the training forwards through ``torch.compile(net)`` (compiled on the first training step, and
            again after a pruning step changes shapes); evaluation, test, CAMs and export use the eager network.
            The state dict is the eager network's, so checkpoints are the same either way.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: str = "epoch",
        warmup_fraction: float = 0.0,
        channels_last: bool = False,
        compile: bool = False,  # noqa: A002 - the config key model.compile
    ) -> None:
        super().__init__()
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        if not 0.0 <= warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {warmup_fraction}")
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.warmup_fraction = float(warmup_fraction)
        self.channels_last = bool(channels_last)
        self.compile_training = bool(compile)
        # (net, torch.compile(net)) during a fit with compile; dropped at its end (copies and pickles stay eager)
        self._compiled: tuple[nn.Module, Callable[..., torch.Tensor]] | None = None
        self.pruning_record: list[dict[str, Any]] = []
        self.model_config: dict[str, Any] | None = (
            None  # resolved ``model`` config: checkpoints rebuild from it
        )
        self.data_config: dict[str, Any] | None = None  # resolved ``data`` config: the data it was trained on
        self.teacher: nn.Module | None = None
        self.distill_alpha = 0.0
        self.distill_temperature = 1.0
        self.feature_distillation: FeatureDistillation | None = None
        self.feature_weight = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.compile_training and self.training:
            return self._compiled_net()(x)
        return self.net(x)

    def _compiled_net(self) -> Callable[..., torch.Tensor]:
        """``torch.compile(self.net)``, made once per network object (a plain attribute: not in the state dict)."""
        if self._compiled is None or self._compiled[0] is not self.net:
            self.__dict__["_compiled"] = (self.net, torch.compile(self.net))
        assert self._compiled is not None
        return self._compiled[1]

    def on_train_end(self) -> None:
        self.__dict__["_compiled"] = None

    def on_train_epoch_start(self) -> None:
        # After the callbacks' hook: a pruning step has already replaced the pruned layers' weights. ``Module.to``
        # swaps ``param.data`` only, so the optimizer keeps its parameters.
        if self.channels_last:
            self.net.to(memory_format=torch.channels_last)

    # ----------------------------------------------------------------------------------------- distillation
    def set_teacher(self, teacher: nn.Module | None, alpha: float = 0.5, temperature: float = 4.0) -> None:
        """Distil from ``teacher`` (kept frozen, in eval mode): ``loss = (1 - alpha) * task + alpha * T² · KL``.

        ``teacher=None`` switches distillation off (feature distillation too); ``alpha=0`` keeps the teacher without
        the logit term (for :meth:`set_feature_distillation`). The teacher is not a submodule, so it is neither
        saved in checkpoints nor trained.
        """
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"distillation alpha must be in [0, 1], got {alpha}")
        if temperature <= 0:
            raise ValueError(f"distillation temperature must be > 0, got {temperature}")
        if teacher is None:
            self.__dict__["teacher"] = None
            self.distill_alpha = 0.0
            self.set_feature_distillation(None)
            return
        frozen = copy.deepcopy(teacher).to(self.device).eval()
        frozen.requires_grad_(False)
        self.__dict__["teacher"] = frozen  # plain attribute: not registered as a submodule
        self.distill_alpha = float(alpha)
        self.distill_temperature = float(temperature)

    def set_feature_distillation(self, distillation: FeatureDistillation | None, weight: float = 0.0) -> None:
        """Add ``weight · L_feat`` of ``distillation`` (hooked on :attr:`net` and :attr:`teacher`) to the training
        loss, and its adapters to the optimizer :meth:`configure_optimizers` builds; ``None`` (or ``weight=0``)
        releases the current one. A plain attribute: the adapters are not in the state dict."""
        current = self.__dict__.get("feature_distillation")
        if current is not None and current is not distillation:
            current.release()
        if distillation is not None and weight > 0:
            if self.teacher is None:
                distillation.release()
                raise RuntimeError("feature distillation needs a teacher: call set_teacher first")
            self.__dict__["feature_distillation"] = distillation
            self.feature_weight = float(weight)
            return
        if distillation is not None:
            distillation.release()
        self.__dict__["feature_distillation"] = None
        self.feature_weight = 0.0

    def distillation_loss(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        """T² · KL(softmax(teacher/T) ‖ softmax(student/T)), averaged over samples (and pixels), class dim 1."""
        t = self.distill_temperature
        log_p_student = torch.log_softmax(student_logits / t, dim=1)
        log_p_teacher = torch.log_softmax(teacher_logits / t, dim=1)
        kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=1)
        return kl.mean() * t * t

    def task_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def training_loss(
        self, images: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """Task loss, mixed with the distillation terms when a teacher is set:
        ``(1 - alpha) · task + alpha · T² · KL + feature_weight · L_feat``."""
        loss = self.task_loss(logits, targets)
        features = self.feature_distillation
        if self.teacher is None or (self.distill_alpha <= 0 and features is None):
            return loss
        self.teacher.to(images.device)
        with torch.no_grad():
            teacher_logits = self.teacher(images)
        if self.distill_alpha > 0:
            kd = self.distillation_loss(logits, teacher_logits)
            self.log("train/distill_loss", kd, on_step=False, on_epoch=True)
            loss = (1.0 - self.distill_alpha) * loss + self.distill_alpha * kd
        if features is not None:
            feature_loss = features.loss()
            self.log("train/feature_distill_loss", feature_loss, on_step=False, on_epoch=True)
            loss = loss + self.feature_weight * feature_loss
        return loss

    # ----------------------------------------------------------------------------------------- optimisation
    def configure_optimizers(self) -> dict[str, Any]:
        params = [p for p in self.parameters() if p.requires_grad]
        if self.feature_distillation is not None:  # trained with the student, not part of it
            params += list(self.feature_distillation.parameters())
        optimizer = self.optimizer_factory(params=params)
        if self.scheduler_factory is None:
            return {"optimizer": optimizer}
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": self.scheduler_interval, "frequency": 1},
        }

    def warmup_scale(self) -> float:
        """LR factor of the coming optimizer step: ``min(1, (t + 1) / W)``, ``W = warmup_fraction · total steps``."""
        if self.warmup_fraction <= 0.0:
            return 1.0
        total = self.trainer.estimated_stepping_batches
        if not math.isfinite(total):
            raise ValueError(
                "warmup_fraction needs a fit of known length: set trainer.max_epochs or max_steps"
            )
        return min(1.0, (self.trainer.global_step + 1) / (self.warmup_fraction * total))

    def optimizer_step(
        self, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None
    ) -> None:
        """One optimizer step, at ``warmup_scale()`` times the scheduled LR during the warm-up."""
        scale = self.warmup_scale()
        if scale >= 1.0:
            super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
            return
        scheduled = [group["lr"] for group in optimizer.param_groups]
        for group, lr in zip(optimizer.param_groups, scheduled, strict=True):
            group["lr"] = lr * scale
        try:
            super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        finally:  # the scheduler continues from the unscaled LR
            for group, lr in zip(optimizer.param_groups, scheduled, strict=True):
                group["lr"] = lr

    # ----------------------------------------------------------------------------------------- checkpoints
    def checkpoint_payload(self) -> dict[str, Any]:
        """Copies of ``pruning_record``, ``model_config`` and ``data_config``: what every checkpoint carries besides
        the weights."""
        payload: dict[str, Any] = {"pruning_record": copy.deepcopy(self.pruning_record)}
        if self.model_config is not None:
            payload["model_config"] = copy.deepcopy(self.model_config)
        if self.data_config is not None:
            payload["data_config"] = copy.deepcopy(self.data_config)
        return payload

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint.update(self.checkpoint_payload())

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.apply_pruning_record(checkpoint.get("pruning_record") or [])

    def apply_pruning_record(self, record: list[dict[str, Any]]) -> None:
        """Bring a fresh :attr:`net` to the pruned architecture of ``record`` (no-op if already applied)."""
        if not record or record == self.pruning_record:
            return
        if self.pruning_record:
            raise ValueError("cannot apply a pruning record to a network that is already pruned differently")
        from prunescope.pruning import replay

        replay(self.net, record)
        self.pruning_record = copy.deepcopy(list(record))
