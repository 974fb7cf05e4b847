"""``prunescope.pruning`` is a library below the framework: it imports and prunes with Lightning and Hydra absent."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import prunescope.pruning

PACKAGE = Path(prunescope.pruning.__file__).parent
FRAMEWORK = ("pytorch_lightning", "lightning", "lightning_fabric", "hydra", "omegaconf")
"""Top-level packages the pruning library must not import (the fit side lives in ``prunescope.fitting``)."""
ALLOWED_PRUNESCOPE = ("prunescope.pruning", "prunescope.metrics", "prunescope.fp32")
"""The PruneScope modules it may import: its own, the metrics and the fp32 guard (torch only)."""

BLOCKED_RUN = """
import importlib.abc
import sys

BLOCKED = {blocked!r}


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is blocked in this test")
        return None


sys.meta_path.insert(0, Blocker())
import torch
from torch import nn

from prunescope.pruning import PruningOptions, prune, replay

torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1))
net.output_layer_names = ["3"]
fresh = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1))
result = prune(net, PruningOptions(method="l1", ratio=0.5), torch.randn(1, 3, 8, 8))
replay(fresh, result.record)
loaded = sorted(name for name in sys.modules if name.split(".")[0] in BLOCKED)
print(net[0].out_channels, fresh[0].out_channels, loaded)
"""


def test_pruning_imports_and_prunes_with_lightning_and_hydra_blocked() -> None:
    """A fresh interpreter whose import system refuses Lightning and Hydra imports the library and prunes."""
    completed = subprocess.run(
        [sys.executable, "-c", BLOCKED_RUN.format(blocked=FRAMEWORK)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.split() == ["4", "4", "[]"]


def _imports(path: Path) -> list[str]:
    """Every module name ``path`` imports, at any depth (lazy imports in functions included)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names.append(node.module)
    return names


def test_no_module_of_the_library_imports_the_framework() -> None:
    """No file under ``src/prunescope/pruning/`` names Lightning, Hydra or a PruneScope module above the library."""
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 10  # the package was found
    offending = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in files
        for name in _imports(path)
        if name.split(".")[0] in FRAMEWORK
        or (name.split(".")[0] == "prunescope" and not name.startswith(ALLOWED_PRUNESCOPE))
    ]
    assert offending == []
