"""``replay`` + saved weights rebuild the pruned model exactly, also in a fresh process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from prunescope.models import build_model
from prunescope.pruning import PruningOptions, prune, replay
from support import TINY_MODELS

METHODS = {"unet": "l1", "smp_unet": "fpgm", "deeplabv3plus": "l2", "segnet": "random", "vgg16": "bn_scale"}
# case -> (model name, constructor arguments, first method): every network, and VGG-16 with the hidden FC layer
CASES = {name: (name, kwargs, METHODS[name]) for name, kwargs in TINY_MODELS.items()} | {
    "vgg16_cifar_fc": ("vgg16", TINY_MODELS["vgg16"] | {"head": "cifar_fc"}, "l1")
}

CHILD = textwrap.dedent(
    """
    import sys, torch
    torch.set_num_threads(1)
    from prunescope.models import build_model
    from prunescope.pruning import replay
    for path in sys.argv[1:]:
        saved = torch.load(path, weights_only=True)
        net = build_model(saved["name"], **saved["kwargs"])
        replay(net, saved["record"])
        net.load_state_dict(saved["state"])
        net.eval()
        with torch.no_grad():
            torch.save(net(saved["x"]), path + ".out")
    """
)


def test_replay_in_a_fresh_process_reproduces_outputs(tmp_path: Path) -> None:
    expected = {}
    paths = []
    for case, (name, kwargs, method) in CASES.items():
        torch.manual_seed(0)
        net = build_model(name, **kwargs)
        x = torch.randn(2, 3, 32, 32)
        first = prune(net, PruningOptions(method=method, ratio=0.3), x)
        second = prune(
            net, PruningOptions(method="l1", ratio=0.2, scope="local"), x
        )  # records of two steps, in order
        record = first.record + second.record
        assert [op["op"] for op in record] == ["channels", "channels"]
        if case == "vgg16_cifar_fc":  # hidden Linear units are in both steps' records
            assert all(any(n == "classifier.0" for n, _, _ in op["history"]) for op in record)
        net.eval()
        with torch.no_grad():
            expected[case] = net(x)
        path = tmp_path / f"{case}.pt"
        kw = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
        torch.save({"name": name, "kwargs": kw, "record": record, "state": net.state_dict(), "x": x}, path)
        paths.append(str(path))
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, *paths], capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    for case, path in zip(CASES, paths, strict=True):
        output = torch.load(path + ".out", weights_only=True)
        torch.testing.assert_close(output, expected[case], atol=1e-6, rtol=1e-6, msg=case)


def test_replay_layer_and_filter_pruning_in_order() -> None:
    torch.manual_seed(0)
    net = build_model("unet", num_classes=3, depth=3, base_channels=4)
    x = torch.randn(1, 3, 32, 32)
    net.remove_deepest_levels(1)
    result = prune(net, PruningOptions(method="l2", ratio=0.5), x)
    record = [{"op": "unet_levels", "levels": 1}, *result.record]
    fresh = replay(build_model("unet", num_classes=3, depth=3, base_channels=4), record)
    fresh.load_state_dict(net.state_dict())
    net.eval()
    fresh.eval()
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), net(x), atol=0, rtol=0)
    assert fresh.depth == 2


def test_replay_empty_record_and_unknown_op() -> None:
    net = build_model("vgg16", num_classes=4, width_mult=0.125)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    replay(net, [])
    assert all(v.equal(state[k]) for k, v in net.state_dict().items())
    with pytest.raises(ValueError, match="valid: channels, unet_levels"):
        replay(net, [{"op": "shuffle"}])
    with pytest.raises(ValueError, match="remove_deepest_levels"):
        replay(net, [{"op": "unet_levels", "levels": 1}])
