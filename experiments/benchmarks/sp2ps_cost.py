"""Cost of Sp2PS: the fast CAM engine against its floor and against pytorch-grad-cam's own call.

For each model, on the same batches, seconds per test sample of

- (a) ``fast``: the whole Sp2PS evaluation (``prunescope.cam.cam_pairs`` for baseline and pruned + ``Sp2PS``),
- (b) ``floor``: one no-grad forward of each of the two models,
- (c) ``library``: pytorch-grad-cam's own batched call (one per target group) for both models + the same scoring;
  its targets are built beforehand and not timed (favours (c)).

Goals: (a)/(b) ≤ 1.3 at the default target layers, (c)/(a) ≥ 2. The "pruned" model is a copy with perturbed
weights; the models are randomly initialised (BatchNorm statistics randomised), which leaves the costs unchanged.
Times are process CPU time by default (``--clock wall`` for wall time): on a shared machine CPU time is the
stable measure; use ``--threads`` for the intra-op threads.

    python experiments/benchmarks/sp2ps_cost.py [--models vgg16 unet smp_unet] [--batches 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

from prunescope.cam import cam_pairs, library_cams, target_groups
from prunescope.data.digit_scenes import DigitScenesDataModule
from prunescope.metrics import Sp2PS
from prunescope.models import build_model
from prunescope.models.stand_ins import perturbed_copy, randomise_batch_norm

Batch = tuple[Tensor, Tensor]


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


def measure(
    baseline: nn.Module,
    data: list[Batch],
    num_classes: int,
    args: argparse.Namespace,
    clock: Callable[[], float],
) -> tuple[int, dict, dict, float, float, float]:
    """Samples, fast and library results, and the best (a), (b), (c) seconds over interleaved repeats."""
    pruned = perturbed_copy(baseline, scale=0.1)
    with torch.no_grad():
        groups = [target_groups(baseline.task, labels, baseline(images)) for images, labels in data]
    runs = {
        "fast": lambda: fast_evaluation(baseline, pruned, data, num_classes, args.method),
        "floor": lambda: floor_evaluation(baseline, pruned, data),
        "library": lambda: library_evaluation(baseline, pruned, data, groups, num_classes, args.method),
    }
    results = {name: run() for name, run in runs.items()}  # warm-up
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(args.repeats):
        for name, run in runs.items():
            start = clock()
            run()
            best[name] = min(best[name], clock() - start)
    samples = sum(len(images) for images, _ in data)
    return samples, results["fast"], results["library"], best["fast"], best["floor"], best["library"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", nargs="+", default=["vgg16", "unet", "smp_unet"], choices=["vgg16", "unet", "smp_unet"]
    )
    parser.add_argument("--method", default="gradcam")
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    rows = []
    for name in args.models:
        if name == "vgg16":
            baseline, data, num_classes, label = classification_setup(args.batches, 4 * args.batch_size)
        else:
            baseline, data, num_classes, label = segmentation_setup(name, args.batches, args.batch_size)
        rows.append((label, baseline.cam_target_layer, *measure(baseline, data, num_classes, args, clock)))

    print(
        f"Sp2PS cost per test sample ({args.method}, {args.clock} time, {args.threads} thread(s), "
        f"best of {args.repeats} interleaved repeats)"
    )
    header = f"{'model':28} {'layer':24} {'n':>4} {'pairs':>6} {'skip':>5} {'(a) fast ms':>12} {'(b) floor ms':>13} {'(c) lib ms':>11} {'a/b':>6} {'c/a':>6} {'|dSp2PS|':>9}"
    print(header)
    print("-" * len(header))
    for label, layer, samples, result, reference, fast, floor, library in rows:
        print(
            f"{label:28} {layer:24} {samples:>4} {result['pairs']:>6} {result['skipped']:>5} "
            f"{1e3 * fast / samples:>12.2f} {1e3 * floor / samples:>13.2f} {1e3 * library / samples:>11.2f} "
            f"{fast / floor:>6.2f} {library / fast:>6.2f} {abs(result['sp2ps'] - reference['sp2ps']):>9.1e}"
        )


if __name__ == "__main__":
    main()
