"""Where the time goes: per-operator and per-layer times of a baseline and its pruned copy.

Used when a pruned network's speed-up falls short of its MAC ratio. A structured-pruned network at channel ratio
``k`` (kept fraction) does ``k²`` of the convolution MACs but ``k`` of the element-wise, pooling and unpooling
work, which scales with activations, not weights; the operator table shows how the time splits between the two.
Operators are timed with :mod:`torch.profiler` (self CPU time per operator) in PyTorch and with ONNX Runtime's
own profiler (kernel time per node, grouped by operator type); convolution and linear layers are timed one by
one with forward hooks.
"""

from __future__ import annotations

import copy
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from prunescope.deploy import export_onnx, fold_batch_norm, run_onnx

MAC_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
MAC_OPERATORS = {
    "aten::mkldnn_convolution", "aten::convolution", "aten::_convolution", "aten::conv2d", "aten::thnn_conv2d",
    "aten::slow_conv_transpose2d", "aten::conv_transpose2d", "aten::addmm", "aten::mm", "aten::linear",
    "Conv", "ConvTranspose", "FusedConv", "NhwcFusedConv", "Gemm", "MatMul", "FusedGemm",
}  # fmt: skip
"""Operators whose work is multiply-accumulates (PyTorch ATen and ONNX Runtime names)."""


def torch_operator_ms(call: Callable[[], object], repeats: int) -> dict[str, float]:
    """Self CPU milliseconds per call of every ATen operator ``call`` runs (``torch.profiler``)."""
    call()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            call()
    return {
        event.key: event.self_cpu_time_total / 1e3 / repeats
        for event in prof.key_averages()
        if event.self_cpu_time_total > 0
    }


