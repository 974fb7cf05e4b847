"""VGG-16-BN classifier (Simonyan & Zisserman, 2015) with a CIFAR (32×32) or ImageNet (224×224) head.

``features`` is torchvision's layout: 13 × (3×3 conv, BN, ReLU) with a 2×2 max-pool after convs 2, 4, 7, 10, 13
(channels 64, 128, 256, 512, 512 × ``width_mult``; 44 modules, the last ReLU is ``features.42``).

    Input: ``x`` with shape (1, 3, 64, 64), ``width_mult=1``
    Features after each pool: [(1, 64, 32, 32), (1, 128, 16, 16), (1, 256, 8, 8), (1, 512, 4, 4), (1, 512, 2, 2)]
    CIFAR head: spatial mean (1, 512) → Linear → (1, num_classes)   (on 32×32 inputs the map is already 1×1)
    CIFAR FC head: spatial mean (1, 512) → Linear, BN, ReLU, Dropout (1, 512) → Linear → (1, num_classes)
    ImageNet head: 7×7 average pool (1, 512, 7, 7) → flatten (1, 25088) → 4096 → 4096 → (1, num_classes)
"""

from typing import Literal

import torch
from torch import nn

from prunescope.models.registry import register_model

# torchvision's configuration "D": conv widths, "M" = 2×2 max-pool.
_VGG16_LAYOUT: tuple[int | str, ...] = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    "M",
)
_HEADS = ("cifar", "cifar_fc", "imagenet")


@register_model("vgg16")
class VGG16(nn.Module):
    """VGG-16-BN: ``features`` (13 conv+BN+ReLU, 5 max-pools) and ``classifier`` (head-dependent).

    ``head="cifar"``: spatial mean of the last feature map (1×1 for 32×32 inputs) then
    ``classifier = Sequential(Linear(512·w, num_classes))``; output layer ``classifier.0``.
    ``head="cifar_fc"``: the CIFAR VGG-16 of the pruning literature, with one hidden fully connected layer: the
    same spatial mean, then ``Linear(512·w, 512·w)``, ``BatchNorm1d``, ReLU, ``Dropout(dropout)``,
    ``Linear(512·w, num_classes)``; output layer ``classifier.4``. The hidden Linear's 512·w output features are
    pruned like conv channels. At ``width_mult=1``, 10 classes, one 3×32×32 image:
    :func:`prunescope.metrics.efficiency.count_params` gives 14,991,946 parameters (≈ 15.0 M; BN included) and
    :func:`~prunescope.metrics.efficiency.count_macs` 313,463,808 multiply-accumulates (convs 313,196,544, Linears
    267,264; ``FlopCounterMode`` reports twice that, 626.9 M FLOPs). The ≈ 313-314 M "FLOPs" quoted for this
    network in the pruning literature (e.g. 3.13e8, Li et al., ICLR 2017) count one MAC as one FLOP.
    ``tests/models/test_models.py`` checks both numbers.
    ``head="imagenet"``: 7×7 adaptive average pooling (skipped when the map is already 7×7, e.g. 224×224
    inputs, since its CUDA backward is not deterministic),
    then ``Linear(512·w·49, 4096·w)``, ReLU, Dropout, ``Linear(4096·w, 4096·w)``, ReLU, Dropout,
    ``Linear(4096·w, num_classes)``; output layer ``classifier.6``.

    ``cam_target_layer``: with the ImageNet head ``"features.42"``, the ReLU after the 13th conv (before the last
    max-pool), the latest layer that still has a spatial map (14×14 for 224×224 inputs). With the CIFAR heads
    ``"features.32"``, the ReLU after the 10th conv (before the 4th max-pool): 4×4 on 32×32 inputs, where
    ``features.42`` is 2×2. The Sp2PS study (``experiments/sp2ps_vgg16_cifar10``) found the 2×2 maps of both
    models constant for 6–18 % of the test images (no score), against at most 2.3 % at 4×4.

    Args:
        num_classes: Number of output classes.
        in_channels: Number of input channels.
        head: ``"cifar"``, ``"cifar_fc"`` or ``"imagenet"``.
        width_mult: Multiplier for every conv and hidden Linear width (e.g. 0.125 for small test models).
        dropout: Probability of every ``Dropout`` in the head (0.5 in the literature; the module stays at 0, so
            layer names do not change).
    """

    task = "classification"

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        head: Literal["cifar", "cifar_fc", "imagenet"] = "cifar",
        width_mult: float = 1.0,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if head not in _HEADS:
            raise ValueError(f"VGG16 head must be one of {_HEADS}, got {head!r}")
        if width_mult <= 0:
            raise ValueError(f"VGG16 width_mult must be > 0, got {width_mult}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"VGG16 dropout must be in [0, 1), got {dropout}")
        self.head = head
        self.cam_target_layer = "features.42" if head == "imagenet" else "features.32"

        layers: list[nn.Module] = []
        previous = in_channels
        for item in _VGG16_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, stride=2))
                continue
            width = max(1, round(int(item) * width_mult))
            layers += [nn.Conv2d(previous, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
            previous = width
        self.features = nn.Sequential(*layers)

        if head == "cifar":
            self.classifier = nn.Sequential(nn.Linear(previous, num_classes))
            self.output_layer_names: tuple[str, ...] = ("classifier.0",)
        elif head == "cifar_fc":
            hidden = max(1, round(512 * width_mult))
            self.classifier = nn.Sequential(
                nn.Linear(previous, hidden),
                nn.BatchNorm1d(hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, num_classes),
            )
            self.output_layer_names = ("classifier.4",)
        else:
            hidden = max(1, round(4096 * width_mult))
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(previous * 7 * 7, hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, num_classes),
            )
            self.output_layer_names = ("classifier.6",)

    def channel_ties(self) -> list[tuple[str, str]]:
        """No hidden channel couplings: Torch-Pruning traces every VGG dependency."""
        return []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) → logits (B, num_classes); H, W ≥ 32."""
        x = self.features(x)
        if self.head in ("cifar", "cifar_fc"):
            x = x.mean(dim=(2, 3))
        else:
            if x.shape[-2:] != (7, 7):
                x = self.avgpool(x)
            x = torch.flatten(x, 1)
        return self.classifier(x)
