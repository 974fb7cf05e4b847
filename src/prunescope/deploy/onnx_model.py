"""ONNX: write a network with PyTorch's exporter and run it in ONNX Runtime.

The exporter is ``torch.onnx.export(..., dynamo=True)`` (``torch.export`` graph, translated by onnxscript):
SegNet's unpooling, a ``scatter`` of pooled values to their argmax positions, becomes ``ScatterElements`` and
the index-returning max-pool becomes ``MaxPool`` with its ``Indices`` output (rebased per plane), both run by
ONNX Runtime's CPU provider. The batch dimension stays dynamic; height and width are the example's.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def export_onnx(net: nn.Module, example_input: torch.Tensor, path: str | Path) -> Path:
    """Write ``net`` (eval mode) to the single file ``path`` as ONNX, with a dynamic batch dimension.

    Args:
        net: Network with one tensor input and one tensor output.
        example_input: Input of the deployed shape; its batch size must be >= 2 (``torch.export`` treats a
            batch of 1 as a constant).
        path: Output ``.onnx`` file (weights inside it, no external data file).

    Raises:
        ValueError: ``example_input`` has a batch of 1.
    """
    if example_input.shape[0] < 2:
        raise ValueError(f"export_onnx needs an example batch >= 2, got shape {tuple(example_input.shape)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net.eval()
    batch = torch.export.Dim("batch", min=1, max=4096)
    with contextlib.redirect_stdout(io.StringIO()), _quiet_loggers("onnxscript", "onnx_ir"):
        torch.onnx.export(
            net,
            (example_input,),
            str(path),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: batch},),
            external_data=False,
            verbose=False,
        )
    return path


@contextlib.contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    """Raise the named loggers to WARNING for the block (the exporter's passes log every rewrite at INFO)."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def onnx_session(path: str | Path, threads: int = 1):
    """An ONNX Runtime CPU session of ``path`` with ``threads`` intra-op threads, sequential execution.

    All graph optimisations are on (constant folding, Conv + activation fusion, layout transforms).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(session, images: torch.Tensor | np.ndarray) -> np.ndarray:
    """Output of ``session`` on a float32 batch (NCHW)."""
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else images
    return session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(array, dtype=np.float32)})[0]
