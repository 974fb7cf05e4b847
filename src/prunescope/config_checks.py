"""Checks of a composed run config that fail fast, before data is read or a model is trained."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import get_class, get_method, instantiate
from omegaconf import DictConfig, OmegaConf

from prunescope.baselines.locks import DEFAULT_STALE_AFTER_S, check_lock_options
from prunescope.objectives import check_objectives, configured_objectives

TASK_OF_MODULE = {
    "prunescope.modules.SegmentationModule": "segmentation",
    "prunescope.modules.segmentation.SegmentationModule": "segmentation",
    "prunescope.modules.ClassificationModule": "classification",
    "prunescope.modules.classification.ClassificationModule": "classification",
}


class ConfigError(ValueError):
    """A run config that cannot work; the message names the key, the value and the valid choices."""


def one_line(text: str) -> str:
    """``text`` with its lines joined by ``"; "`` (blank lines and indentation dropped)."""
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


def group_choice(cfg: DictConfig, group: str) -> str:
    """The option chosen for config group ``group`` (``data=camvid``: ``camvid``) in a Hydra command, else the
    ``_target_`` of ``cfg.<group>``."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get(group)
        if choice:
            return str(choice)
    return str(cfg[group].get("_target_"))


def pruning_enabled(cfg: DictConfig) -> bool:
    """True when the ``pruning`` group selects a method (``pruning=none`` is an empty node)."""
    return cfg.get("pruning") is not None and cfg.pruning.get("_target_") is not None


