"""smp ``DeepLabV3Plus`` (random init) that accepts any input H×W.

DeepLabV3Plus, resnet18 encoder, output stride 16, decoder 256; input (1, 3, 64, 64):
    ASPP (1, 256, 4, 4) → ×4 up (1, 256, 16, 16) ⊕ 1/4 projection (1, 48, 16, 16)
    decoder.block2 (1, 256, 16, 16) → head ×4 up → output (1, num_classes, 64, 64)
"""

from collections.abc import Sequence

import segmentation_models_pytorch as smp

from prunescope.models.registry import register_model
from prunescope.models.smp_padding import PaddedSmpModel


@register_model("deeplabv3plus")
class DeepLabV3Plus(PaddedSmpModel):
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
