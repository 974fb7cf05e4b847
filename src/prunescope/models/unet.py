"""Classic U-Net (Ronneberger et al., 2015) with BatchNorm, built for channel and layer (level) pruning.

Level ``l`` (0 = full resolution) has ``base_channels * 2**l`` channels; the deepest level is the bottleneck.

    Input: ``x`` with shape (1, 3, 64, 64), ``depth=4``, ``base_channels=16``
    Down path (``down_blocks[l]``): [(1, 16, 64, 64), (1, 32, 32, 32), (1, 64, 16, 16), (1, 128, 8, 8)]
    Up path (``up_blocks[l]``, applied l = 2, 1, 0): [(1, 64, 16, 16), (1, 32, 32, 32), (1, 16, 64, 64)]
    Output: logits (1, num_classes, 64, 64)
"""

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from prunescope.models.registry import register_model


class DoubleConv(nn.Sequential):
    """(3×3 conv → BN → ReLU) twice; keeps H×W: (B, C_in, H, W) → (B, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            OrderedDict(
                conv1=nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                bn1=nn.BatchNorm2d(out_channels),
                relu1=nn.ReLU(),
                conv2=nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
                bn2=nn.BatchNorm2d(out_channels),
                relu2=nn.ReLU(),
            )
        )


class UpBlock(nn.Module):
    """Upsample level ``l+1`` ×2, concatenate the level-``l`` skip, DoubleConv to level-``l`` channels.

    ``up`` is a 2×2 stride-2 transposed conv (C_in → C_out), or bilinear ×2 upsampling followed by a 1×1 conv
    (C_in → C_out) when ``bilinear``. The upsampled map is zero-padded on the bottom/right to the skip's size
    (max-pooling floors odd sizes), then ``conv = DoubleConv(2·C_out, C_out)``.
    """

    def __init__(self, in_channels: int, out_channels: int, bilinear: bool = False) -> None:
        super().__init__()
        if bilinear:
            self.up: nn.Module = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, out_channels, 1),
            )
        else:
            self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        self.conv = DoubleConv(2 * out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """(B, C_in, h, w), skip (B, C_out, H, W) with H ∈ {2h, 2h+1} → (B, C_out, H, W)."""
        x = self.up(x)
        pad_h = skip.shape[-2] - x.shape[-2]
        pad_w = skip.shape[-1] - x.shape[-1]
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        return self.conv(torch.cat([skip, x], dim=1))


@register_model("unet")
class UNet(nn.Module):
    """U-Net: ``depth`` levels of DoubleConv with max-pool down, transposed-conv (or bilinear) up, skip concat.

    Layout for layer pruning: ``down_blocks`` (``depth`` DoubleConvs, the last is the bottleneck),
    ``up_blocks`` (``depth - 1`` UpBlocks, ``up_blocks[l]`` upsamples level ``l+1`` into level ``l``), ``head``
    (1×1 conv to ``num_classes``, never pruned). Any input H×W works; logits are exactly H×W.

    ``cam_target_layer`` is ``"up_blocks.0.conv"``: the last decoder DoubleConv (its post-ReLU output feeds the
    head), so a CAM backward only runs through the head; with a single level left it is ``"down_blocks.0"``.

    Args:
        num_classes: Number of output classes.
        in_channels: Number of input channels.
        depth: Number of levels (≥ 1) including the bottleneck.
        base_channels: Channels of level 0; level ``l`` has ``base_channels * 2**l``.
        bilinear: Upsample with bilinear interpolation + 1×1 conv instead of a transposed conv.
    """

    task = "segmentation"
    output_layer_names: tuple[str, ...] = ("head",)

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        depth: int = 5,
        base_channels: int = 8,
        bilinear: bool = False,
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"UNet depth must be >= 1, got {depth}")
        if base_channels < 1:
            raise ValueError(f"UNet base_channels must be >= 1, got {base_channels}")
        widths = [base_channels * 2**level for level in range(depth)]
        self.pool = nn.MaxPool2d(2)
        self.down_blocks = nn.ModuleList(
            DoubleConv(in_channels if level == 0 else widths[level - 1], widths[level])
            for level in range(depth)
        )
        self.up_blocks = nn.ModuleList(
            UpBlock(widths[level + 1], widths[level], bilinear=bilinear) for level in range(depth - 1)
        )
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    @property
    def depth(self) -> int:
        """Number of levels currently in the network (read from ``down_blocks``)."""
        return len(self.down_blocks)

    @property
    def cam_target_layer(self) -> str:
        """Last decoder DoubleConv (``up_blocks.0.conv``), or ``down_blocks.0`` when only one level is left."""
        return "up_blocks.0.conv" if len(self.up_blocks) > 0 else "down_blocks.0"

    def channel_ties(self) -> list[tuple[str, str]]:
        """No hidden channel couplings: Torch-Pruning traces every U-Net dependency."""
        return []

    def remove_deepest_levels(self, k: int) -> None:
        """Delete the ``k`` deepest levels (down blocks and their up blocks), keeping all other weights.

        The new bottleneck ``down_blocks[d-1-k]`` feeds ``up_blocks[d-2-k]``, which already expects its channel
        count; remaining module names (and state-dict keys) are unchanged.

        Args:
            k: Number of levels to remove, ``0 <= k <= depth - 1``.

        Raises:
            ValueError: If ``k`` is negative or would leave fewer than 1 level, or if channel pruning already
                made the new bottleneck's width differ from what the next up block expects.
        """
        depth = self.depth
        if not 0 <= k <= depth - 1:
            raise ValueError(
                f"remove_deepest_levels: k must be in [0, {depth - 1}] for depth {depth}, got {k}"
            )
        if k == 0:
            return
        new_depth = depth - k
        if new_depth > 1:
            bottleneck_out = self.down_blocks[new_depth - 1].conv2.out_channels
            up_in = _up_in_channels(self.up_blocks[new_depth - 2])
            if bottleneck_out != up_in:
                raise ValueError(
                    f"remove_deepest_levels: new bottleneck down_blocks.{new_depth - 1} has {bottleneck_out} "
                    f"channels but up_blocks.{new_depth - 2} expects {up_in}; remove levels before channel pruning"
                )
        del self.down_blocks[new_depth:]
        del self.up_blocks[new_depth - 1 :]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) → logits (B, num_classes, H, W)."""
        skips: list[torch.Tensor] = []
        for level, block in enumerate(self.down_blocks):
            if level > 0:
                x = self.pool(x)
            x = block(x)
            skips.append(x)
        x = skips.pop()
        for level in range(len(self.up_blocks) - 1, -1, -1):
            x = self.up_blocks[level](x, skips.pop())
        return self.head(x)


def _up_in_channels(block: UpBlock) -> int:
    """Input channels of an UpBlock's upsampling layer (transposed conv or bilinear + 1×1 conv)."""
    up = block.up
    conv = up if isinstance(up, nn.ConvTranspose2d) else up[1]
    return conv.in_channels
