"""Streaming statistics of a unit's channels exactly as the layers reading them receive them.

A unit's channels are observed at the *input* of every layer that reads them (its *readers*: the convs and linears
whose input channels are in the unit's dependency groups, plus depthwise convs of the unit, which read channel c
with filter c; the same readers as next-conv influence). A forward pre-hook on each reader takes the input
channels that hold the unit's channels, in unit order, through the dependency graph's index mapping: a U-Net
decoder conv reading ``cat(skip, up)`` gives the skip's unit and the up-conv's unit their own slices; a ResNet
stage's residual stream is seen after the addition and ReLU; a transposed up-conv's output is seen without a
ReLU; a SegNet decoder conv's output is seen unpooled; a linear after flattening sees ``H x W`` features per
channel; the units of a hidden Linear (its output features, e.g. VGG-16 ``cifar_fc``) are seen by the next Linear
as ``(B, F)``, each feature a 1 x 1 map (one sample per image, spatial std 0). One :class:`FeatureStatistics` per
reader; criteria combine them (see ``pca_nci`` and ``isd``).

Every pixel of an observed map ``A`` (``B x C x H x W``) is one sample of a C-dimensional vector. With ``N``
samples, running sums ``s = sum_i a_i`` and ``S = sum_i a_i a_i^T`` (float64) give

    mean = s / N,    cov = (S - N mean mean^T) / (N - 1)

so maps are never stored (memory O(C^2)). Per image, the spatial standard deviation of each channel
(population std over ``H x W``) is summed to give ``MSD_c`` = its mean over images.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from prunescope.fp32 import as_fp32, full_precision
from prunescope.pruning.groups import ChannelUnit, Member


@dataclass
class FeatureStatistics:
    """Running sums over the pixels and images of the maps one reader receives.

    Attributes:
        channels: Number of channels C.
        with_covariance: Whether outer products are accumulated.
        pixels: Number of pixel samples N.
        images: Number of images seen.
        total: Sum of samples, shape (C,).
        outer: Sum of outer products, shape (C, C) (empty without covariance).
        spatial_std_total: Sum over images of the per-channel spatial std, shape (C,).
    """

    channels: int
    with_covariance: bool = True
    pixels: int = 0
    images: int = 0
    total: torch.Tensor = field(init=False)
    outer: torch.Tensor = field(init=False)
    spatial_std_total: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        c = self.channels
        self.total = torch.zeros(c, dtype=torch.float64)
        self.outer = torch.zeros((c, c) if self.with_covariance else (0, 0), dtype=torch.float64)
        self.spatial_std_total = torch.zeros(c, dtype=torch.float64)

    def update(self, maps: torch.Tensor) -> None:
        """Add a batch of maps shaped (B, C, H, W) (or (B, C))."""
        if maps.dim() == 2:
            maps = maps[:, :, None, None]
        if maps.shape[1] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got maps of shape {tuple(maps.shape)}")
        # Per image b and channel c, the spatial std comes from the sums of x and x^2 over H*W (float64), so the
        # maps are read in place: with covariance, sum x^2 is the diagonal of the per-image products X_b X_b^T
        # that the outer-product sum needs anyway; without it, a float64-accumulated norm of the float32 maps.
        flat = maps.detach().flatten(2)  # (B, C, H*W)
        per_image = flat.shape[2]
        per_image_total = flat.sum(dim=2, dtype=torch.float64)  # (B, C)
        if self.with_covariance:
            flat = flat.to(torch.float64)
            products = torch.bmm(flat, flat.transpose(1, 2))  # (B, C, C)
            self.outer += products.sum(dim=0).cpu()
            per_image_squares = products.diagonal(dim1=1, dim2=2)
        else:
            per_image_squares = torch.linalg.vector_norm(flat, dim=2, dtype=torch.float64).square()
        self.pixels += flat.shape[0] * per_image
        self.images += flat.shape[0]
        self.total += per_image_total.sum(dim=0).cpu()
        mean = per_image_total / per_image
        variance = (per_image_squares / per_image - mean.square()).clamp_min(0.0)
        self.spatial_std_total += variance.sqrt().sum(dim=0).cpu()

    @property
    def mean(self) -> torch.Tensor:
        """Per-channel mean over all pixel samples, shape (C,)."""
        return self.total / max(self.pixels, 1)

    @property
    def covariance(self) -> torch.Tensor:
        """Unbiased channel covariance ``(S - N mean mean^T) / (N - 1)``, shape (C, C)."""
        if not self.with_covariance:
            raise ValueError("covariance was not accumulated (with_covariance=False)")
        if self.pixels < 2:
            raise ValueError("covariance needs at least 2 pixel samples")
        mean = self.mean
        return (self.outer - self.pixels * torch.outer(mean, mean)) / (self.pixels - 1)

    @property
    def spatial(self) -> bool:
        """Whether the maps had more than one position per image (otherwise every spatial std is 0)."""
        return self.pixels > self.images

    @property
    def spatial_std_mean(self) -> torch.Tensor:
        """``MSD_c``: mean over images of the spatial std of channel c, shape (C,)."""
        return self.spatial_std_total / max(self.images, 1)


def is_depthwise(module: nn.Module) -> bool:
    """Whether ``module`` is a depthwise conv (one filter per input channel)."""
    return (
        isinstance(module, nn.modules.conv._ConvNd)
        and module.groups > 1
        and module.groups == module.in_channels == module.out_channels
    )


@dataclass(frozen=True)
class Reader:
    """A layer reading a unit's channels, and where they sit in its input.

    Attributes:
        name: Module name of the reader.
        module: The reader (Conv, ConvTranspose or Linear).
        channels: Number of unit channels C.
        positions: Input channel (linear: input feature) indices, grouped by unit channel: entries
            ``[c k, (c + 1) k)`` hold unit channel ``c`` (``k = len(positions) / C``; ``k = H x W`` for a linear
            reading a flattened map, else 1).
    """

    name: str
    module: nn.Module
    channels: int
    positions: tuple[int, ...]

    def view(self, inputs: torch.Tensor) -> torch.Tensor:
        """The unit's channels in ``inputs`` (the reader's input), shape (B, C, H, W), or (B, C, k) for ``k > 1``."""
        picked = inputs[:, list(self.positions)]
        if len(self.positions) == self.channels:
            return picked
        return picked.reshape(inputs.shape[0], self.channels, -1)


def _reader(member: Member, channels: int) -> Reader | None:
    """Reader of ``member``'s input, or ``None`` if it does not read every unit channel equally often."""
    pairs = sorted(set(zip(member.root_idxs, member.idxs, strict=True)))
    per_channel = len(pairs) // channels if channels else 0
    roots = [root for root, _ in pairs]
    if per_channel == 0 or roots != [c for c in range(channels) for _ in range(per_channel)]:
        return None
    return Reader(member.name, member.module, channels, tuple(i for _, i in pairs))


