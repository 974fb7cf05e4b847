"""Streaming feature-map statistics of prunable layers over calibration batches.

Every pixel of a post-activation map ``A`` (``B x C x H x W``) is one sample of a C-dimensional vector. With
``N`` samples, running sums ``s = sum_i a_i`` and ``S = sum_i a_i a_i^T`` (float64) give

    mean = s / N,    cov = (S - N mean mean^T) / (N - 1)

so maps are never stored (memory O(C^2)). Per image, the spatial standard deviation of each channel
(population std over ``H x W``) is summed to give ``MSD_c`` = its mean over images.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
import torch_pruning as tp
from torch import nn

from prunescope.pruning.groups import ChannelUnit


@dataclass
class FeatureStatistics:
    """Running sums over the pixels and images of one layer's post-activation maps.

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


def activation_source(graph: tp.DependencyGraph, conv: nn.Module) -> tuple[nn.Module, bool]:
    """Where a unit rooted at ``conv`` shows its activation maps: ``(module, reads_input)``.

    A depthwise root reads the unit's channels as its *input* (e.g. a concatenation feeding a separable conv), in
    the unit's channel order: its input is observed as is. Otherwise the output of the BatchNorm right after the
    conv, else of the conv itself, is observed after ReLU.
    """
    if is_depthwise(conv):
        return conv, True
    node = graph.module2node.get(conv)
    if node is not None:
        for out in node.outputs:
            if isinstance(out.module, nn.modules.batchnorm._BatchNorm):
                return out.module, False
    return conv, False


def _batches(calibration: Iterable, limit: int) -> Iterable[torch.Tensor]:
    for index, batch in enumerate(calibration):
        if index >= limit:
            break
        yield batch[0] if isinstance(batch, list | tuple) else batch


def collect_feature_statistics(
    model: nn.Module,
    sources: dict[str, tuple[nn.Module, bool]],
    calibration: Iterable,
    batches: int,
    with_covariance: bool = True,
) -> dict[str, FeatureStatistics]:
    """One no-grad eval pass accumulating :class:`FeatureStatistics` of every layer's activation maps.

    Args:
        model: Network to run (its training mode is restored afterwards).
        sources: Layer name -> ``(module, reads_input)``: the module's input is observed as is, or its output
            after ReLU (see :func:`activation_source`).
        calibration: Iterable of ``(images, targets)`` batches (or image tensors).
        batches: Number of batches used (fewer if the iterable ends first).
        with_covariance: Accumulate outer products (needed for PCA only).

    Returns:
        Layer name -> statistics.
    """
    stats: dict[str, FeatureStatistics] = {}
    handles = []

    def accumulate(name: str, maps: torch.Tensor) -> None:
        if name not in stats:
            stats[name] = FeatureStatistics(maps.shape[1], with_covariance)
        stats[name].update(maps)

    def make_hook(name: str, reads_input: bool):
        if reads_input:
            return lambda _module, inputs: accumulate(name, inputs[0])
        return lambda _module, _inputs, output: accumulate(name, F.relu(output))

    device = next(model.parameters()).device
    was_training = model.training
    try:
        for name, (module, reads_input) in sources.items():
            hook = make_hook(name, reads_input)
            register = module.register_forward_pre_hook if reads_input else module.register_forward_hook
            handles.append(register(hook))
        model.eval()
        with torch.no_grad():
            seen = 0
            for images in _batches(calibration, batches):
                model(images.to(device))
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
    graph: tp.DependencyGraph,
    units: Sequence[ChannelUnit],
    calibration: Iterable,
    batches: int,
    with_covariance: bool = True,
) -> dict[str, list[FeatureStatistics]]:
    """Statistics of every unit's root convs' activations (unit name -> one entry per merged root).

    Raises:
        ValueError: A root conv produced no activation during calibration.
    """
    sources = {name: activation_source(graph, module) for unit in units for name, module in unit.roots}
    stats = collect_feature_statistics(model, sources, calibration, batches, with_covariance)
    missing = [name for name in sources if name not in stats]
    if missing:
        raise ValueError(f"layers produced no activations during calibration: {missing[:5]}")
    return {unit.name: [stats[name] for name, _ in unit.roots] for unit in units}
