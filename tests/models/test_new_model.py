"""Adding a model touches two files, plus its row of test sizes: its class (``@register_model(name)``, in a module of
``models/``), ``conf/model/<name>.yaml`` and ``TINY_MODELS`` in ``tests/support.py``.

The test does all three at run time: it writes a network module of its own (two conv blocks and a 1x1 head) and its
YAML into a copy of ``conf/``, adds its test size, then builds and prunes it through the public calls and runs
``prunescope-train`` on it end to end (pruning and Sp2PS included). A network without the contract fails where the
pipeline builds it, in one line naming what is missing.
"""

from __future__ import annotations

import importlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from prunescope.instantiate import build_module
from prunescope.models import MODELS, NetworkContractError, build_model
from prunescope.pruning import PruningOptions, prune
from prunescope.train import run
from support import CONFIG_DIR, TINY_MODELS

NAME = "twoconv"
MODULE = "twoconv_net"
SOURCE = '''"""A two-block segmentation network (a model of the test's own)."""

from torch import nn

from prunescope.models import register_model


def block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU()
    )


@register_model("twoconv")
class TwoConvNet(nn.Module):
    task = "segmentation"

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(block(in_channels, width), block(width, width))
        self.head = nn.Conv2d(width, num_classes, 1)
        self.cam_target_layer = "body"
        self.output_layer_names = ["head"]

    def channel_ties(self) -> list[tuple[str, str]]:
        return []

    def forward(self, x):
        return self.head(self.body(x))


class NoContractNet(nn.Module):
    """Like TwoConvNet, without cam_target_layer and channel_ties."""

    task = "segmentation"

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(block(in_channels, width), block(width, width))
        self.head = nn.Conv2d(width, num_classes, 1)
        self.output_layer_names = ["head"]

    def forward(self, x):
        return self.head(self.body(x))
'''
YAML = f"""# A test's own two-block network.
defaults:
  - base_segmentation
  - _self_

net:
  _target_: {MODULE}.TwoConvNet
  num_classes: ${{data.num_classes}}
  in_channels: 3
  width: 16
"""


@pytest.fixture
def new_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The files of a new model: its module (imported, as ``prunescope.models`` imports each of its modules), its
    YAML and its row in ``TINY_MODELS``; yields the config dir."""
    source_dir = tmp_path / "src"
    source_dir.mkdir()
    (source_dir / f"{MODULE}.py").write_text(SOURCE)
    monkeypatch.syspath_prepend(str(source_dir))
    config_dir = tmp_path / "conf"
    shutil.copytree(CONFIG_DIR, config_dir)
    (config_dir / "model" / f"{NAME}.yaml").write_text(YAML)
    monkeypatch.setitem(TINY_MODELS, NAME, dict(num_classes=5, width=8))
    try:
        importlib.import_module(MODULE)
        yield config_dir
    finally:
        MODELS.pop(NAME, None)
        sys.modules.pop(MODULE, None)


def test_a_registered_model_builds_and_prunes(new_model: Path) -> None:
    assert MODELS[NAME].__name__ == "TwoConvNet"
    net = build_model(NAME, **TINY_MODELS[NAME]).eval()  # checks the network contract
    x = torch.randn(2, 3, 24, 24)
    result = prune(net, PruningOptions(method="l1", ratio=0.5, scope="local"), x)
    assert result.params_after < result.params_before
    assert [len(result.kept[name]) for name in ("body.0.0", "body.1.0")] == [4, 4]
    assert "head" not in result.kept  # an output layer is never pruned
    assert net(x).shape == (2, 5, 24, 24)


def test_a_registered_model_with_its_yaml_runs_a_pruning_run(new_model: Path, make_cfg) -> None:
    cfg = make_cfg(
        f"model={NAME}", "pruning=l1", "pruning.ratio=0.5", "cam.max_batches=1", config_dir=new_model
    )
    assert cfg.model.net.width == 8  # its test size, from TINY_MODELS
    values = run(cfg)
    assert values["run.status"] == "completed", values.get("run.error")
    assert values["run.model"] == NAME
    assert values["pruned.params"] < values["baseline.params"]
    assert values["sp2ps.pairs"] > 0 and 0.0 <= values["sp2ps.score"] <= 1.0


def test_a_network_without_the_contract_fails_where_the_pipeline_builds_it(new_model: Path, make_cfg) -> None:
    cfg = make_cfg(f"model={NAME}", f"model.net._target_={MODULE}.NoContractNet", config_dir=new_model)
    with pytest.raises(NetworkContractError) as raised:
        build_module(cfg, datamodule=None)
    assert str(raised.value) == (
        f"model.net._target_={MODULE}.NoContractNet: "
        "NoContractNet is not a PruneScope network: it has no cam_target_layer, channel_ties "
        "(see prunescope.models.contract.Network)"
    )


def test_a_model_name_is_registered_once(new_model: Path) -> None:
    from prunescope.models import register_model

    with pytest.raises(ValueError, match="registered already"):
        register_model("unet")(sys.modules[MODULE].TwoConvNet)
