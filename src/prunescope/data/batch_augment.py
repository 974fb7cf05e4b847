"""The training augmentations of the DataLoader path as operations on whole ``uint8`` batches, on the device that
holds them (``data.on_device``).

Each augmentation takes per-sample uniforms ``u`` in [0, 1) (``draws`` per sample) and turns them into the random
parameters that the matching torchvision v2 transform draws itself, with the same ranges and the same kernels:

- :class:`PadCropFlip` = ``cifar_train_transform`` before normalisation: ``RandomCrop(size, padding=4)`` (zero
  padding) then ``RandomHorizontalFlip(0.5)``.
- :class:`ScaleCropFlip` = ``build_train_transform`` after its fixed resize: ``ScaleJitter`` (bilinear + antialias
  for the image, nearest for the mask), ``RandomCrop(pad_if_needed=True)`` (image padded with 0, mask with the void
  label), ``RandomHorizontalFlip(0.5)`` applied jointly to image and mask.

An integer parameter on ``0..n`` is ``floor(u * (n + 1))``, as ``torch.randint(0, n + 1)`` draws it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as nnf
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as tvf


def _index(u: torch.Tensor, top: int) -> torch.Tensor:
    """``floor(u * (top + 1))`` as int64, an integer uniform on ``0..top`` for ``u`` uniform in [0, 1)."""
    return (u * (top + 1)).long().clamp_(0, top)


class PadCropFlip:
    """Zero-pad by ``padding``, crop back to the input size at a random offset, flip half the samples.

    Args:
        padding: pixels of zero padding on each side (CIFAR: 4).
        hflip: flip each sample horizontally with probability 0.5.
    """

    draws = 3
    """Uniforms per sample: row offset, column offset, flip."""

    def __init__(self, padding: int = 4, hflip: bool = True) -> None:
        self.padding = int(padding)
        self.hflip = bool(hflip)

    def __call__(
        self, images: torch.Tensor, targets: torch.Tensor, u: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Augmented ``images`` (uint8 ``(B, C, H, W)``, same size); ``targets`` unchanged; ``u`` ``(B, 3)``."""
        batch, channels, height, width = images.shape
        pad = self.padding
        u = u.to(images.device)
        padded = nnf.pad(images, (pad, pad, pad, pad))
        top, left = _index(u[:, 0], 2 * pad), _index(u[:, 1], 2 * pad)
        columns = torch.arange(width, device=images.device)
        flip = (u[:, 2] < 0.5) if self.hflip else torch.zeros(batch, dtype=torch.bool, device=images.device)
        columns = torch.where(flip[:, None], width - 1 - columns, columns)
        rows = top[:, None] + torch.arange(height, device=images.device)
        columns = left[:, None] + columns
        out = padded[
            torch.arange(batch, device=images.device)[:, None, None, None],
            torch.arange(channels, device=images.device)[None, :, None, None],
            rows[:, None, :, None],
            columns[:, None, None, :],
        ]
        return out, targets


class ScaleCropFlip:
    """Joint image + mask augmentation of a segmentation batch, as ``build_train_transform`` after its resize.

    Args:
        base_size: ``(H, W)`` the rescale is relative to and the crop size when ``crop_size`` is ``None``.
        crop_size: ``(H, W)`` random crop (padded where the rescaled sample is smaller), or ``None``.
        scale_range: ``(lo, hi)``: rescale by ``s ~ U(lo, hi)`` times ``min(W_b / W, H_b / H)``, or ``None``.
        hflip: flip image and mask together with probability 0.5.
        ignore_index: the void label that pads masks (images are padded with 0).
    """

    draws = 4
    """Uniforms per sample: scale, row offset, column offset, flip."""

    def __init__(
        self,
        base_size: tuple[int, int],
        crop_size: tuple[int, int] | None,
        scale_range: Sequence[float] | None,
        hflip: bool,
        ignore_index: int,
    ) -> None:
        self.base_size = base_size
        self.scale_range = None if scale_range is None else (float(scale_range[0]), float(scale_range[1]))
        self.out_size = (
            crop_size if crop_size is not None else (base_size if scale_range is not None else None)
        )
        self.hflip = bool(hflip)
        self.ignore_index = int(ignore_index)

    def __call__(
        self, images: torch.Tensor, masks: torch.Tensor, u: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Augmented ``images`` (uint8 ``(B, 3, H, W)``) and ``masks`` (uint8 ``(B, H, W)``); ``u`` ``(B, 4)``."""
        u = u.float().cpu()  # sizes and offsets are Python ints per sample
        pairs = [self._one(images[b], masks[b][None], u[b]) for b in range(images.shape[0])]
        out_images = torch.stack([image for image, _ in pairs])
        out_masks = torch.cat([mask for _, mask in pairs])
        if self.hflip:
            flip = (u[:, 3] < 0.5).to(images.device)
            out_images = torch.where(flip[:, None, None, None], out_images.flip(-1), out_images)
            out_masks = torch.where(flip[:, None, None], out_masks.flip(-1), out_masks)
        return out_images, out_masks

    def _one(
        self, image: torch.Tensor, mask: torch.Tensor, u: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.scale_range is not None:
            height, width = image.shape[-2:]
            lo, hi = self.scale_range
            scale = lo + u[0:1] * (hi - lo)  # float32, as ScaleJitter's lo + torch.rand(1) * (hi - lo)
            ratio = min(self.base_size[1] / width, self.base_size[0] / height) * scale
            size = [int(height * ratio), int(width * ratio)]
            image = tvf.resize_image(image, size, interpolation=InterpolationMode.BILINEAR, antialias=True)
            mask = tvf.resize_mask(mask, size)
        if self.out_size is None:
            return image, mask
        out_h, out_w = self.out_size
        height, width = image.shape[-2:]
        pad_h, pad_w = max(0, out_h - height), max(0, out_w - width)
        if pad_h or pad_w:  # RandomCrop(pad_if_needed=True) pads both sides by the shortfall
            padding = [pad_w, pad_h, pad_w, pad_h]
            image = tvf.pad_image(image, padding, fill=0)
            mask = tvf.pad_mask(mask, padding, fill=self.ignore_index)
            height, width = height + 2 * pad_h, width + 2 * pad_w
        top = int(_index(u[1], height - out_h))
        left = int(_index(u[2], width - out_w))
        return image[..., top : top + out_h, left : left + out_w], mask[
            ..., top : top + out_h, left : left + out_w
        ]