def onnxruntime_operator_ms(
    net: nn.Module, images: torch.Tensor, workdir: Path, threads: int, repeats: int
) -> dict[str, float]:
    """Kernel milliseconds per call of every ONNX operator type, from ONNX Runtime's profiler.

    ``net`` is BatchNorm-folded (on a copy) and exported as in the ``onnxruntime`` runtime.
    """
    import onnxruntime as ort

    folded = copy.deepcopy(net).eval()
    fold_batch_norm(folded, images[:1])
    workdir.mkdir(parents=True, exist_ok=True)
    path = export_onnx(folded, torch.randn(2, *images.shape[1:]), workdir / f"profiled_{id(net):x}.onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_profiling = True
    options.profile_file_prefix = str(workdir / "ort_profile")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    array = images.numpy()
    for _ in range(repeats + 1):
        run_onnx(session, array)
    trace = Path(session.end_profiling())
    totals: dict[str, float] = defaultdict(float)
    for event in json.loads(trace.read_text()):
        if event.get("cat") == "Node" and str(event.get("name", "")).endswith("_kernel_time"):
            totals[event["args"]["op_name"]] += event["dur"] / 1e3
    trace.unlink(missing_ok=True)
    return {op: total / (repeats + 1) for op, total in totals.items()}


def mac_layer_ms(net: nn.Module, images: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median milliseconds of every convolution and linear layer's forward (forward hooks, eval, no grad)."""
    starts: dict[str, float] = {}
    times: dict[str, list[float]] = defaultdict(list)
    handles = []

    def before(name: str):
        return lambda _module, _inputs: starts.__setitem__(name, time.perf_counter())

    def after(name: str):
        return lambda _module, _inputs, _output: times[name].append(time.perf_counter() - starts[name])

    try:
        for name, module in net.named_modules():
            if isinstance(module, MAC_LAYERS):
                handles.append(module.register_forward_pre_hook(before(name)))
                handles.append(module.register_forward_hook(after(name)))
        with torch.no_grad():
            net.eval()(images)
            times.clear()
            for _ in range(repeats):
                net(images)
    finally:
        for handle in handles:
            handle.remove()
    return {name: 1e3 * statistics.median(values) for name, values in times.items()}


def layer_macs(net: nn.Module, images: torch.Tensor) -> dict[str, int]:
    """MACs of every module with a name (FLOPs / 2 from ``FlopCounterMode``, keys ``<Class>.<name>`` stripped)."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        net.eval()(images)
    prefix = f"{type(net).__name__}."
    return {
        key.removeprefix(prefix): sum(counts.values()) // 2
        for key, counts in counter.get_flop_counts().items()
        if key.startswith(prefix)
    }


def operator_rows(
    baseline: dict[str, float], pruned: dict[str, float], top: int = 12
) -> list[dict[str, Any]]:
    """The ``top`` operators by baseline time: ms baseline, ms pruned, time ratio, share of the pruned time."""
    total_pruned = sum(pruned.values()) or 1.0
    names = sorted(set(baseline) | set(pruned), key=lambda op: -baseline.get(op, 0.0))[:top]
    return [
        {
            "operator": op,
            "baseline_ms": baseline.get(op, 0.0),
            "pruned_ms": pruned.get(op, 0.0),
            "time_ratio": baseline.get(op, 0.0) / pruned[op] if pruned.get(op) else None,
            "pruned_share": pruned.get(op, 0.0) / total_pruned,
        }
        for op in names
    ]


def attainable_speedup(
    baseline: dict[str, float], mac_ratio: float, channel_ratio: float
) -> dict[str, float]:
    """The speed-up if MAC operators sped up by ``mac_ratio`` and every other operator by ``channel_ratio``.

    Element-wise, pooling and unpooling work scales with the activations (channels), not with the MACs (channels
    squared); this is the ceiling of a perfect convolution library on the baseline's measured time split.
    """
    total = sum(baseline.values())
    mac_ms = sum(ms for op, ms in baseline.items() if op in MAC_OPERATORS)
    bound = total / (mac_ms / mac_ratio + (total - mac_ms) / channel_ratio)
    return {"mac_share": mac_ms / total, "speedup": bound, "over_mac_ratio": bound / mac_ratio}


def where_time_goes(
    baseline: nn.Module,
    pruned: nn.Module,
    images: torch.Tensor,
    workdir: Path,
    threads: int = 1,
    repeats: int = 10,
    top: int = 12,
    mac_ratio: float | None = None,
    channel_ratio: float | None = None,
) -> dict[str, Any]:
    """Operator tables (eager PyTorch and ONNX Runtime) and a per-layer table of one baseline/pruned pair.

    The eager figures are for the ``eager_folded_cl`` runtime (BatchNorm folded, channels_last).

    Returns:
        ``{"eager_operators": rows, "onnxruntime_operators": rows, "layers": rows}``; layer rows hold ``layer``,
        ``baseline_macs``, ``pruned_macs``, ``mac_ratio``, ``baseline_ms``, ``pruned_ms``, ``time_ratio``; with
        ``mac_ratio`` and ``channel_ratio`` also ``eager_bound`` / ``onnxruntime_bound``
        (:func:`attainable_speedup` of each runtime's baseline operator times).
    """
    baseline, pruned = baseline.eval(), pruned.eval()
    folded = {
        tag: _folded_channels_last(net, images) for tag, net in (("baseline", baseline), ("pruned", pruned))
    }
    images_cl = images.contiguous(memory_format=torch.channels_last)
    eager = {
        tag: torch_operator_ms(lambda net=net: _forward(net, images_cl), repeats)
        for tag, net in folded.items()
    }
    ort = {
        tag: onnxruntime_operator_ms(net, images, workdir, threads, repeats)
        for tag, net in (("baseline", baseline), ("pruned", pruned))
    }
    base_ms = mac_layer_ms(folded["baseline"], images_cl, repeats)
    pruned_ms = mac_layer_ms(folded["pruned"], images_cl, repeats)
    base_macs, pruned_macs = layer_macs(baseline, images), layer_macs(pruned, images)
    layers = [
        {
            "layer": name,
            "baseline_macs": base_macs.get(name, 0),
            "pruned_macs": pruned_macs.get(name, 0),
            "mac_ratio": base_macs.get(name, 0) / pruned_macs[name] if pruned_macs.get(name) else None,
            "baseline_ms": base_ms[name],
            "pruned_ms": pruned_ms.get(name),
            "time_ratio": base_ms[name] / pruned_ms[name] if pruned_ms.get(name) else None,
        }
        for name in sorted(base_ms, key=lambda n: -base_ms[n])[:top]
    ]
    bounds = {}
    if mac_ratio is not None and channel_ratio is not None:
        bounds = {
            "eager_bound": attainable_speedup(eager["baseline"], mac_ratio, channel_ratio),
            "onnxruntime_bound": attainable_speedup(ort["baseline"], mac_ratio, channel_ratio),
        }
    return {
        **bounds,
        "eager_operators": operator_rows(eager["baseline"], eager["pruned"], top),
        "onnxruntime_operators": operator_rows(ort["baseline"], ort["pruned"], top),
        "layers": layers,
        "eager_total_ms": {tag: sum(values.values()) for tag, values in eager.items()},
        "onnxruntime_total_ms": {tag: sum(values.values()) for tag, values in ort.items()},
    }


def _folded_channels_last(net: nn.Module, images: torch.Tensor) -> nn.Module:
    folded = copy.deepcopy(net).eval()
    fold_batch_norm(folded, images[:1])
    return folded.to(memory_format=torch.channels_last)


def _forward(net: nn.Module, images: torch.Tensor) -> object:
    with torch.no_grad():
        return net(images)