def unit_readers(unit: ChannelUnit) -> list[Reader]:
    """Readers of ``unit``'s channels: its consumers, then its depthwise producers (their input is the unit).

    A consumer reading only part of the unit (e.g. after a channel split) is left out.
    """
    members = list(unit.consumers) + [m for m in unit.producers if is_depthwise(m.module)]
    readers = [_reader(member, unit.channels) for member in members]
    return [reader for reader in readers if reader is not None]


def _batches(calibration: Iterable, limit: int) -> Iterable[torch.Tensor]:
    for index, batch in enumerate(calibration):
        if index >= limit:
            break
        yield batch[0] if isinstance(batch, list | tuple) else batch


def collect_statistics(
    model: nn.Module,
    readers: dict[str, Reader],
    calibration: Iterable,
    batches: int,
    with_covariance: bool = True,
) -> dict[str, FeatureStatistics]:
    """One no-grad eval pass accumulating :class:`FeatureStatistics` of every reader's view of its input, in fp32
    (autocast off, low-precision inputs cast up: the same statistics under any trainer precision).

    Args:
        model: Network to run (its training mode is restored and its hooks removed afterwards).
        readers: Key -> reader observed under that key.
        calibration: Iterable of ``(images, targets)`` batches (or image tensors).
        batches: Number of batches used (fewer if the iterable ends first).
        with_covariance: Accumulate outer products (needed for PCA only).

    Returns:
        Key -> statistics (keys whose reader never ran are missing).
    """
    stats: dict[str, FeatureStatistics] = {}
    handles = []

    def make_hook(key: str, reader: Reader):
        def hook(_module: nn.Module, inputs: tuple) -> None:
            if key not in stats:
                stats[key] = FeatureStatistics(reader.channels, with_covariance)
            stats[key].update(reader.view(inputs[0]))

        return hook

    device = next(model.parameters()).device
    was_training = model.training
    try:
        for key, reader in readers.items():
            handles.append(reader.module.register_forward_pre_hook(make_hook(key, reader)))
        model.eval()
        with torch.no_grad(), full_precision():  # fp32 statistics, also inside a bf16-mixed fit
            seen = 0
            for images in _batches(calibration, batches):
                model(as_fp32(images.to(device)))
                seen += 1
        if seen == 0:
            raise ValueError("calibration yielded no batches")
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return stats


def collect_unit_statistics(
    model: nn.Module,
    units: Sequence[ChannelUnit],
    calibration: Iterable,
    batches: int,
    with_covariance: bool = True,
) -> dict[str, list[FeatureStatistics]]:
    """Statistics of every unit at each of its readers (unit name -> one entry per :func:`unit_readers` item).

    Raises:
        ValueError: A unit has no reader, or a reader saw no input during calibration.
    """
    readers = {unit.name: unit_readers(unit) for unit in units}
    unread = [name for name, found in readers.items() if not found]
    if unread:
        raise ValueError(f"no layer reads every channel of unit(s) {unread[:5]}: nothing to observe")
    keyed = {f"{name}|{i}": reader for name, found in readers.items() for i, reader in enumerate(found)}
    stats = collect_statistics(model, keyed, calibration, batches, with_covariance)
    missing = sorted({keyed[key].name for key in keyed if key not in stats})
    if missing:
        raise ValueError(f"layers received no input during calibration: {missing[:5]}")
    return {name: [stats[f"{name}|{i}"] for i in range(len(found))] for name, found in readers.items()}
