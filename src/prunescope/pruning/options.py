"""Pruning options as dataclasses, validated once: what ``prune()`` takes and what a pruning run configures.

``conf/pruning/*.yaml`` instantiates :class:`PruningConfig` (``_target_``); its nested ``schedule``, ``finetune``,
``distill`` and ``layers`` dicts become the option dataclasses below. ``prune()`` takes :class:`PruningOptions`
(``prune(model, PruningOptions(method="l1", ratio=0.5), example_inputs)``). Every problem is reported in one
``ValueError`` that names the key, the value and the valid choices, before any work.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from prunescope.pruning.criteria import CRITERIA, make_criterion
from prunescope.pruning.schedule import SCHEDULE_KINDS, step_epochs
from prunescope.pruning.target import PAIR, TARGETS, check_target

SCOPES = ("global", "local")
FINETUNE_SCHEDULES = ("cosine", "constant", "step")


@dataclass(frozen=True)
class PruningOptions:
    """One call of :func:`prunescope.pruning.prune`.

    Attributes:
        method: criterion name, a key of ``prunescope.pruning.CRITERIA``.
        ratio: fraction of prunable filters removed, in [0, 1).
        scope: ``"global"`` (rank across layers) or ``"local"`` (same ratio per layer).
        round_to: kept channel counts rounded up to a multiple of this, or ``None``.
        min_channels: fewest channels a layer keeps (>= 1, a layer is never emptied).
        ignored_layers: module names kept intact (with their sub-convs and tie partners).
        calibration_batches: batches of the calibration data used for statistics / gradients (>= 1).
        method_options: criterion options (pca_nci ``variance``, isd ``alpha``, taylor ``ignore_index``, random
            ``seed``).
        target: what ``ratio`` is a fraction of: ``channels`` (prunable filters), ``params`` or ``macs`` (the
            model's counts, matched within 0.5 points by bisection; :mod:`prunescope.pruning.target`), or
            ``params+macs``: ``ratio`` of the parameters and ``macs_ratio`` of the MACs together, each within 1
            point (global scope, one step; :func:`prunescope.pruning.target.match_pair`).
        macs_ratio: with ``target="params+macs"``, the fraction of the MACs removed, in (0, 1); else ``None``.
    """

    method: str = "pca_nci"
    ratio: float = 0.5
    scope: str = "global"
    round_to: int | None = None
    min_channels: int = 1
    ignored_layers: tuple[str, ...] = ()
    calibration_batches: int = 4
    method_options: dict[str, Any] = field(default_factory=dict)
    target: str = "channels"
    macs_ratio: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ignored_layers", tuple(self.ignored_layers or ()))
        object.__setattr__(self, "method_options", dict(self.method_options or {}))

    def problems(self) -> list[str]:
        """Every invalid option, one phrase each (empty when valid)."""
        problems = type_problems(self)
        if problems:
            return problems
        if self.method not in CRITERIA:
            problems.append(f"unknown method {self.method!r} (valid: {', '.join(CRITERIA)})")
        else:
            try:
                check_target(self.target, make_criterion(self.method, self.method_options).uses_ratio)
            except (TypeError, ValueError) as error:
                problems.append(str(error))
        if not 0.0 <= float(self.ratio) < 1.0:
            problems.append(f"ratio must be in [0, 1), got {self.ratio}")
        problems += self._pair_problems()
        if self.scope not in SCOPES:
            problems.append(f"unknown scope {self.scope!r} (valid: {', '.join(SCOPES)})")
        if self.round_to is not None and int(self.round_to) < 1:
            problems.append(f"round_to must be >= 1 or null, got {self.round_to}")
        if int(self.min_channels) < 1:
            problems.append(f"min_channels must be >= 1 (a layer is never emptied), got {self.min_channels}")
        if int(self.calibration_batches) < 1:
            problems.append(f"calibration_batches must be >= 1, got {self.calibration_batches}")
        return problems

    def _pair_problems(self) -> list[str]:
        """``macs_ratio`` and ``target="params+macs"`` need each other; the pair needs global scope."""
        if self.target != PAIR:
            if self.macs_ratio is None:
                return []
            return [
                f"macs_ratio={self.macs_ratio} is read only with target={PAIR} (got target={self.target!r}); "
                f"set target={PAIR} or macs_ratio=null (valid targets: {', '.join(TARGETS)})"
            ]
        if self.macs_ratio is None:
            return [f"target={PAIR} needs macs_ratio, the fraction of the MACs removed, in (0, 1)"]
        problems = []
        if not 0.0 < float(self.macs_ratio) < 1.0:
            problems.append(f"macs_ratio must be in (0, 1) with target={PAIR}, got {self.macs_ratio}")
        if not 0.0 < float(self.ratio) < 1.0:
            problems.append(
                f"ratio (the parameter drop) must be in (0, 1) with target={PAIR}, got {self.ratio}"
            )
        if self.scope != "global":
            problems.append(
                f"target={PAIR} needs scope=global (got {self.scope!r}): local scope removes the same fraction "
                "of every layer, so the MACs follow from the parameters (valid with local: channels, params, macs)"
            )
        return problems

    def validate(self) -> PruningOptions:
        """Return ``self``; raise ``ValueError`` listing every problem."""
        raise_problems("pruning", self.problems())
        return self


@dataclass(frozen=True)
class ScheduleOptions:
    """When filters are removed during the fine-tune.

    Attributes:
        steps: number of pruning steps (1 = one-shot).
        kind: ``linear`` | ``geometric`` cumulative ratios (see :mod:`prunescope.pruning.schedule`).
        at_epochs: fine-tune epochs at whose start the steps happen, or ``None`` for ``every_n_epochs``.
        every_n_epochs: spacing of the steps from epoch 0 when ``at_epochs`` is ``None``.
    """

    steps: int = 1
    kind: str = "linear"
    at_epochs: tuple[int, ...] | None = None
    every_n_epochs: int = 1

    def __post_init__(self) -> None:
        if self.at_epochs is not None:
            epochs = self.at_epochs if isinstance(self.at_epochs, list | tuple) else [self.at_epochs]
            if all(isinstance(e, int) and not isinstance(e, bool) for e in epochs):
                object.__setattr__(self, "at_epochs", tuple(epochs))

    def problems(self) -> list[str]:
        """Every invalid option, one phrase each."""
        problems = type_problems(self, "schedule.")
        if self.at_epochs is not None and not isinstance(self.at_epochs, tuple):
            problems.append(f"schedule.at_epochs must be a list of integers or null, got {self.at_epochs!r}")
        if problems:
            return problems
        if self.steps < 1:
            problems.append(f"schedule.steps must be >= 1, got {self.steps}")
        if self.kind not in SCHEDULE_KINDS:
            problems.append(f"unknown schedule.kind {self.kind!r} (valid: {', '.join(SCHEDULE_KINDS)})")
        if self.steps >= 1:
            try:
                step_epochs(self.steps, self.at_epochs, self.every_n_epochs)
            except ValueError as error:
                problems.append(str(error))
        return problems


@dataclass(frozen=True)
class FinetuneOptions:
    """The fine-tune protocol: LR after every step, and what differs from the baseline's training.

    Attributes:
        lr: the LR restarts here after every step (> 0).
        schedule: ``cosine`` (to 0 over the segment until the next step or the end), ``constant``, or ``step``
            (× ``gamma`` at 50 % and 75 % of the segment).
        gamma: LR factor of the ``step`` schedule, in (0, 1].
        optimizer: keyword arguments that replace the model optimizer's for the fine-tune (e.g.
            ``{momentum: 0.9, nesterov: false, weight_decay: 0.0}``); ``lr`` comes from ``lr``.
        batch_size: training batch size of the fine-tune (and its calibration batches); ``None`` = the data's.
        limit_train_batches: ``pl.Trainer`` limit of the fine-tune's training batches per epoch (an int: a
            training subset of that many batches; a float: that fraction); ``None`` = the trainer's.
        warmup_fraction: linear LR warm-up over this fraction of every segment's optimizer steps, in [0, 1): step
            ``t < W = max(1, round(warmup_fraction · T))`` runs at ``(t + 1) / W · lr``, then ``schedule`` spans the other
            ``T - W`` steps (:func:`prunescope.fitting.finetune_optimizer.segment_scheduler`); 0 = off (the LR
            restarts at ``lr``).
    """

    lr: float = 1e-3
    schedule: str = "cosine"
    gamma: float = 0.1
    optimizer: dict[str, Any] = field(default_factory=dict)
    batch_size: int | None = None
    limit_train_batches: int | float | None = None
    warmup_fraction: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "optimizer", dict(self.optimizer or {}))

    def problems(self) -> list[str]:
        """Every invalid option, one phrase each."""
        problems = type_problems(self, "finetune.")
        if problems:
            return problems
        if not self.lr > 0:
            problems.append(f"finetune.lr must be > 0, got {self.lr}")
        if self.schedule not in FINETUNE_SCHEDULES:
            problems.append(
                f"unknown finetune.schedule {self.schedule!r} (valid: {', '.join(FINETUNE_SCHEDULES)})"
            )
        if not 0 < self.gamma <= 1:
            problems.append(f"finetune.gamma must be in (0, 1], got {self.gamma}")
        if "lr" in self.optimizer:
            problems.append("finetune.optimizer must not set lr (use finetune.lr)")
        if self.batch_size is not None and int(self.batch_size) < 1:
            problems.append(f"finetune.batch_size must be >= 1 or null, got {self.batch_size}")
        if self.limit_train_batches is not None and not self.limit_train_batches > 0:
            problems.append(
                f"finetune.limit_train_batches must be > 0 or null, got {self.limit_train_batches}"
            )
        if not 0.0 <= self.warmup_fraction < 1.0:
            problems.append(f"finetune.warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        return problems


@dataclass(frozen=True)
class DistillOptions:
    """Knowledge distillation from the frozen baseline during the fine-tune.

    ``loss = (1 - alpha) · task + alpha · T² · KL(logits) + feature_weight · L_feat`` (the last term:
    :class:`prunescope.modules.feature_distillation.FeatureDistillation`).

    Attributes:
        alpha: weight of the logit distillation term in [0, 1] (0 = off).
        temperature: softmax temperature (> 0).
        feature_weight: weight ``beta >= 0`` of the feature-map term at the pruned convs: the mean over those
            layers of ``MSE(adapter(student map), baseline map)``, with a learned 1×1 adapter per layer that exists
            only during the fine-tune (0 = off).
    """

    alpha: float = 0.0
    temperature: float = 4.0
    feature_weight: float = 0.0

    @property
    def enabled(self) -> bool:
        """Whether the fine-tune needs the baseline as teacher (logit or feature distillation on)."""
        return self.alpha > 0 or self.feature_weight > 0

    def problems(self) -> list[str]:
        """Every invalid option, one phrase each."""
        problems = type_problems(self, "distill.")
        if problems:
            return problems
        if not 0.0 <= self.alpha <= 1.0:
            problems.append(f"distill.alpha must be in [0, 1], got {self.alpha}")
        if not self.temperature > 0:
            problems.append(f"distill.temperature must be > 0, got {self.temperature}")
        if not self.feature_weight >= 0:
            problems.append(f"distill.feature_weight must be >= 0, got {self.feature_weight}")
        return problems


@dataclass(frozen=True)
class LayerOptions:
    """U-Net layer (level) pruning before the filter pruning (see :mod:`prunescope.pruning.layers`).

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

    @property
    def requested(self) -> bool:
        """Whether any level is to be removed (``auto`` or ``levels > 0``)."""
        return self.levels == "auto" or (isinstance(self.levels, int) and self.levels > 0)

    def problems(self) -> list[str]:
        """Every invalid option, one phrase each."""
        problems = type_problems(self, "layers.")
        if problems:
            return problems
        levels = self.levels
        if not (
            levels == "auto" or (isinstance(levels, int) and not isinstance(levels, bool) and levels >= 0)
        ):
            problems.append(f"layers.levels must be an int >= 0 or 'auto', got {levels!r}")
        if self.tolerance < 0:
            problems.append(f"layers.tolerance must be >= 0, got {self.tolerance}")
        if self.finetune_epochs < 0:
            problems.append(f"layers.finetune_epochs must be >= 0, got {self.finetune_epochs}")
        return problems


