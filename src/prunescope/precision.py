"""Training precision: ``trainer.precision: auto`` resolved once per run, and the parts that always run in fp32.

``auto`` becomes ``bf16-mixed`` when both hold, else ``32-true``:

1. the device the trainer will use runs bf16 fast: CUDA with bf16 support
   (``torch.cuda.is_bf16_supported(including_emulation=False)``), or a CPU with AMX-BF16 or AVX512-BF16 (the
   ``amx_bf16`` / ``avx512_bf16`` flags of ``/proc/cpuinfo``; elsewhere torch's own check);
2. a training step is big enough for bf16 to pay: the network's MACs per sample at the training input size times
   ``data.batch_size`` reach :data:`BF16_MIN_STEP_GMACS` of that device kind.

The rule reads only the config and the machine kind, never a clock, so the same config on the same kind of machine
always resolves alike: :func:`resolve_run_precision` writes the concrete value into ``cfg.trainer.precision``
before anything else reads it, and the baseline-cache key, the fit identity, every trainer and ``metrics.json``
(``run.precision``) see that value. Explicit Lightning values pass through unchanged.

Pruning statistics, CAMs / Sp2PS, latency and export run in fp32 whatever the trainer's precision: they enter
:func:`prunescope.fp32.full_precision` (autocast off on every device) and cast low-precision float inputs up with :func:`~prunescope.fp32.as_fp32`.
"""

from __future__ import annotations

import functools
import logging
import math
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from prunescope.config_checks import ConfigError

log = logging.getLogger(__name__)

AUTO = "auto"
BF16_MIXED = "bf16-mixed"
FULL = "32-true"
LIGHTNING_PRECISIONS = (
    "32-true",
    "bf16-mixed",
    "bf16-true",
    "16-mixed",
    "16-true",
    "64-true",
    "transformer-engine",
    "transformer-engine-float16",
    "32",
    "16",
    "bf16",
    "64",
)
"""The values ``pytorch_lightning.Trainer(precision=...)`` accepts (also as the ints 16, 32, 64)."""
VALID_PRECISIONS = (AUTO, *LIGHTNING_PRECISIONS)
BF16_PRECISIONS = ("bf16-mixed", "bf16-true", "bf16")
BF16_CPU_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
CPUINFO = Path("/proc/cpuinfo")

BF16_MIN_STEP_GMACS = {"cpu": 0.25, "cuda": 250.0}
"""Smallest training step, in GMACs (per-sample forward MACs at the training input size x batch size), that ``auto``
runs in bf16. CPU: measured with ``prunescope-bench sections=[training_speed]`` and whole ``prunescope-train`` runs
on a 2-core AMD EPYC with AVX512-BF16 (README, "Training speed"): steps from 0.64 GMACs up are 1.25-1.64x faster in
bf16, and the smallest measured, the demo U-Net's 0.29 GMACs, trains 1.15x faster as a whole run (21.9 s against
25.2 s, means of three alternating pairs, ``experiments/training_speed/demo_precision.csv``); below it nothing was
measured, so fp32 stays. CUDA: measured on one H200
(``experiments/training_speed/gpu_step_times.py``, ``experiments/training_speed/RESULTS.md``): with cuDNN's default
TF32 convolutions, fp32 steps were as fast or faster than bf16 autocast for VGG-16 (40 and 160 GMACs), SegNet
(211) and DeepLabv3+ (26, within 7 %), and whole VGG-16 CIFAR epochs took 3.7 s in fp32 against 5.0 s in bf16;
only the U-Net step (252 GMACs) was faster in bf16 (1.12x). Our reading: these networks are launch-bound on such a
GPU, and bf16 pays from about 250 GMACs a step."""


@functools.cache
def cpu_bf16_fast(cpuinfo: Path = CPUINFO) -> bool:
    """Whether the CPU has native bf16 arithmetic: ``amx_bf16`` or ``avx512_bf16`` among the ``flags`` of
    ``cpuinfo``; without that file (not Linux), torch's own AVX512-BF16 / AMX checks."""
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("flags"):
                return bool(set(line.split(":", 1)[1].split()) & BF16_CPU_FLAGS)
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def trainer_device(accelerator: Any) -> str:
    """``cuda`` or ``cpu``: the device a Trainer with this ``accelerator`` runs on here (``mps``, ... as named)."""
    name = str(accelerator or AUTO).lower()
    if name in ("auto", "gpu", "cuda"):
        return "cuda" if torch.cuda.is_available() or name != AUTO else "cpu"
    return name


def device_bf16_fast(device: str, cpuinfo: Path = CPUINFO) -> bool:
    """Whether ``device`` (``cpu`` / ``cuda``) runs bf16 natively (not emulated)."""
    if device == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device == "cpu":
        return cpu_bf16_fast(cpuinfo)
    return False


