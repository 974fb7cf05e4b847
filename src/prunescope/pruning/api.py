"""Public pruning API: ``prune`` a model in place and ``replay`` a pruning record on a fresh one.

Channels are physically removed with Torch-Pruning's ``DependencyGraph`` (coupled convs, BatchNorms,
concatenations and residual additions follow automatically); the output features of hidden Linear layers are
units like conv channels (see :mod:`prunescope.pruning.groups`); ties invisible to autograd (SegNet unpool indices)
are merged by :mod:`prunescope.pruning.coupling`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
import torch_pruning as tp
from torch import nn

from prunescope.metrics.efficiency import count_macs, count_macs_and_shape, count_params
from prunescope.pruning.coupling import declared_ties, merge_tied_groups, tie_closure
from prunescope.pruning.criteria import Criterion, make_criterion
from prunescope.pruning.groups import ChannelUnit, build_graph, iter_groups, prune_unit
from prunescope.pruning.options import PruningOptions
from prunescope.pruning.selection import Limits, choose_removal, lowest
from prunescope.pruning.target import (
    PAIR,
    TARGETS,
    TOLERANCE,
    TargetMatch,
    UnreachableRatio,
    match_pair,
    match_target,
    removable_fraction,
)

RECORD_OPS = ("channels", "unet_levels")


@dataclass
class PruningResult:
    """Outcome of one :func:`prune` call.

    Attributes:
        method: Criterion name.
        ratio: Requested fraction of the ``target`` count removed.
        params_before: Parameter count before pruning.
        params_after: Parameter count after pruning.
        macs_before: Multiply-accumulates of one ``example_inputs`` forward before pruning.
        macs_after: Same after pruning.
        filters_before: Prunable filters ``Σ_u w_u C_u`` before pruning (``w_u`` producer convs of unit ``u``).
        filters_after: The same after pruning.
        kept: Producer layer name -> kept output-channel indices (indexing before this call).
        removed: Producer layer name -> removed output-channel indices (same indexing).
        record: JSON-safe list of operations that :func:`replay` applies to a fresh model.
        details: Criterion extras (e.g. ``tau`` found by pca_nci); with a cost target also ``channel_ratio``
            (the filter ratio that met it), ``target_achieved`` (the fraction removed, counted exactly) and
            ``target_probes`` (selections evaluated); with ``params+macs`` also ``cost_exponent`` (the alpha found)
            and ``macs_achieved``.
        target: What ``ratio`` counts: ``"channels"`` (prunable filters), ``"params"``, ``"macs"`` or
            ``"params+macs"`` (``ratio`` of the parameters, ``macs_ratio`` of the MACs).
    """

    method: str
    ratio: float
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    filters_before: int = 0
    filters_after: int = 0
    target: str = "channels"
    kept: dict[str, list[int]] = field(default_factory=dict)
    removed: dict[str, list[int]] = field(default_factory=dict)
    record: list[dict] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    @property
    def removed_fraction(self) -> float:
        """Fraction of the examined filters actually removed."""
        total = sum(len(k) + len(r) for k, r in zip(self.kept.values(), self.removed.values(), strict=True))
        return sum(len(r) for r in self.removed.values()) / total if total else 0.0


@dataclass
class PruningPlan:
    """Channels chosen for removal, before anything is removed.

    Attributes:
        options: The options it was made with (``method``, ``ratio`` and ``target`` go into the result).
        graph: Dependency graph of the model.
        units: Prunable units.
        removal: Unit name -> unit channel indices to remove.
        criterion: The criterion used (holds statistics, e.g. ``tau``).
        match: How a cost target was met (``None`` for ``target="channels"``).
    """

    options: PruningOptions
    graph: tp.DependencyGraph
    units: list[ChannelUnit]
    removal: dict[str, list[int]]
    criterion: Criterion
    match: TargetMatch | None = None

    def filters(self) -> tuple[int, int]:
        """``(before, after)``: prunable filters ``Σ_u w_u C_u`` without and with the planned removal."""
        before = sum(unit.weight * unit.channels for unit in self.units)
        removed = sum(unit.weight * len(self.removal[unit.name]) for unit in self.units)
        return before, before - removed

    def per_layer(self) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        """``(kept, removed)``: producer layer name -> its own output-channel indices."""
        kept: dict[str, list[int]] = {}
        removed: dict[str, list[int]] = {}
        for unit in self.units:
            drop = set(self.removal[unit.name])
            for member in unit.producers:
                pairs = sorted(zip(member.idxs, member.root_idxs, strict=True))
                kept[member.name] = [i for i, root in pairs if root not in drop]
                removed[member.name] = [i for i, root in pairs if root in drop]
        return kept, removed


def _excluded_layers(model: nn.Module, ignored_layers: Sequence[str] | None) -> list[str]:
    """Conv names never pruned: output layers, ignored layers (and their sub-convs) and their tie partners."""
    modules = dict(model.named_modules())
    names = list(getattr(model, "output_layer_names", ())) + list(ignored_layers or [])
    unknown = [name for name in names if name not in modules]
    if unknown:
        convs = [n for n, m in modules.items() if isinstance(m, nn.modules.conv._ConvNd)]
        raise ValueError(f"unknown layer name(s) {unknown}; valid names include {convs[:6]}")
    excluded = set()
    for name in names:
        for sub_name, sub in modules[name].named_modules():
            if isinstance(sub, nn.modules.conv._ConvNd | nn.Linear):
                excluded.add(f"{name}.{sub_name}" if sub_name else name)
    return sorted(tie_closure(declared_ties(model), excluded))


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def prunable_units(
    model: nn.Module, example_inputs: torch.Tensor, ignored_layers: Sequence[str] | None = None
) -> tuple[tp.DependencyGraph, list[ChannelUnit]]:
    """``(graph, units)``: dependency graph and prunable channel units of ``model`` (excluded layers left out).

    A unit's weight ``w_u`` (producer convs) times its channels ``C_u`` is its number of prunable filters.
    """
    excluded = _excluded_layers(model, ignored_layers)
    graph = build_graph(model, example_inputs.to(_device(model)))
    groups = list(iter_groups(graph, model, excluded))
    return graph, merge_tied_groups(graph, groups, declared_ties(model))


def prunable_layers(
    model: nn.Module, example_inputs: torch.Tensor, ignored_layers: Sequence[str] | None = None
) -> list[str]:
    """Names of the convs (and hidden Linears) whose output channels (features) :func:`prune` may remove."""
    _, units = prunable_units(model, example_inputs, ignored_layers)
    return [name for unit in units for name in unit.layer_names]


def _limits(options: PruningOptions) -> Limits:
    return Limits(int(options.min_channels), None if options.round_to is None else int(options.round_to))


def plan_pruning(
    model: nn.Module,
    options: PruningOptions,
    example_inputs: torch.Tensor,
    calibration: Iterable | None = None,
) -> PruningPlan:
    """Choose the channels :func:`prune` would remove, without removing them (arguments as in :func:`prune`)."""
    options.validate()
    criterion = make_criterion(options.method, options.method_options)
    if criterion.needs_calibration and calibration is None:
        raise ValueError(f"method {options.method!r} needs calibration batches (calibration=None)")
    example_inputs = example_inputs.to(_device(model))
    graph, units = prunable_units(model, example_inputs, options.ignored_layers)
    limits = _limits(options)
    ratio = float(options.ratio)
    if not units or (ratio == 0 and criterion.uses_ratio):
        return PruningPlan(options, graph, units, {u.name: [] for u in units}, criterion)
    criterion.prepare(model, graph, units, calibration, int(options.calibration_batches))
    match = None
    if options.target == PAIR:
        match = match_pair(
            model, example_inputs, units, criterion, options.scope, limits, ratio, float(options.macs_ratio)
        )
    elif options.target != "channels":
        match = match_target(
            model, example_inputs, units, criterion, options.scope, limits, options.target, ratio
        )
    channel_ratio = ratio if match is None else match.ratio
    removal = choose_removal(criterion, units, channel_ratio, options.scope, limits)
    return PruningPlan(options, graph, units, removal, criterion, match)


def channel_ratio_for(
    model: nn.Module,
    options: PruningOptions,
    example_inputs: torch.Tensor,
    calibration: Iterable | None = None,
) -> float:
    """Channel ratio at which :func:`prune` removes ``options.ratio`` of the ``options.target`` count (nothing is
    removed). For ``target="channels"`` the answer is ``options.ratio`` itself."""
    plan = plan_pruning(model, options, example_inputs, calibration)
    return float(options.ratio) if plan.match is None else plan.match.ratio


def target_count(
    model: nn.Module,
    example_inputs: torch.Tensor,
    target: str,
    ignored_layers: Sequence[str] | None = None,
) -> int:
    """The count a ``target`` ratio refers to: prunable filters ``sum_u w_u C_u``, parameters or MACs.

    A schedule measures it before its first step and before every step, to turn a cumulative goal into the ratio
    of the current model: ``prunescope.pruning.schedule.step_ratio(1 - now / original, goal)``.
    """
    if target == "channels":
        _, units = prunable_units(model, example_inputs.to(_device(model)), ignored_layers)
        return sum(unit.weight * unit.channels for unit in units)
    if target in ("params", PAIR):
        return count_params(model)
    if target == "macs":
        return count_macs(model, example_inputs.to(_device(model)))
    raise ValueError(f"unknown pruning target {target!r}; valid: {', '.join(TARGETS)}")


TARGET_NAMES = {"channels": "prunable filters", "params": "parameters", "macs": "MACs", PAIR: "parameters"}


def check_reachable(
    model: nn.Module, options: PruningOptions, example_inputs: torch.Tensor, tolerance: float = TOLERANCE
) -> float | None:
    """Refuse a ratio that no selection reaches on ``model``, before anything is scored or removed.

    Every layer keeps ``min_channels`` (rounded up to ``round_to``) and output / ignored layers are never pruned, so
    at most :func:`~prunescope.pruning.target.removable_fraction` of the ``target`` count can go; a ratio above it
    by more than ``tolerance`` (the 0.5 points cost targets are matched within) would end far short of what was
    asked. ``target="params+macs"`` checks ``ratio`` on the parameters and ``macs_ratio`` on the MACs (whether the
    pair is reachable together depends on the scores: :func:`~prunescope.pruning.target.match_pair`). Threshold
    modes (pca_nci ``variance``, isd ``alpha``) and ``ratio=0`` are not checked.

    Returns:
        The largest removable fraction, or ``None`` when not checked.

    Raises:
        UnreachableRatio: one line with the asked ratio, the largest removable fraction and the fix.
    """
    if float(options.ratio) == 0 or not make_criterion(options.method, options.method_options).uses_ratio:
        return None
    example_inputs = example_inputs.to(_device(model))
    _, units = prunable_units(model, example_inputs, options.ignored_layers)
    limits = _limits(options)
    reachable = removable_fraction(model, example_inputs, units, limits, options.target)
    key, asked, counted, largest = "pruning.ratio", float(options.ratio), options.target, reachable
    if asked <= largest + tolerance:
        if options.target != PAIR or options.macs_ratio is None:
            return reachable
        # params+macs: the MACs too
        key, asked, counted = "pruning.macs_ratio", float(options.macs_ratio), "macs"
        largest = removable_fraction(model, example_inputs, units, limits, "macs")
        if asked <= largest + tolerance:
            return reachable
    most = round(largest, 3)  # a ratio up to it passes: it is within the tolerance of what is reachable
    floors = f"pruning.min_channels={options.min_channels}"
    if options.round_to is not None:
        floors += f" (rounded up to pruning.round_to={options.round_to})"
    never = "the output and pruning.ignored_layers layers" if options.ignored_layers else "the output layers"
    count = sum(u.weight * u.channels for u in units) if counted == "channels" else None
    what = f"{count} {TARGET_NAMES['channels']}" if count is not None else TARGET_NAMES[counted]
    fixes = [f"lower {key} to {most:.3f} or less"]
    if int(options.min_channels) > 1:
        fixes.append("lower pruning.min_channels")
    if options.round_to is not None and int(options.round_to) > 1:
        fixes.append("set pruning.round_to=null")
    target = "" if options.target == "channels" else f" (pruning.target={options.target})"
    raise UnreachableRatio(
        f"{key}={asked:g}{target} cannot be reached: every layer keeps {floors} and "
        f"{never} are never pruned, so at most {most:.3f} of {type(model).__name__}'s {what} can be removed; "
        + ", or ".join(fixes)
    )


def prune(
    model: nn.Module,
    options: PruningOptions,
    example_inputs: torch.Tensor,
    calibration: Iterable | None = None,
) -> PruningResult:
    """Remove output channels of ``model``'s convs (and output features of its hidden Linears) in place.

    Example::

        prune(net, PruningOptions(method="l1", ratio=0.5), example_inputs)

    Args:
        model: Network (output layers in ``model.output_layer_names`` are never pruned).
        options: What to remove, validated here (:class:`~prunescope.pruning.options.PruningOptions`): ``method``
            (one of ``CRITERIA``), ``ratio`` (the fraction, in [0, 1), of what ``target`` names; ``0`` leaves the
            model unchanged), ``scope`` (``"global"`` or ``"local"``), ``ignored_layers`` (kept intact with their
            sub-convs and tie partners), ``round_to``, ``min_channels``, ``calibration_batches``,
            ``method_options`` and ``target``: ``"channels"`` (the fraction of prunable filters, over all layers
            for global scope, per layer for local scope) or ``"params"`` / ``"macs"`` (the fraction of the model's
            parameters / MACs, met within 0.5 points by bisection on the filter ratio, see
            :mod:`prunescope.pruning.target`; not with pca_nci ``variance`` or isd ``alpha``), or ``"params+macs"``
            (``ratio`` of the parameters and ``macs_ratio`` of the MACs, each within 1 point, by cost-weighted
            scores under global scope; :func:`~prunescope.pruning.target.match_pair`).
        example_inputs: Input batch used to trace the network (its shape is stored in the record).
        calibration: Iterable of ``(images, targets)`` batches; needed by taylor, pca_nci and isd.

    Returns:
        Counts before/after, kept/removed indices per layer and the replay record.

    Raises:
        ValueError: Invalid ratio, scope, method, option, target or layer name (raised before any work); a cost
            target out of reach (:class:`~prunescope.pruning.target.UnreachablePair` for a params+macs pair).
    """
    example_inputs = example_inputs.to(_device(model))
    return apply_plan(model, plan_pruning(model, options, example_inputs, calibration), example_inputs)


def apply_plan(model: nn.Module, plan: PruningPlan, example_inputs: torch.Tensor) -> PruningResult:
    """Remove the channels of ``plan`` from ``model`` in place; counts, indices and record as in :func:`prune`.

    Raises:
        RuntimeError: The output shape changed (an output layer is missing from ``output_layer_names``).
    """
    example_inputs = example_inputs.to(_device(model))
    params_before = count_params(model)
    macs_before, shape_before = count_macs_and_shape(model, example_inputs)
    kept, removed = plan.per_layer()
    filters_before, filters_after = plan.filters()
    for unit in plan.units:
        prune_unit(plan.graph, unit, plan.removal[unit.name])
    history = [
        [str(name), bool(is_out), [int(i) for i in idxs]]
        for name, is_out, idxs in plan.graph.pruning_history()
    ]
    record = (
        [{"op": "channels", "input_shape": [1, *example_inputs.shape[1:]], "history": history}]
        if history
        else []
    )
    macs_after, shape_after = (
        count_macs_and_shape(model, example_inputs) if history else (macs_before, shape_before)
    )
    if shape_after != shape_before:
        raise RuntimeError(
            "pruning changed the output shape: an output layer is missing from output_layer_names"
        )
    details = {"tau": plan.criterion.tau} if getattr(plan.criterion, "tau", None) is not None else {}
    if plan.match is not None:
        details.update(
            channel_ratio=plan.match.ratio,
            target_achieved=plan.match.achieved,
            target_probes=plan.match.probes,
        )
        if plan.match.exponent is not None:
            details.update(cost_exponent=plan.match.exponent, macs_achieved=plan.match.macs_achieved)
    return PruningResult(
        method=plan.options.method,
        ratio=float(plan.options.ratio),
        params_before=params_before,
        params_after=count_params(model),
        macs_before=macs_before,
        macs_after=macs_after,
        filters_before=filters_before,
        filters_after=filters_after,
        target=plan.options.target,
        kept=kept,
        removed=removed,
        record=record,
        details=details,
    )


def round_channels_down(
    model: nn.Module,
    options: PruningOptions,
    example_inputs: torch.Tensor,
    multiple: int,
    calibration: Iterable | None = None,
) -> PruningResult:
    """Prune every unit of ``model`` down to the nearest multiple of ``multiple`` (in place).

    For an already pruned network, whose removed filters are gone: a unit of ``C >= multiple`` channels loses
    its ``C mod multiple`` lowest-scoring channels under ``options.method``; a unit of fewer than ``multiple``
    channels is left as it is. (At prune time, :func:`prune`'s ``round_to`` rounds kept counts *up* instead.)

    Args:
        model: Network (output layers are never pruned).
        options: The criterion that picks the channels: ``method``, ``method_options``, ``ignored_layers`` and
            ``calibration_batches`` are read (``ratio``, ``scope``, ``round_to``, ``min_channels`` and ``target``
            play no part).
        example_inputs: Input batch used to trace the network.
        multiple: Channel multiple (e.g. 8 or 16 for vector units), >= 1.
        calibration: Batches for criteria that need them (taylor, pca_nci, isd).

    Returns:
        The result; ``ratio`` is the fraction of the prunable filters removed.

    Raises:
        ValueError: Invalid multiple, method, option or layer name, or calibration missing (before any work).
    """
    if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
        raise ValueError(f"multiple must be a positive integer, got {multiple!r}")
    options.validate()
    criterion = make_criterion(options.method, options.method_options)
    if criterion.needs_calibration and calibration is None:
        raise ValueError(f"method {options.method!r} needs calibration batches (calibration=None)")
    example_inputs = example_inputs.to(_device(model))
    graph, units = prunable_units(model, example_inputs, options.ignored_layers)
    limits = Limits(min_channels=1, round_to=multiple)
    criterion.prepare(model, graph, units, calibration, int(options.calibration_batches))
    removal = {
        u.name: lowest(criterion(u), limits.removal(u.channels, u.channels % limits.round_to)) for u in units
    }
    before = sum(u.weight * u.channels for u in units)
    after = before - sum(u.weight * len(removal[u.name]) for u in units)
    removed = dataclasses.replace(options, ratio=1.0 - after / before if before else 0.0, target="channels")
    return apply_plan(model, PruningPlan(removed, graph, units, removal, criterion), example_inputs)


class RecordMismatch(ValueError):
    """A pruning record that does not fit the model it is replayed on (a layer it names is missing, an index is out
    of range, an op the model cannot do); the message says which."""


def _check_history_entry(
    graph: tp.DependencyGraph, modules: dict[str, nn.Module], name: str, is_out: bool, idxs: list[int]
) -> None:
    """Raise :class:`RecordMismatch` unless ``name`` is a module of the model and ``idxs`` are channels it has."""
    module = modules.get(name)
    if module is None or not name:
        raise RecordMismatch(f"it names layer {name!r}, which {type(graph.model).__name__} does not have")
    if graph.get_pruner_of_module(module) is None or module not in graph.module2node:
        return  # Torch-Pruning reports a module it cannot prune
    side = "out" if is_out else "in"
    size = graph.get_out_channels(module) if is_out else graph.get_in_channels(module)
    bad = [i for i in idxs if not isinstance(i, int) or not 0 <= i < (size or 0)]
    if bad:
        raise RecordMismatch(
            f"its index {bad[0]} is out of range for layer {name!r} (size {size}: {side}put channels 0..{size - 1})"
        )


def replay(model: nn.Module, record: Sequence[dict]) -> nn.Module:
    """Apply a pruning record (list of ops, in order) to a fresh model of the same architecture, in place.

    Ops: ``{"op": "channels", "input_shape": [...], "history": [[name, is_out, [idx, ...]], ...]}`` (Torch-Pruning
    pruning history, replayed on a dependency graph traced with a zero input of ``input_shape``) and
    ``{"op": "unet_levels", "levels": k}`` (calls ``model.remove_deepest_levels(k)``).

    Returns:
        The same model, pruned.

    Raises:
        RecordMismatch: the record does not fit ``model`` (checked entry by entry, before each is applied).
    """
    for op in record:
        kind = op.get("op")
        if kind == "channels":
            example = torch.zeros(
                *op["input_shape"], device=_device(model)
            )  # no RNG use: values are irrelevant
            graph = build_graph(model, example)
            modules = dict(model.named_modules())
            # Torch-Pruning's load_pruning_history, one entry at a time, each checked first
            for name, is_out, idxs in op["history"]:
                _check_history_entry(graph, modules, str(name), bool(is_out), list(idxs))
                graph.load_pruning_history([[name, bool(is_out), list(idxs)]])
        elif kind == "unet_levels":
            if not hasattr(model, "remove_deepest_levels"):
                raise RecordMismatch(
                    f"record op 'unet_levels' needs a model with remove_deepest_levels(), got {type(model).__name__}"
                )
            model.remove_deepest_levels(int(op["levels"]))
        else:
            raise RecordMismatch(f"unknown record op {kind!r}; valid: {', '.join(RECORD_OPS)}")
    return model
