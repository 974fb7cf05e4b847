"""Small real networks and batches for the CAM tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from prunescope.models import build_model
from prunescope.models.stand_ins import perturbed_copy, randomise_batch_norm


@pytest.fixture(name="perturbed_copy")
def perturbed_copy_fixture() -> Callable[..., nn.Module]:
    """``perturbed_copy(net, scale, seed)`` for the tests."""
    return perturbed_copy


@pytest.fixture(scope="module")
def seg_net() -> nn.Module:
    """smp Unet with a ResNet-18 encoder, 3 stages, 4 classes (random init)."""
    torch.manual_seed(0)
    net = build_model(
        "smp_unet", num_classes=4, encoder_name="resnet18", encoder_depth=3, decoder_channels=(16, 8, 8)
    )
    return randomise_batch_norm(net, seed=0)


@pytest.fixture(scope="module")
def cls_net() -> nn.Module:
    """VGG-16-BN at 1/16 width, 10 classes, CIFAR head (random init)."""
    torch.manual_seed(0)
    return randomise_batch_norm(build_model("vgg16", num_classes=10, width_mult=0.0625), seed=1)


@pytest.fixture(scope="module")
def seg_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """3 images 32×48 whose masks hold 2–4 of 4 classes each, with ignore pixels (255)."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(3, 3, 32, 48, generator=generator)
    labels = torch.zeros(3, 32, 48, dtype=torch.long)
    labels[0, :16, :24], labels[0, 16:, 24:], labels[0, :4, :4] = 1, 2, 255
    labels[1, 8:24, 8:40], labels[1, :, 44:] = 3, 1
    labels[2] = 2
    labels[2, 10:20, 10:20], labels[2, 0, :] = 3, 255
    return images, labels