NESTED_OPTIONS: dict[str, type] = {
    "schedule": ScheduleOptions,
    "finetune": FinetuneOptions,
    "distill": DistillOptions,
    "layers": LayerOptions,
}


@dataclass(frozen=True)
class PruningConfig(PruningOptions):
    """Everything a pruning run configures (``conf/pruning/<method>.yaml``), validated on construction.

    Attributes:
        method, ratio, scope, round_to, min_channels, ignored_layers, calibration_batches, method_options: the
            options of every ``prune()`` step (inherited from :class:`PruningOptions`).
        schedule: :class:`ScheduleOptions` (a dict is converted).
        finetune: :class:`FinetuneOptions`.
        distill: :class:`DistillOptions`.
        layers: :class:`LayerOptions`.

    Raises:
        ValueError: one message listing every invalid option or unknown key.
    """

    schedule: ScheduleOptions = field(default_factory=ScheduleOptions)
    finetune: FinetuneOptions = field(default_factory=FinetuneOptions)
    distill: DistillOptions = field(default_factory=DistillOptions)
    layers: LayerOptions = field(default_factory=LayerOptions)

    def __post_init__(self) -> None:
        problems = []
        for name, cls in NESTED_OPTIONS.items():
            value = getattr(self, name)
            if isinstance(value, cls):
                continue
            values = dict(value or {})
            valid = [f.name for f in dataclasses.fields(cls)]
            unknown = sorted(set(values) - set(valid))
            if unknown:
                problems.append(f"unknown {name} key(s) {unknown} (valid: {', '.join(valid)})")
                values = {k: v for k, v in values.items() if k in valid}
            object.__setattr__(self, name, cls(**values))
        super().__post_init__()
        problems += PruningOptions.problems(self)
        for name in NESTED_OPTIONS:
            problems += getattr(self, name).problems()
        if self.target == PAIR and isinstance(self.schedule.steps, int) and self.schedule.steps > 1:
            problems.append(
                f"target={PAIR} prunes in one step (the exponent is found for the whole drop), got "
                f"schedule.steps={self.schedule.steps}; set schedule.steps=1 or target=params"
            )
        raise_problems("pruning", problems)

    def step_options(self, **changes: Any) -> PruningOptions:
        """The :class:`PruningOptions` of one ``prune()`` step (``changes`` replace fields, e.g. ``ratio``)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(PruningOptions)}
        return PruningOptions(**{**values, **changes})

    def with_method_options(self, **defaults: Any) -> PruningConfig:
        """A copy whose ``method_options`` get ``defaults`` for keys they do not set."""
        return dataclasses.replace(self, method_options={**defaults, **self.method_options})


NUMBER_KINDS = {"float": ((int, float), "a number"), "int": ((int,), "an integer")}


def type_problems(options: Any, prefix: str = "") -> list[str]:
    """``<prefix><field> must be a number, got 'abc'`` for every numeric field of the dataclass ``options`` whose
    value is not a number (``int``, ``float``, ``int | float``, ``... | None`` annotations; ``bool`` is no number)."""
    problems = []
    for spec in dataclasses.fields(options):
        parts = {part.strip() for part in str(spec.type).split("|")}
        nullable = "None" in parts
        kind = NUMBER_KINDS["int"] if parts - {"None"} == {"int"} else None
        if parts - {"None"} in ({"float"}, {"int", "float"}):
            kind = NUMBER_KINDS["float"]
        value = getattr(options, spec.name)
        if kind is None or (nullable and value is None):
            continue
        if isinstance(value, bool) or not isinstance(value, kind[0]):
            problems.append(
                f"{prefix}{spec.name} must be {kind[1]}{' or null' if nullable else ''}, got {value!r}"
            )
    return problems


def raise_problems(what: str, problems: list[str]) -> None:
    """Raise one ``ValueError`` ``"<what>: p1; p2; ..."`` when ``problems`` is not empty."""
    if problems:
        raise ValueError(f"{what}: " + "; ".join(problems))
