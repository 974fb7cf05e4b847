"""Joint image + mask transforms for segmentation (torchvision transforms v2).

Images are ``tv_tensors.Image`` (uint8), masks ``tv_tensors.Mask``; v2 resizes masks with nearest-neighbour
interpolation and pads them with ``ignore_index`` where a crop reaches beyond the (scaled) image.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _to_normalised_float(mean: Sequence[float], std: Sequence[float]) -> list[v2.Transform]:
    return [
        v2.ToDtype(
            {tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64, "others": None}, scale=True
        ),
        v2.Normalize(mean=list(mean), std=list(std)),
    ]


def build_eval_transform(
    image_size: tuple[int, int] | None,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> v2.Compose:
    """Resize to ``image_size`` (``None``: keep native size), then ``float32`` in [0, 1] and ``(x - mean) / std``."""
    resize = [v2.Resize(list(image_size), antialias=True)] if image_size is not None else []
    return v2.Compose([*resize, *_to_normalised_float(mean, std)])


def build_train_transform(
    base_size: tuple[int, int],
    image_size: tuple[int, int] | None,
    crop_size: tuple[int, int] | None,
    hflip: bool,
    scale_range: tuple[float, float] | None,
    ignore_index: int,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> v2.Compose:
    """Joint training augmentation, in order: resize, random scale, random crop (padded), horizontal flip.

    Args:
        base_size: ``(H, W)`` after the optional resize (the native size when ``image_size`` is ``None``).
        image_size: fixed ``(H, W)`` resize first, or ``None``.
        crop_size: random crop ``(H, W)``; ``None`` crops back to ``base_size`` only when scaling is on
            (so every sample of a batch has the same size).
        hflip: flip image and mask together with probability 0.5.
        scale_range: ``(lo, hi)``: resize by a factor ``s ~ U(lo, hi)`` of ``base_size``, or ``None``.
        ignore_index: mask value used to pad masks (images are padded with 0).
        mean: per-channel normalisation mean.
        std: per-channel normalisation std.
    """
    steps: list[v2.Transform] = []
    if image_size is not None:
        steps.append(v2.Resize(list(image_size), antialias=True))
    if scale_range is not None:
        # ScaleJitter's target_size is (W, H): the factor is min(W_t / W, H_t / H) * s = s here.
        steps.append(v2.ScaleJitter(target_size=(base_size[1], base_size[0]), scale_range=tuple(scale_range)))
    out_size = crop_size if crop_size is not None else (base_size if scale_range is not None else None)
    if out_size is not None:
        fill = {tv_tensors.Image: 0, tv_tensors.Mask: ignore_index}
        steps.append(v2.RandomCrop(list(out_size), pad_if_needed=True, fill=fill))
    if hflip:
        steps.append(v2.RandomHorizontalFlip(p=0.5))
    return v2.Compose([*steps, *_to_normalised_float(mean, std)])