def training_input_size(data: DictConfig) -> tuple[int, int] | None:
    """``(H, W)`` of a training image: ``data.crop_size``, else ``data.image_size``, else the dataset's native size
    (CIFAR-10 32x32, CamVid 180x240); ``None`` when unknown."""
    from prunescope.data.camvid import CAMVID_NATIVE_SIZE

    size = data.get("crop_size") or data.get("image_size")
    if size is None:
        native = {"CIFAR10DataModule": 32, "CamVidDataModule": tuple(CAMVID_NATIVE_SIZE)}
        size = native.get(str(data.get("_target_", "")).rsplit(".")[-1])
    if size is None:
        return None
    if isinstance(size, int):
        return size, size
    height, width = (int(v) for v in size)
    return height, width


def step_gmacs(cfg: DictConfig) -> float | None:
    """GMACs of one training step: MACs of ``cfg.model.net`` on one sample at the training input size times
    ``data.batch_size`` (forward only: a backward costs about twice that for every network alike).

    Builds the network under a forked RNG (the run's random streams are untouched). ``None`` when the input size is
    unknown or the network does not run on it (a model/data mismatch, which the run's own checks report).
    """
    from prunescope.metrics.efficiency import count_macs

    try:
        size = training_input_size(cfg.data)
        batch_size = int(cfg.data.batch_size) if cfg.data.get("batch_size") is not None else None
    except (TypeError, ValueError):  # a bad data.image_size / batch_size: the run's own checks name it
        return None
    if size is None or batch_size is None:
        return None
    channels = int(cfg.model.net.get("in_channels", 3))
    try:
        with torch.random.fork_rng(devices=[]):
            net = instantiate(cfg.model.net)
            macs = count_macs(net, torch.zeros(1, channels, *size))
    except Exception as error:  # noqa: BLE001 - a model/data mismatch is reported by the run's own checks
        log.debug("MACs of the network not counted: %s", error)
        return None
    return macs * batch_size / 1e9


def _no_bf16(device: str) -> str:
    if device == "cpu":
        return "this CPU has neither the amx_bf16 nor the avx512_bf16 flag"
    if device == "cuda" and torch.cuda.is_available():
        return f"this GPU ({torch.cuda.get_device_name()}) has no native bf16"
    return f"{device} has no native bf16 here"


def check_precision_value(value: Any) -> None:
    """Raise :class:`ConfigError` naming the valid values when ``value`` is no ``trainer.precision``."""
    if str(value) not in VALID_PRECISIONS:
        raise ConfigError(
            f"trainer.precision={value} is not a precision; valid: {', '.join(VALID_PRECISIONS)}"
        )


def choose_precision(cfg: DictConfig, cpuinfo: Path = CPUINFO) -> tuple[Any, str]:
    """The concrete precision for ``cfg.trainer.precision`` and why (a phrase for the log).

    Args:
        cfg: a composed run config (``trainer``; ``model.net`` and ``data`` to size ``auto``).
        cpuinfo: where the CPU's flags are read.

    Raises:
        ConfigError: an unknown value (the valid ones listed), or a bf16 precision on a device without native bf16.
    """
    value = cfg.trainer.get("precision")
    if value is None:
        return FULL, "not set"
    check_precision_value(value)
    device = trainer_device(cfg.trainer.get("accelerator"))
    if str(value) in BF16_PRECISIONS and not device_bf16_fast(device, cpuinfo):
        raise ConfigError(
            f"trainer.precision={value} needs native bf16 and {_no_bf16(device)}; "
            f"valid here: {', '.join(v for v in VALID_PRECISIONS if v not in BF16_PRECISIONS)}"
        )
    if str(value) != AUTO:
        return value, "set explicitly"
    if not device_bf16_fast(device, cpuinfo):
        return FULL, f"auto: {_no_bf16(device)}"
    gmacs = step_gmacs(cfg) if "model" in cfg and "data" in cfg else None
    if gmacs is None:
        return FULL, "auto: the MACs of a training step are unknown"
    bound = BF16_MIN_STEP_GMACS.get(device, math.inf)
    if gmacs >= bound:
        return BF16_MIXED, f"auto: {gmacs:.2f} GMACs per training step >= {bound:g} on a bf16 {device}"
    return FULL, f"auto: {gmacs:.2f} GMACs per training step < {bound:g}, too few for bf16 to pay"


def resolve_run_precision(cfg: DictConfig) -> Any:
    """Write the concrete precision into ``cfg.trainer.precision`` (once, before anything reads it); return it.

    Raises:
        ConfigError: see :func:`choose_precision`.
    """
    if "trainer" not in cfg:
        return None
    value, reason = choose_precision(cfg)
    with open_dict(cfg):
        cfg.trainer.precision = value
    log.info("trainer.precision: %s (%s)", value, reason)
    return value


def trainer_precision(value: Any) -> Any:
    """What a Trainer gets for ``value``: ``auto`` that no run resolved (``prunescope-eval``, ``prunescope-sp2ps``:
    test-only commands with no model config) tests in full precision.

    Raises:
        ConfigError: ``value`` is no precision (:func:`check_precision_value`).
    """
    if value is None or str(value) == AUTO:
        return FULL
    check_precision_value(value)
    return value
