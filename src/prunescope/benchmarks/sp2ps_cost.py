"""Cost of Sp2PS: the fast CAM engine against its floor and against pytorch-grad-cam's own call.

For each model, on the same batches, seconds per test sample of

- (a) ``fast``: the whole Sp2PS evaluation (``prunescope.cam.cam_pairs`` for baseline and pruned + ``Sp2PS``),
- (b) ``floor``: one no-grad forward of each of the two models,
- (c) ``library``: pytorch-grad-cam's own batched call (one per target group) for both models + the same scoring;
  its targets are built beforehand and not timed (favours (c)).

Goals: (a)/(b) <= 1.3 at the default target layers, (c)/(a) >= 2. The "pruned" model is a copy with perturbed
weights; the models are randomly initialised (BatchNorm statistics randomised), which leaves the costs unchanged.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from prunescope.cam import cam_pairs, library_cams, target_groups
from prunescope.data.digit_scenes import DigitScenesDataModule
from prunescope.metrics import Sp2PS
from prunescope.metrics.efficiency import time_interleaved
from prunescope.models import build_model
from prunescope.models.stand_ins import perturbed_copy, randomise_batch_norm

Batch = tuple[Tensor, Tensor]
MODELS = ("vgg16", "unet", "smp_unet")
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def classification_setup(batches: int, batch_size: int) -> tuple[nn.Module, list[Batch], int, str]:
    """VGG-16-BN at 1/4 width, CIFAR head, 32×32 inputs, 10 classes."""
    torch.manual_seed(0)
    net = randomise_batch_norm(build_model("vgg16", num_classes=10, width_mult=0.25), seed=0, bias=False)
    generator = torch.Generator().manual_seed(0)
    data = [
        (
            torch.randn(batch_size, 3, 32, 32, generator=generator),
            torch.randint(0, 10, (batch_size,), generator=generator),
        )
        for _ in range(batches)
    ]
    return net, data, 10, "VGG-16 w/4, 32x32"


def segmentation_setup(name: str, batches: int, batch_size: int) -> tuple[nn.Module, list[Batch], int, str]:
    """Digit scenes 96×128 with 2–4 digits (≥3 classes per image, background included), 11 classes."""
    datamodule = DigitScenesDataModule(
        batch_size=batch_size, image_size=(96, 128), num_test=batches * batch_size, min_digits=2, max_digits=4
    )
    datamodule.setup("test")
    data = list(datamodule.test_dataloader())[:batches]
    torch.manual_seed(0)
    if name == "unet":
        net = build_model("unet", num_classes=11, depth=4, base_channels=16)
        label = "U-Net (depth 4, 16 ch), 96x128"
    else:
        net, label = (
            build_model("smp_unet", num_classes=11, encoder_name="resnet18"),
            "smp Unet-resnet18, 96x128",
        )
    return randomise_batch_norm(net, seed=0, bias=False), data, 11, label


def fast_evaluation(
    baseline: nn.Module, pruned: nn.Module, data: Iterable[Batch], num_classes: int, method: str
) -> dict:
    metric = Sp2PS(num_classes=num_classes)
    for images, labels in data:
        pairs = cam_pairs(baseline, pruned, images, labels, method=method)
        metric.update(pairs.h0, pairs.h1, pairs.class_ids)
    return metric.compute()


def floor_evaluation(baseline: nn.Module, pruned: nn.Module, data: Iterable[Batch]) -> None:
    with torch.no_grad():
        for images, _ in data:
            baseline(images)
            pruned(images)


def library_evaluation(
    baseline: nn.Module, pruned: nn.Module, data: list[Batch], groups: list, num_classes: int, method: str
) -> dict:
    metric = Sp2PS(num_classes=num_classes)
    for (images, _), batch_groups in zip(data, groups, strict=True):
        h0 = library_cams(baseline, images, batch_groups, method=method)
        h1 = library_cams(pruned, images, batch_groups, method=method)
        metric.update(h0, h1, torch.cat([group.class_ids for group in batch_groups]))
    return metric.compute()


def sp2ps_cost(
    models: Iterable[str] = ("vgg16", "unet"),
    method: str = "gradcam",
    batches: int = 1,
    batch_size: int = 4,
    classification_batch_size: int = 64,
    warmup: int = 1,
    repeats: int = 20,
    clock: str = "wall",
) -> list[dict[str, Any]]:
    """One row per model: median seconds per test sample of (a), (b), (c) over interleaved repeats, and ratios.

    Row keys: ``model``, ``layer``, ``samples``, ``pairs``, ``skipped``, ``fast_ms``, ``floor_ms``,
    ``library_ms`` (per sample), ``fast_over_floor`` (goal <= 1.3), ``library_over_fast`` (goal >= 2) and
    ``sp2ps_difference`` (|Sp2PS of (a) - Sp2PS of (c)|).

    Raises:
        ValueError: Unknown model or clock.
    """
    models = list(models)
    unknown = sorted(set(models) - set(MODELS))
    if unknown or clock not in CLOCKS:
        raise ValueError(f"sp2ps models must be among {list(MODELS)} and clock in {list(CLOCKS)}")
    rows = []
    for name in models:
        if name == "vgg16":
            baseline, data, num_classes, label = classification_setup(batches, classification_batch_size)
        else:
            baseline, data, num_classes, label = segmentation_setup(name, batches, batch_size)
        pruned = perturbed_copy(baseline, scale=0.1)
        with torch.no_grad():
            groups = [target_groups(baseline.task, labels, baseline(images)) for images, labels in data]
        fast = fast_evaluation(baseline, pruned, data, num_classes, method)
        library = library_evaluation(baseline, pruned, data, groups, num_classes, method)
        runs = {
            "fast": lambda b=baseline, p=pruned, d=data, n=num_classes: fast_evaluation(b, p, d, n, method),
            "floor": lambda b=baseline, p=pruned, d=data: floor_evaluation(b, p, d),
            "library": lambda b=baseline, p=pruned, d=data, g=groups, n=num_classes: library_evaluation(
                b, p, d, g, n, method
            ),
        }
        times = time_interleaved(runs, warmup=warmup, repeats=repeats, clock=CLOCKS[clock])
        samples = sum(len(images) for images, _ in data)
        per_sample = {key: 1e3 * statistics.median(seconds) / samples for key, seconds in times.items()}
        rows.append(
            {
                "model": label,
                "layer": baseline.cam_target_layer,
                "samples": samples,
                "pairs": int(fast["pairs"]),
                "skipped": int(fast["skipped"]),
                "fast_ms": per_sample["fast"],
                "floor_ms": per_sample["floor"],
                "library_ms": per_sample["library"],
                "fast_over_floor": per_sample["fast"] / per_sample["floor"],
                "library_over_fast": per_sample["library"] / per_sample["fast"],
                "sp2ps_difference": abs(float(fast["sp2ps"]) - float(library["sp2ps"])),
            }
        )
    return rows
