"""TorchScript: a traced network, saved with ``torch.jit.save`` and loaded back with ``torch.jit.load``.

Tracing records the operations run on the example input; shape arithmetic (SegNet's unpool sizes, the batch)
stays symbolic, but Python branches are fixed at the traced shape (the smp wrappers' padding to the encoder
stride), so the file is meant for inputs of the example's height and width, any batch.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn


def export_torchscript(net: nn.Module, example_input: torch.Tensor, path: str | Path) -> Path:
    """Trace ``net`` (eval mode, no grad) on ``example_input`` and save it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net.eval()
    with torch.no_grad(), warnings.catch_warnings():
        # torch.jit is deprecated in favour of torch.export, but TorchScript is still what C++ / mobile load
        warnings.simplefilter("ignore", (FutureWarning, DeprecationWarning, torch.jit.TracerWarning))
        traced = torch.jit.trace(net, example_input, check_trace=False)
        torch.jit.save(traced, str(path))
    return path


def load_torchscript(path: str | Path) -> torch.jit.ScriptModule:
    """The saved module on CPU, in eval mode."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (FutureWarning, DeprecationWarning))
        return torch.jit.load(str(path), map_location="cpu").eval()
