"""Base of the segmentation-models-pytorch networks: random init, zero-padded so any input H×W works.

smp models need H and W divisible by the encoder's output stride; these wrappers zero-pad the bottom/right
(zero = the mean colour of normalised images; constant padding keeps ``torch.use_deterministic_algorithms``
usable, reflect padding would not on CUDA) and crop the logits back to H×W.
"""

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from torch import nn


class PaddedSmpModel(nn.Module):
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


def drop_unused_encoder_layers(encoder: nn.Module, depth: int) -> None:
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
