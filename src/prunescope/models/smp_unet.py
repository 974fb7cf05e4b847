"""smp ``Unet`` (random init) that accepts any input H×W.

SmpUnet, vgg16_bn encoder, depth 5, decoder (256, 128, 64, 32, 16); input (1, 3, 64, 64):
    encoder features [(1, 64, 64, 64), (1, 128, 32, 32), (1, 256, 16, 16), (1, 512, 8, 8),
                      (1, 512, 4, 4), (1, 512, 2, 2)]   (smp's decoder never uses the first one)
    decoder blocks   [(1, 256, 4, 4), (1, 128, 8, 8), (1, 64, 16, 16), (1, 32, 32, 32), (1, 16, 64, 64)]
    output           (1, num_classes, 64, 64)
"""

from collections.abc import Sequence

import segmentation_models_pytorch as smp

from prunescope.models.registry import register_model
from prunescope.models.smp_padding import PaddedSmpModel, drop_unused_encoder_layers


@register_model("smp_unet")
class SmpUnet(PaddedSmpModel):
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
        drop_unused_encoder_layers(self.model.encoder, encoder_depth)
        self.cam_target_layer = f"model.decoder.blocks.{encoder_depth - 1}"
