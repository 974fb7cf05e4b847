"""From a network to a checked deployable file: round channels, count, fold BatchNorm, write, re-run, compare.

The written file is run in its own runtime (ONNX Runtime, or TorchScript loaded back) on a batch of a different
size than the one it was written with, and its output is compared with the network's eager PyTorch output
*before* BatchNorm folding; a file that disagrees beyond ``tolerance`` is an error, never a silent result.
"""

from __future__ import annotations

import copy
import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from prunescope.config_checks import ConfigError
from prunescope.deploy.agreement import max_relative_error
from prunescope.deploy.bn_fold import fold_batch_norm
from prunescope.deploy.onnx_model import export_onnx, onnx_session, run_onnx
from prunescope.deploy.torchscript_model import export_torchscript, load_torchscript
from prunescope.fp32 import full_precision
from prunescope.metrics.efficiency import count_macs, count_params
from prunescope.pruning import CRITERIA, PruningOptions, PruningResult, round_channels_down

FORMATS = {"onnx": "model.onnx", "torchscript": "model.pt"}
"""Export format -> file name written in the output folder."""


@dataclass
class ExportedModel:
    """A written, checked model file.

    Attributes:
        path: The model file.
        format: ``"onnx"`` or ``"torchscript"``.
        runtime: Runtime the check ran it in, with its version.
        input_shape: ``[1, C, H, W]``: one sample of the deployed input (the batch dimension is free).
        params: Parameters of the network before folding (BatchNorm counted, as in ``metrics.json``).
        macs: Multiply-accumulates of one sample (as in ``metrics.json``; folding does not change them).
        params_folded: Parameters of the written network (BatchNorm folded into convolution biases).
        folded: ``(conv, BatchNorm)`` name pairs folded.
        max_relative_error: ``max |file - eager| / max |eager|`` on the check batch.
        round_to: Channel multiple the network was rounded down to (``None``: not rounded).
        rounding: Result of that rounding (``None`` without rounding).
    """

    path: Path
    format: str
    runtime: str
    input_shape: list[int]
    params: int
    macs: int
    params_folded: int
    folded: list[tuple[str, str]]
    max_relative_error: float
    round_to: int | None = None
    rounding: PruningResult | None = field(default=None)


def data_free_criteria() -> list[str]:
    """Criteria that can re-prune a network without calibration data (valid ``round_method`` values)."""
    return [name for name, cls in CRITERIA.items() if not cls.needs_calibration]


def check_export_options(fmt: str, round_to: int | None, round_method: str, tolerance: float) -> None:
    """Raise :class:`~prunescope.config_checks.ConfigError` (a ``ValueError``) naming the first bad option and the
    valid choices."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    if round_to is not None and (isinstance(round_to, bool) or not isinstance(round_to, int) or round_to < 1):
        raise ConfigError(f"round_to must be a positive integer (e.g. 8 or 16) or null, got {round_to!r}")
    if round_method not in data_free_criteria():
        raise ConfigError(
            f"round_method {round_method!r} is not a data-free criterion; valid: {data_free_criteria()}"
        )
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not tolerance > 0:
        raise ConfigError(f"tolerance must be > 0, got {tolerance}")


@full_precision()  # the file and its check are fp32 whatever precision the net was trained in
def export_network(
    net: nn.Module,
    input_shape: list[int] | tuple[int, ...],
    path: str | Path,
    fmt: str = "onnx",
    round_to: int | None = None,
    round_method: str = "l1",
    tolerance: float = 1e-4,
    seed: int = 0,
) -> ExportedModel:
    """Write a copy of ``net`` as ``fmt`` to ``path``, BatchNorm folded, and check it against eager PyTorch.

    Args:
        net: Network (left unchanged; a copy is rounded, folded and written).
        input_shape: ``[B, C, H, W]`` of the deployed input (``B`` is ignored: the batch stays free).
        path: Output file.
        fmt: One of ``FORMATS``.
        round_to: Prune every channel count down to a multiple of this first (see
            :func:`prunescope.pruning.round_channels_down`), or ``None``.
        round_method: Criterion choosing the channels rounding removes (data-free, default ``l1``).
        tolerance: Largest accepted max-norm relative error of the file's output.
        seed: Seed of the random check batch.

    Raises:
        ValueError: Bad option (before any work).
        RuntimeError: The written file's output differs from eager PyTorch beyond ``tolerance``.
    """
    check_export_options(fmt, round_to, round_method, tolerance)
    shape = [int(s) for s in input_shape]
    if len(shape) != 4:
        raise ConfigError(f"input_shape must be [B, C, H, W], got {list(input_shape)}")
    sample = torch.zeros(1, *shape[1:])
    net = copy.deepcopy(net).cpu().float().eval()  # either memory layout; fp32 weights
    rounding = (
        round_channels_down(net, PruningOptions(method=round_method), sample, round_to) if round_to else None
    )
    params, macs = count_params(net), count_macs(net, sample)
    generator = torch.Generator().manual_seed(seed)
    write_input = torch.randn(2, *shape[1:], generator=generator)
    check_input = torch.randn(3, *shape[1:], generator=generator)
    with torch.no_grad():
        expected = net(check_input)
    folded = fold_batch_norm(net, sample)
    path = Path(path)
    if fmt == "onnx":
        export_onnx(net, write_input, path)
        actual = run_onnx(onnx_session(path), check_input)
        runtime = f"onnxruntime {importlib.metadata.version('onnxruntime')}"
    else:
        export_torchscript(net, write_input, path)
        with torch.no_grad():
            actual = load_torchscript(path)(check_input)
        runtime = f"torch.jit {torch.__version__}"
    error = max_relative_error(actual, expected)
    if error > tolerance:
        raise RuntimeError(
            f"{fmt} file {path} disagrees with eager PyTorch: max relative error {error:.2e} > {tolerance:.0e}"
        )
    return ExportedModel(
        path=path,
        format=fmt,
        runtime=runtime,
        input_shape=[1, *shape[1:]],
        params=params,
        macs=macs,
        params_folded=count_params(net),
        folded=folded,
        max_relative_error=error,
        round_to=round_to,
        rounding=rounding,
    )
