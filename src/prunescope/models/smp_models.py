"""Segmentation networks from segmentation-models-pytorch (random init), padded so any input H×W works.

smp models need H and W divisible by the encoder's output stride; these wrappers zero-pad the bottom/right
(zero = the mean colour of normalised images; constant padding keeps ``torch.use_deterministic_algorithms``
usable, reflect padding would not on CUDA) and crop the logits back to H×W.

    SmpUnet, vgg16_bn encoder, depth 5, decoder (256, 128, 64, 32, 16); input (1, 3, 64, 64):
        encoder features [(1, 64, 64, 64), (1, 128, 32, 32), (1, 256, 16, 16), (1, 512, 8, 8),
                          (1, 512, 4, 4), (1, 512, 2, 2)]   (smp's decoder never uses the first one)
        decoder blocks   [(1, 256, 4, 4), (1, 128, 8, 8), (1, 64, 16, 16), (1, 32, 32, 32), (1, 16, 64, 64)]
        output           (1, num_classes, 64, 64)
    DeepLabV3Plus, resnet18 encoder, output stride 16, decoder 256; input (1, 3, 64, 64):
        ASPP (1, 256, 4, 4) → ×4 up (1, 256, 16, 16) ⊕ 1/4 projection (1, 48, 16, 16)
        decoder.block2 (1, 256, 16, 16) → head ×4 up → output (1, num_classes, 64, 64)
"""

from collections.abc import Sequence

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from torch import nn


class _PaddedSmpModel(nn.Module):
    """Base: ``self.model`` is an smp model; forward pads to its encoder's output stride and crops back."""

    task = "segmentation"
    output_layer_names: tuple[str, ...] = ("model.segmentation_head.0",)
    model: smp.base.SegmentationModel

    @property
    def input_multiple(self) -> int:
        """Input H and W are zero-padded up to a multiple of this (the encoder's output stride)."""
        return int(self.model.encoder.output_stride)

    def channel_ties(self) -> list[tuple[str, str]]:
        """No hidden channel couplings: Torch-Pruning traces every smp dependency."""
        return []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) → logits (B, num_classes, H, W), any H, W."""
        height, width = x.shape[-2:]
        multiple = self.input_multiple
        pad_h = -height % multiple
        pad_w = -width % multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        logits = self.model(x)
        return logits[..., :height, :width]


class SmpUnet(_PaddedSmpModel):
    """smp ``Unet`` (random init, default encoder ``vgg16_bn``) that accepts any input H×W.

    Defaults are smp's own (encoder depth 5, decoder channels (256, 128, 64, 32, 16)); the encoder width is
    fixed by ``encoder_name``, so small test models shrink ``decoder_channels`` / ``encoder_depth`` instead.
    Inputs are padded to a multiple of ``2**encoder_depth`` (at most 32).

    ``cam_target_layer`` is ``"model.decoder.blocks.<encoder_depth-1>"``: the last decoder block (post-ReLU
    output, full resolution), which feeds the 3×3 segmentation-head conv directly.

    Args:
        num_classes: Number of output classes.
        in_channels: Number of input channels.
        encoder_name: smp encoder name (e.g. ``"vgg16_bn"``, ``"resnet18"``).
        encoder_depth: Number of encoder stages used, 1–5.
        decoder_channels: Output channels of each decoder block; length must equal ``encoder_depth``.
        encoder_weights: smp pretrained-weight name; ``None`` (default) = random init, nothing downloaded.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        encoder_name: str = "vgg16_bn",
        encoder_depth: int = 5,
        decoder_channels: Sequence[int] = (256, 128, 64, 32, 16),
        encoder_weights: str | None = None,
    ) -> None:
        super().__init__()
        decoder_channels = tuple(int(c) for c in decoder_channels)
        if len(decoder_channels) != encoder_depth:
            raise ValueError(
                f"SmpUnet: decoder_channels needs encoder_depth={encoder_depth} entries, got {decoder_channels}"
            )
        self.model = smp.Unet(
            encoder_name=encoder_name,
            encoder_weights=encoder_weights,
            encoder_depth=encoder_depth,
            decoder_channels=decoder_channels,
            in_channels=in_channels,
            classes=num_classes,
        )
        _drop_unused_encoder_layers(self.model.encoder, encoder_depth)
        self.cam_target_layer = f"model.decoder.blocks.{encoder_depth - 1}"


class DeepLabV3Plus(_PaddedSmpModel):
    """smp ``DeepLabV3Plus`` (random init, default encoder ``resnet18``) that accepts any input H×W.

    Defaults are smp's (output stride 16, 256 decoder channels, atrous rates (12, 24, 36)); inputs are padded
    to a multiple of the output stride.

    ``cam_target_layer`` is ``"model.decoder.block2"``: the decoder's last separable conv + BN + ReLU (1/4
    resolution), which feeds the 1×1 segmentation-head conv directly.

    Args:
        num_classes: Number of output classes.
        in_channels: Number of input channels.
        encoder_name: smp encoder name (e.g. ``"resnet18"``, ``"resnet50"``).
        encoder_output_stride: Encoder output stride, 8 or 16.
        decoder_channels: Channels of the ASPP module and decoder.
        decoder_atrous_rates: Dilation rates of the three ASPP branches.
        encoder_weights: smp pretrained-weight name; ``None`` (default) = random init, nothing downloaded.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        encoder_name: str = "resnet18",
        encoder_output_stride: int = 16,
        decoder_channels: int = 256,
        decoder_atrous_rates: Sequence[int] = (12, 24, 36),
        encoder_weights: str | None = None,
    ) -> None:
        super().__init__()
        if encoder_output_stride not in (8, 16):
            raise ValueError(
                f"DeepLabV3Plus: encoder_output_stride must be 8 or 16, got {encoder_output_stride}"
            )
        self.model = smp.DeepLabV3Plus(
            encoder_name=encoder_name,
            encoder_weights=encoder_weights,
            encoder_output_stride=encoder_output_stride,
            decoder_channels=decoder_channels,
            decoder_atrous_rates=tuple(int(r) for r in decoder_atrous_rates),
            in_channels=in_channels,
            classes=num_classes,
        )
        self.cam_target_layer = "model.decoder.block2"


def _drop_unused_encoder_layers(encoder: nn.Module, depth: int) -> None:
    """Delete the stages an smp VGG / ResNet encoder never runs at ``depth`` < 5 (smp keeps them).

    Unused layers would count in parameter totals but never be pruned or trained. VGG encoders keep
    ``features`` up to their ``depth``-th output; ResNet encoders lose ``layer<k>`` for ``k >= depth``.
    Other encoder families are left as they are.
    """
    out_indexes = getattr(encoder, "_out_indexes", None)
    if isinstance(getattr(encoder, "features", None), nn.Sequential) and out_indexes is not None:
        encoder.features = encoder.features[: out_indexes[depth] + 1]
        return
    for k in range(depth, 5):
        if isinstance(getattr(encoder, f"layer{k}", None), nn.Module):
            delattr(encoder, f"layer{k}")
