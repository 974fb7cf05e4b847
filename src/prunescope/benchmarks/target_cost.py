"""Cost of a matched-cost target: ``prune(target="params")`` against ``prune(target="channels")``.

For each model and criterion, CPU seconds of one ``prune`` call with ``target="channels"`` at the channel ratio
the params target found, and with ``target="params"`` (criterion prepared once, then a bisection of selections
counted exactly by ``PlanCost``), plus the achieved drop and the number of selections probed. Random inputs and
random initialisation (BN statistics of the calibration images): costs do not depend on the weights' values.

    python experiments/benchmarks/target_cost.py [--models segnet deeplabv3plus vgg16] [--size 96 128]
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

from prunescope.models import build_model
from prunescope.pruning import prune

SETUPS = {
    "segnet": dict(num_classes=11),
    "deeplabv3plus": dict(num_classes=11),
    "unet": dict(num_classes=11, depth=5, base_channels=64),
    "vgg16": dict(num_classes=10),
}


def calibrated(name: str, images: torch.Tensor) -> torch.nn.Module:
    """Full-width ``name`` with BN running statistics of ``images``."""
    torch.manual_seed(0)
    net = build_model(name, **SETUPS[name])
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    with torch.no_grad():
        net.train()(images)
    return net.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["segnet", "deeplabv3plus", "vgg16"], choices=SETUPS)
    parser.add_argument("--methods", nargs="+", default=["l1", "fpgm", "pca_nci", "isd"])
    parser.add_argument("--size", nargs=2, type=int, default=[96, 128], help="segmentation input H W")
    parser.add_argument("--fraction", type=float, default=0.5, help="parameter fraction removed")
    parser.add_argument("--batches", type=int, default=2, help="calibration batches of 8 images")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| model | method | channels s | params s | probes | channel ratio | params drop |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in args.models:
        size = (32, 32) if name == "vgg16" else tuple(args.size)
        generator = torch.Generator().manual_seed(0)
        calibration = [(torch.randn(8, 3, *size, generator=generator), None) for _ in range(args.batches)]
        template = calibrated(name, calibration[0][0])
        example = calibration[0][0][:1]
        for method in args.methods:
            kwargs = dict(method=method, calibration=calibration, calibration_batches=args.batches)
            start = time.process_time()
            try:
                matched = prune(
                    copy.deepcopy(template), example, ratio=args.fraction, target="params", **kwargs
                )
            except ValueError as error:  # e.g. pca_nci with fewer calibration images than channels
                print(f"| {name} | {method} | | | | | {error} |")
                continue
            params_seconds = time.process_time() - start
            ratio = matched.details["channel_ratio"]
            start = time.process_time()
            prune(copy.deepcopy(template), example, ratio=ratio, **kwargs)
            channels_seconds = time.process_time() - start
            achieved = 1 - matched.params_after / matched.params_before
            print(
                f"| {name} | {method} | {channels_seconds:.2f} | {params_seconds:.2f} | "
                f"{matched.details['target_probes']} | {ratio:.4f} | {100 * achieved:.2f}% |"
            )


if __name__ == "__main__":
    main()
