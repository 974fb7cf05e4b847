"""Deployment: a pruned network out of the framework as ONNX or TorchScript, BatchNorm folded, with a sidecar.

``prunescope-export`` (:mod:`prunescope.export`) chains :func:`load_source` (checkpoint → network),
:func:`export_network` (optional channel rounding, BatchNorm folding, writing, checking the file against eager
PyTorch) and :func:`build_sidecar`.
"""

from prunescope.deploy.agreement import max_relative_error
from prunescope.deploy.bn_fold import conv_bn_pairs, fold_batch_norm
from prunescope.deploy.onnx_model import export_onnx, onnx_session, run_onnx
from prunescope.deploy.pipeline import FORMATS, ExportedModel, check_export_options, export_network
from prunescope.deploy.sidecar import SIDECAR_NAME, build_sidecar
from prunescope.deploy.source import CheckpointSource, data_description, input_shape, load_source
from prunescope.deploy.torchscript_model import export_torchscript, load_torchscript

__all__ = [
    "FORMATS",
    "SIDECAR_NAME",
    "CheckpointSource",
    "ExportedModel",
    "build_sidecar",
    "check_export_options",
    "conv_bn_pairs",
    "data_description",
    "export_network",
    "export_onnx",
    "export_torchscript",
    "fold_batch_norm",
    "input_shape",
    "load_source",
    "load_torchscript",
    "max_relative_error",
    "onnx_session",
    "run_onnx",
]
