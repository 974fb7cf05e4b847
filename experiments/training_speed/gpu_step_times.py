"""Training-step times of the paper-scale networks on a CUDA device: fp32 (cuDNN's default TF32 convolutions) against
bf16 autocast, NCHW and channels-last, synthetic inputs at each paper-scale study's size (a plain PyTorch loop:
forward, cross-entropy, backward, SGD step). Writes ``$OUT/gpu_step_times.json``; the rule of
``trainer.precision=auto`` on CUDA is read from it (README, "Training speed").
Usage: ``python experiments/training_speed/gpu_step_times.py [STEPS]``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

from prunescope.metrics.efficiency import count_macs
from prunescope.models import VGG16, DeepLabV3Plus, SegNet, UNet

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: a dry run of the script only
STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
WARMUP = 5 if STEPS > 1 else 0
SETUPS = {  # name -> (network, batch, input (C, H, W)) at the paper-scale study sizes (conf/experiment/*.yaml)
    "vgg16_b128": (lambda: VGG16(num_classes=10, width_mult=1.0, head="cifar_fc"), 128, (3, 32, 32)),
    "vgg16_b512": (lambda: VGG16(num_classes=10, width_mult=1.0, head="cifar_fc"), 512, (3, 32, 32)),
    "segnet_b8": (lambda: SegNet(num_classes=11, width_mult=1.0), 8, (3, 180, 240)),
    "unet_b8": (lambda: UNet(num_classes=11, depth=5, base_channels=64), 8, (3, 180, 240)),
    "deeplabv3plus_b8": (lambda: DeepLabV3Plus(num_classes=11), 8, (3, 180, 240)),
}


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def step_ms(net: nn.Module, x: torch.Tensor, y: torch.Tensor, bf16: bool) -> float:
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        with torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(WARMUP):
        step()
    sync()
    began = time.perf_counter()
    for _ in range(STEPS):
        step()
    sync()
    return 1000 * (time.perf_counter() - began) / STEPS


def main() -> None:
    torch.backends.cudnn.benchmark = True
    rows = []
    for name, (make, batch, shape) in SETUPS.items():
        net = make().to(DEVICE).eval()
        gmacs = count_macs(net, torch.zeros(1, *shape, device=DEVICE)) * batch / 1e9
        net.train()
        x = torch.randn(batch, *shape, device=DEVICE)
        y = torch.randint(0, 10, (batch,) if name.startswith("vgg") else (batch, *shape[1:]), device=DEVICE)
        row = {"setup": name, "batch": batch, "step_gmacs": round(gmacs, 2)}
        for layout in ("nchw", "cl"):
            fmt = torch.channels_last if layout == "cl" else torch.contiguous_format
            net, xl = net.to(memory_format=fmt), x.contiguous(memory_format=fmt)
            for precision in ("fp32", "bf16"):
                row[f"{precision}_{layout}_ms"] = round(step_ms(net, xl, y, precision == "bf16"), 2)
        print(row, flush=True)
        rows.append(row)
    out = Path(os.environ.get("OUT", "outputs"))
    (out / "gpu_step_times.json").write_text(
        json.dumps(
            {
                "device": torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu",
                "steps": STEPS,
                "torch": torch.__version__,
                "rows": rows,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
