"""The runtimes a network is timed in: eager PyTorch, eager with BatchNorm folded and channels_last, ONNX Runtime.

:func:`prepare_runtime` does the per-network work once (folding, layout change, ONNX export and session) and
returns a factory that, given an input batch, returns the zero-argument call :func:`time_interleaved` times.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from prunescope.deploy import export_onnx, fold_batch_norm, onnx_session, run_onnx

RUNTIMES = ("eager", "eager_folded_cl", "onnxruntime")
"""``eager``: the network as trained (eval, no grad); ``eager_folded_cl``: BatchNorm folded into the
convolutions, weights and input in ``torch.channels_last``; ``onnxruntime``: the folded network exported with
``prunescope.deploy.export_onnx`` and run by ONNX Runtime's CPU provider (all graph optimisations)."""

CallFactory = Callable[[torch.Tensor], Callable[[], object]]


def prepare_runtime(
    net: nn.Module, runtime: str, input_shape: tuple[int, ...], workdir: Path, threads: int = 1
) -> CallFactory:
    """Make ``net`` ready to run in ``runtime``; returns ``images -> call`` (each call runs one forward).

    Args:
        net: Network (not modified; folded runtimes work on a copy).
        runtime: One of ``RUNTIMES``.
        input_shape: ``(C, H, W)`` of one sample.
        workdir: Folder for the ONNX file.
        threads: Intra-op threads of the ONNX Runtime session (PyTorch's are set by the caller).

    Raises:
        ValueError: Unknown runtime.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; valid: {', '.join(RUNTIMES)}")
    net = net.eval()
    if runtime == "eager":
        return lambda images: _no_grad_call(net, images)
    folded = copy.deepcopy(net)
    fold_batch_norm(folded, torch.zeros(1, *input_shape))
    if runtime == "eager_folded_cl":
        folded = folded.to(memory_format=torch.channels_last)
        return lambda images: _no_grad_call(folded, images.contiguous(memory_format=torch.channels_last))
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"net_{id(net):x}.onnx"
    export_onnx(folded, torch.randn(2, *input_shape), path)
    session = onnx_session(path, threads=threads)

    def factory(images: torch.Tensor) -> Callable[[], object]:
        array = images.numpy()
        return lambda: run_onnx(session, array)

    return factory


def _no_grad_call(net: nn.Module, images: torch.Tensor) -> Callable[[], object]:
    def call() -> object:
        with torch.no_grad():
            return net(images)

    return call
