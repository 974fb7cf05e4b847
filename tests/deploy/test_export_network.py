"""Every network, pruned at 50% and BatchNorm folded, written as ONNX and TorchScript and run in its runtime."""

from __future__ import annotations

import functools

import onnx
import pytest
import torch

from prunescope.deploy import (
    export_network,
    load_torchscript,
    max_relative_error,
    onnx_session,
    run_onnx,
)
from prunescope.models import build_model
from prunescope.models.stand_ins import randomise_batch_norm
from prunescope.pruning import PruningOptions, prune
from support import TINY_MODELS

SHAPE = [1, 3, 32, 32]


@functools.cache
def _pruned(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_model(name, **TINY_MODELS[name])
    prune(net, PruningOptions(method="l1", ratio=0.5, scope="global"), torch.randn(SHAPE))
    return randomise_batch_norm(net, seed=0)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("name", sorted(TINY_MODELS))
def test_written_file_reproduces_pytorch(tmp_path, name: str, fmt: str) -> None:
    net = _pruned(name)
    exported = export_network(net, SHAPE, tmp_path / f"model.{fmt}", fmt=fmt)
    assert exported.max_relative_error <= 1e-4
    assert exported.folded and exported.params_folded < exported.params
    # an independent check, at a batch size the file was neither written nor checked with
    images = torch.randn(5, *SHAPE[1:], generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        expected = net.eval()(images)
    if fmt == "onnx":
        actual = run_onnx(onnx_session(exported.path), images)
    else:
        with torch.no_grad():
            actual = load_torchscript(exported.path)(images)
    assert max_relative_error(actual, expected) <= 1e-4


def test_onnx_has_no_batch_norm_and_rounded_channel_counts(tmp_path) -> None:
    net = _pruned("segnet")
    exported = export_network(net, SHAPE, tmp_path / "model.onnx", round_to=8)
    model = onnx.load(str(exported.path))
    ops = {node.op_type for node in model.graph.node}
    assert "BatchNormalization" not in ops and {"Conv", "ScatterElements", "MaxPool"} <= ops
    weights = {init.name: list(init.dims) for init in model.graph.initializer}
    conv_out = [weights[node.input[1]][0] for node in model.graph.node if node.op_type == "Conv"]
    head_classes = TINY_MODELS["segnet"]["num_classes"]
    assert conv_out[-1] == head_classes
    assert all(c % 8 == 0 or c < 8 for c in conv_out[:-1]), conv_out  # fewer than 8: left as they were
    assert sum(c >= 8 for c in conv_out[:-1]) >= len(conv_out) // 2
    assert exported.rounding is not None and exported.rounding.ratio > 0
    assert exported.params < exported.rounding.params_before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fmt": "tflite"}, "unknown format 'tflite'; valid: onnx, torchscript"),
        ({"round_to": 0}, "round_to must be a positive integer"),
        ({"round_to": 8, "round_method": "pca_nci"}, "not a data-free criterion"),
        ({"tolerance": 0.0}, "tolerance must be > 0"),
    ],
)
def test_bad_options_fail_before_writing(tmp_path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        export_network(_pruned("vgg16"), SHAPE, tmp_path / "model", **kwargs)
    assert not any(tmp_path.iterdir())