def check_train_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` for a model/data task mismatch or impossible run settings."""
    module_target = cfg.model.get("_target_")
    model_task = TASK_OF_MODULE.get(module_target)
    if model_task is None:
        raise ConfigError(
            f"model._target_={module_target!r} is not a PruneScope module; valid: {sorted(TASK_OF_MODULE)}"
        )
    data_task = cfg.data.get("task")
    if data_task is not None and data_task != model_task:
        from prunescope.models import models_for  # the registry (imports every network) only on this error

        classifiers = models_for("classification")
        raise ConfigError(
            f"model is a {model_task} model but data={group_choice(cfg, 'data')} is a {data_task} dataset; "
            f"segmentation models ({', '.join(models_for('segmentation'))}) take digit_scenes/camvid, "
            f"{', '.join(classifiers)} take{'s' if len(classifiers) == 1 else ''} digits/cifar10"
        )
    if not cfg.get("train") and not cfg.get("test") and not pruning_enabled(cfg):
        raise ConfigError("nothing to do: train=false, test=false and pruning=none")
    check_numbers(cfg)
    if pruning_enabled(cfg):
        if not _is_int(cfg.get("finetune_epochs")) or int(cfg.finetune_epochs) < 1:
            raise ConfigError(
                f"finetune_epochs must be >= 1 for a pruning run, got {cfg.get('finetune_epochs')}"
            )
        if cfg.baseline.get("ckpt_path") is None and not cfg.get("train") and not cfg.baseline.get("cache"):
            raise ConfigError(
                "a pruning run needs a baseline: set baseline.ckpt_path, baseline.cache=true or train=true"
            )
    try:
        check_objectives(configured_objectives(cfg.get("objectives")))
        check_lock_options(
            cfg.baseline.get("lock", "file"), cfg.baseline.get("lock_stale_s", DEFAULT_STALE_AFTER_S)
        )
    except ValueError as error:
        raise ConfigError(str(error)) from None


NUMBERS = (
    # key, integer (else any number), smallest value, null allowed
    ("seed", True, None, True),
    ("trainer.max_epochs", True, -1, True),
    ("efficiency.latency_repeats", True, 1, False),
    ("model.optimizer.lr", False, None, False),
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_numbers(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` for a run setting of :data:`NUMBERS` that is no number or too small (an absent key
    is not checked), before anything reads it; ``model.optimizer.lr`` must be > 0."""
    for key, integer, smallest, nullable in NUMBERS:
        value = OmegaConf.select(cfg, key, default="<absent>", throw_on_missing=False)
        if value == "<absent>" or (nullable and value is None):
            continue
        kind = "an integer" if integer else "a number"
        number = _is_int(value) or (not integer and isinstance(value, float))
        low = smallest if smallest is not None else (None if integer else 0)
        if not number or (low is not None and (value < low if integer else value <= low)):
            bound = "" if low is None else f" {'>=' if integer else '>'} {low}"
            raise ConfigError(f"{key} must be {kind}{bound}{' or null' if nullable else ''}, got {value!r}")


def check_schedule_fits(pruning: Any, finetune_epochs: int) -> None:
    """Raise :class:`ConfigError` when a pruning step of ``pruning.schedule`` (a validated
    :class:`~prunescope.pruning.options.PruningConfig`) falls after the last of ``finetune_epochs`` fine-tune epochs."""
    from prunescope.pruning.schedule import step_epochs

    schedule = pruning.schedule
    epochs = step_epochs(schedule.steps, schedule.at_epochs, schedule.every_n_epochs)
    if epochs[-1] >= int(finetune_epochs):
        if schedule.at_epochs is not None:
            asked = f"pruning.schedule.at_epochs={list(epochs)} prunes at fine-tune epoch {epochs[-1]}"
        else:
            every = f", every_n_epochs={schedule.every_n_epochs}" if schedule.every_n_epochs != 1 else ""
            asked = (
                f"pruning.schedule.steps={schedule.steps}{every} prunes at fine-tune epochs {list(epochs)}"
            )
        raise ConfigError(
            f"{asked}, but finetune_epochs={finetune_epochs} runs epochs 0..{int(finetune_epochs) - 1}; set "
            f"finetune_epochs={epochs[-1] + 1} or more, or schedule fewer or earlier steps"
        )


def check_layer_names(names: list[str], valid: list[str], key: str) -> None:
    """Raise :class:`ConfigError` if a module name in ``names`` is not among ``valid``."""
    unknown = [n for n in names if n not in set(valid)]
    if unknown:
        sample = ", ".join(valid[:8]) + (", ..." if len(valid) > 8 else "")
        raise ConfigError(f"{key}: unknown layer name(s) {unknown}; valid module names include: {sample}")


PACKAGE_DIR = Path(__file__).resolve().parent
HYDRA_KEYS = ("_target_", "_convert_", "_partial_", "_recursive_", "_args_")


def instantiate_checked(node: Any, cfg: DictConfig | None = None, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate(node, **kwargs)``; bad input behind an ``InstantiationException`` is raised as its
    one line (:func:`instantiation_error`), ``cfg`` (the run's config) naming every key the target does not take."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as error:
        translated = instantiation_error(error, cfg)
        if translated is error:
            raise
        raise translated from error


def instantiation_error(error: InstantiationException, cfg: DictConfig | None = None) -> BaseException:
    """The error a user can act on behind ``error``, else ``error`` itself.

    - a ``ValueError``/``TypeError`` raised by PruneScope's own validation: a :class:`ConfigError` with its text,
      led by the config key (``data: batch_size must be >= 1, got 0``); a subclass (``ConfigError``,
      ``CheckpointError``, ``DataFileError``, ...) and an ``OSError`` are returned as they are;
    - a key the target does not take, or a required one missing: a :class:`ConfigError` naming the keys and the
      valid ones (``data: CamVidDataModule takes no data.num_train; valid keys: root, ...``).
    """
    inner: BaseException = error
    while isinstance(inner.__cause__, InstantiationException):
        inner = inner.__cause__
    cause = inner.__cause__
    if cause is None:
        return error
    found_target = re.search(r"Error in call to target '([^']+)'", str(inner))
    found_key = re.search(r"full_key: (\S+)", str(inner))
    target = found_target.group(1) if found_target else None
    key = found_key.group(1) if found_key else None
    origin = _raised_in(cause)
    if isinstance(cause, TypeError) and origin is not None and "hydra" in origin.parts and target is not None:
        return ConfigError(_argument_problem(cause, target, key, cfg))
    if isinstance(cause, OSError):
        return cause
    if isinstance(cause, ValueError | TypeError) and origin is not None and PACKAGE_DIR in origin.parents:
        if type(cause) not in (ValueError, TypeError):
            return cause
        text = str(cause)
        lead = f"{key}: " if key and not text.startswith((f"{key}:", f"{key}.")) else ""
        return ConfigError(f"{lead}{text}")
    return error


def _raised_in(error: BaseException) -> Path | None:
    """The file of the innermost frame of ``error``'s traceback."""
    tb = error.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename).resolve()


def _argument_problem(error: TypeError, target: str, key: str | None, cfg: DictConfig | None) -> str:
    """``<key>: <Target> takes no <key>.a, <key>.b; valid keys: ...`` or ``... needs <key>.c``."""
    name = target.rsplit(".", 1)[-1]
    where = f"{key}: " if key else ""
    try:
        try:
            callable_ = get_class(target)
        except ValueError:
            callable_ = get_method(target)
        parameters = inspect.signature(callable_).parameters
    except Exception:  # without a signature the TypeError's own text is all there is
        return f"{where}{error}"
    valid = [p for p, v in parameters.items() if v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)]
    missing = re.findall(r"'(\w+)'", str(error)) if "required" in str(error) else []
    if missing:
        return (
            f"{where}{name} needs {', '.join(_key(key, m) for m in missing)}; valid keys: {', '.join(valid)}"
        )
    unexpected = re.findall(r"unexpected keyword argument '(\w+)'", str(error))
    node = OmegaConf.select(cfg, key) if cfg is not None and key else None
    if isinstance(node, DictConfig):
        unexpected = [
            k for k in map(str, node.keys()) if k not in HYDRA_KEYS and k not in valid
        ] or unexpected
    if not unexpected:
        return f"{where}{error}"
    return f"{where}{name} takes no {', '.join(_key(key, k) for k in unexpected)}; valid keys: {', '.join(valid)}"


def _key(prefix: str | None, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
