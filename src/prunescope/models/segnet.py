"""SegNet (Badrinarayanan et al., 2017): VGG-16-BN encoder, mirrored decoder that max-unpools with the indices.

Stage ``s`` (1–5) has 2, 2, 3, 3, 3 convs of 64, 128, 256, 512, 512 channels (× ``width_mult``). The decoder
mirrors it: ``dec<s>`` first unpools with stage ``s``'s pooling indices, then runs its convs; ``head`` maps
64·w channels to the classes.

    Input: ``x`` with shape (1, 3, 64, 64), ``width_mult=1``
    Encoder stages (after pooling): [(1, 64, 32, 32), (1, 128, 16, 16), (1, 256, 8, 8), (1, 512, 4, 4),
                                     (1, 512, 2, 2)]
    Decoder stages dec5…dec1: [(1, 512, 4, 4), (1, 256, 8, 8), (1, 128, 16, 16), (1, 64, 32, 32),
                               (1, 64, 64, 64)]
    Output: logits (1, num_classes, 64, 64)
"""

from collections import OrderedDict

import torch
from torch import nn

from prunescope.models.registry import register_model

# Channel widths (before width_mult) of each stage's convs, encoder side; the decoder mirrors them.
_ENCODER_STAGES: tuple[tuple[int, ...], ...] = (
    (64, 64),
    (128, 128),
    (256, 256, 256),
    (512, 512, 512),
    (512, 512, 512),
)


class ConvBNReLU(nn.Sequential):
    """3×3 conv → BN → ReLU; (B, C_in, H, W) → (B, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            OrderedDict(
                conv=nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                bn=nn.BatchNorm2d(out_channels),
                relu=nn.ReLU(),
            )
        )


def max_unpool2d(x: torch.Tensor, indices: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
    """Place ``x`` at the flat positions ``indices`` of a zero (B, C, H, W) map; same result as ``F.max_unpool2d``.

    ``out[b, c].flatten()[indices[b, c, i]] = x[b, c].flatten()[i]``. Written with ``scatter`` because
    ``F.max_unpool2d`` has no deterministic implementation (it raises under ``torch.use_deterministic_algorithms``
    even on CPU); indices from non-overlapping 2×2 pooling are unique, so the scatter is exact.

    Args:
        x: Pooled values (B, C, h, w).
        indices: Flat argmax positions from ``max_pool2d(..., return_indices=True)``, same shape as ``x``.
        output_size: (H, W) of the map that was pooled.
    """
    if x.shape != indices.shape:
        raise ValueError(f"max_unpool2d: values {tuple(x.shape)} and indices {tuple(indices.shape)} differ")
    batch, channels = x.shape[:2]
    height, width = output_size
    out = x.new_zeros(batch, channels, height * width)
    out = out.scatter(2, indices.flatten(2), x.flatten(2))
    return out.view(batch, channels, height, width)


@register_model("segnet")
class SegNet(nn.Module):
    """SegNet with a VGG-16-BN encoder (13 convs, 5 index-returning max-pools) and a mirrored 13-conv decoder.

    Encoder stages ``enc1``…``enc5`` (2, 2, 3, 3, 3 ConvBNReLU); decoder stages ``dec5``…``dec1`` (3, 3, 3, 2, 1
    ConvBNReLU, the last conv of ``dec<s>`` narrows to stage ``s-1``'s width) and ``head`` (3×3 conv to
    ``num_classes``, never pruned). Unpooling uses ``output_size``, so any input H×W works (e.g. 97×131).

    ``cam_target_layer`` is ``"dec1"``: the last decoder stage (post-ReLU output at full resolution), which feeds
    the head directly.

    Args:
        num_classes: Number of output classes.
        in_channels: Number of input channels.
        width_mult: Multiplier for every channel width (e.g. 0.125 for small test models).
    """

    task = "segmentation"
    output_layer_names: tuple[str, ...] = ("head",)
    cam_target_layer = "dec1"

    def __init__(self, num_classes: int, in_channels: int = 3, width_mult: float = 1.0) -> None:
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"SegNet width_mult must be > 0, got {width_mult}")
        stages = [[max(1, round(c * width_mult)) for c in stage] for stage in _ENCODER_STAGES]

        previous = in_channels
        for s, widths in enumerate(stages, start=1):
            blocks = []
            for width in widths:
                blocks.append(ConvBNReLU(previous, width))
                previous = width
            self.add_module(f"enc{s}", nn.Sequential(*blocks))

        # dec<s> mirrors enc<s>: all convs keep stage s's width except the last, which narrows to stage s-1's.
        # dec1 has one conv; with the head it mirrors enc1's two (SegNet's conv1_2_D, conv1_1_D).
        for s in range(5, 0, -1):
            widths = stages[s - 1]
            out_width = stages[s - 2][-1] if s > 1 else widths[-1]
            n_convs = len(widths) if s > 1 else 1
            blocks = []
            for i in range(n_convs):
                blocks.append(ConvBNReLU(widths[-1], out_width if i == n_convs - 1 else widths[-1]))
            self.add_module(f"dec{s}", nn.Sequential(*blocks))

        self.head = nn.Conv2d(stages[0][-1], num_classes, 3, padding=1)
        self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)

    def encoder_stages(self) -> list[nn.Sequential]:
        """Encoder stages ``enc1``…``enc5`` in forward order."""
        return [getattr(self, f"enc{s}") for s in range(1, 6)]

    def decoder_stages(self) -> list[nn.Sequential]:
        """Decoder stages ``dec5``…``dec1`` in forward order (``dec<s>`` unpools with stage ``s``'s indices)."""
        return [getattr(self, f"dec{s}") for s in range(5, 0, -1)]

    def channel_ties(self) -> list[tuple[str, str]]:
        """Pairs (``enc<s>`` last conv, ``dec<s+1>`` last conv) for stages s = 1…4.

        ``dec<s+1>``'s output is unpooled with stage ``s``'s indices, so channel ``c`` of both must be the same
        filter after pruning. Stage 5 needs no tie: ``dec5`` unpools the encoder's own pooled output.
        """
        ties = []
        for s in range(1, 5):
            enc_last = len(getattr(self, f"enc{s}")) - 1
            dec_last = len(getattr(self, f"dec{s + 1}")) - 1
            ties.append((f"enc{s}.{enc_last}.conv", f"dec{s + 1}.{dec_last}.conv"))
        return ties

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) → logits (B, num_classes, H, W)."""
        pooled: list[tuple[torch.Tensor, tuple[int, int]]] = []
        for stage in self.encoder_stages():
            x = stage(x)
            size = (x.shape[-2], x.shape[-1])
            x, indices = self.pool(x)
            pooled.append((indices, size))
        for stage in self.decoder_stages():
            indices, size = pooled.pop()
            x = stage(max_unpool2d(x, indices, size))
        return self.head(x)
