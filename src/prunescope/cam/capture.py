"""The fast CAM engine's parts: one hooked forward whose graph starts at the target layer, partial backwards,
and the map arithmetic every method shares (weighted channel sums, ``BaseCAM``'s min–max scaling).

How the engine avoids pytorch-grad-cam's full backward is told in :mod:`prunescope.cam.extractor`; how each method
uses these parts, in :mod:`prunescope.cam.methods`.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prunescope.cam.targets import TargetGroup

NORMALISATION_EPS = 1e-7
"""Added to the max in min–max normalisation, as in pytorch-grad-cam's ``scale_cam_image``."""


@contextmanager
def grad_enabled() -> Any:
    """Autograd on, even inside ``torch.inference_mode()`` (Lightning's test loop) or ``torch.no_grad()``."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def as_autograd_tensor(tensor: Tensor) -> Tensor:
    """A tensor usable by autograd: inference tensors (made under inference mode) are cloned."""
    return tensor.clone() if tensor.is_inference() else tensor


def normalise_maps(maps: Tensor) -> Tensor:
    """Per map of (N, H, W): (m − min m) / (1e-7 + max(m − min m)), as pytorch-grad-cam's ``scale_cam_image``."""
    maps = maps - maps.amin(dim=(-2, -1), keepdim=True)
    return maps / (NORMALISATION_EPS + maps.amax(dim=(-2, -1), keepdim=True))


def scale_maps(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """Normalise, bilinearly resize (N, h, w) maps to ``size`` = (H, W), normalise again (as ``BaseCAM``)."""
    maps = normalise_maps(maps.float())
    if tuple(maps.shape[-2:]) != tuple(size):
        maps = F.interpolate(maps.unsqueeze(1), size=size, mode="bilinear", align_corners=False).squeeze(1)
    return normalise_maps(maps)


def weighted_activation_sum(activation: Tensor, sample_ids: Tensor, weights: Tensor) -> Tensor:
    """CAM of channel-weight methods: cam_p = Σ_c weights[p, c] · activation[sample_ids[p], c] → (P, h, w).

    Computed as one batched matrix product per sample slot (the k-th pair of each sample), without copying the
    activations once per pair.
    """
    batch, channels = activation.shape[:2]
    spatial = activation.shape[2:]
    seen: dict[int, int] = {}
    slot_list = []
    for sample in sample_ids.tolist():
        slot_list.append(seen.get(sample, 0))
        seen[sample] = slot_list[-1] + 1
    sample_ids = sample_ids.to(activation.device)
    slots = torch.tensor(slot_list, dtype=torch.long, device=activation.device)
    padded = weights.new_zeros(batch, int(slots.max()) + 1, channels)
    padded[sample_ids, slots] = weights.to(activation.dtype)
    maps = torch.bmm(padded, activation.flatten(2))  # (B, slots, h·w)
    return maps[sample_ids, slots].reshape(-1, *spatial)


class ActivationCapture:
    """Owns a forward hook on one layer that records its output.

    With ``as_leaf`` the recorded output is a detached leaf requiring grad and the layer returns a copy of it,
    so autograd starts at this layer (and in-place ops after it cannot touch the leaf). Release with
    ``release()`` or use as a context manager.
    """

    def __init__(self, layer: nn.Module, *, as_leaf: bool, channel_offset: bool = False) -> None:
        self.as_leaf = as_leaf
        self.channel_offset = channel_offset
        self.activations: list[Tensor] = []
        self.offsets: list[Tensor] = []
        self._handle = layer.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, inputs: Any, output: Any) -> Tensor:
        if not isinstance(output, Tensor):
            raise TypeError(
                f"CAM target layer {type(module).__name__} must output one tensor; got {type(output)}"
            )
        recorded = output.detach()
        if self.as_leaf:
            recorded.requires_grad_(True)
        self.activations.append(recorded)
        if (
            self.channel_offset
        ):  # A + b, b = 0 of shape (B, C, 1, 1): ∂s/∂b = Σ_xy ∂s/∂A, no (B, C, h, w) output
            offset = recorded.new_zeros(*recorded.shape[:2], *[1] * (recorded.ndim - 2)).requires_grad_(True)
            self.offsets.append(offset)
            return recorded + offset
        return recorded.clone()

    @property
    def activation(self) -> Tensor:
        """The single recorded output of the last forward."""
        if len(self.activations) != 1:
            raise RuntimeError(
                f"CAM target layer ran {len(self.activations)} times in one forward; expected once"
            )
        return self.activations[0]

    @property
    def offset(self) -> Tensor | None:
        """The per-channel zero offset added to the output (``channel_offset``), else None."""
        return self.offsets[0] if self.offsets else None

    def release(self) -> None:
        """Remove the hook and drop the recorded tensors."""
        self._handle.remove()
        self.activations.clear()
        self.offsets.clear()

    def __enter__(self) -> ActivationCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class CapturedForward:
    """Output of one hooked forward: ``logits`` and the target layer's ``activation`` (graph after it only).

    ``channel_offset`` (GradCAM only) is the zero (B, C, 1, 1) leaf added to the activation: its gradient is the
    spatial sum of the activation's gradient, all that GradCAM's weights need.
    """

    images: Tensor
    logits: Tensor
    activation: Tensor
    channel_offset: Tensor | None = None


@contextmanager
def frozen_eval(net: nn.Module) -> Any:
    """Eval mode and no parameter gradients inside; ``training`` and ``requires_grad`` restored after."""
    was_training = net.training
    parameters = list(net.parameters())
    flags = [p.requires_grad for p in parameters]
    try:
        net.eval()
        for p in parameters:
            p.requires_grad_(False)
        yield net
    finally:
        for p, flag in zip(parameters, flags, strict=True):
            p.requires_grad_(flag)
        net.train(was_training)


def hooked_forward(
    net: nn.Module, layer: nn.Module, images: Tensor, *, as_leaf: bool, channel_offset: bool = False
) -> CapturedForward:
    """One forward in eval mode with frozen parameters, ``layer``'s output recorded (:class:`ActivationCapture`):
    with ``as_leaf`` or ``channel_offset`` the graph starts at the target layer."""
    with grad_enabled(), frozen_eval(net), ExitStack() as stack:
        images = as_autograd_tensor(images)
        capture = stack.enter_context(
            ActivationCapture(layer, as_leaf=as_leaf, channel_offset=channel_offset)
        )
        logits = net(images)
        return CapturedForward(images, logits, capture.activation, capture.offset)


def full_gradient(
    captured: CapturedForward,
    group: TargetGroup,
    cotangent: Tensor,
    *,
    retain: bool,
    wrt: Tensor | None = None,
) -> Tensor:
    """d(group score)/d(activation) for the whole batch, (B, C, h, w); zero outside the group's samples.

    With ``wrt`` (the channel offset) the gradient with respect to that tensor instead.

    ``cotangent`` is an all-zero tensor shaped like the logits, reused across groups (a fresh one per group
    costs as much as the backward through a segmentation head): the group's score gradient is written into
    it for the backward and zeroed again after.
    """
    with grad_enabled():
        logits = captured.logits
        group.write_score_gradient(cotangent)
        try:
            (gradient,) = torch.autograd.grad(
                logits,
                captured.activation if wrt is None else wrt,
                grad_outputs=cotangent,
                retain_graph=retain,
            )
        finally:
            cotangent[group.sample_ids, group.class_ids] = 0.0
    return gradient
