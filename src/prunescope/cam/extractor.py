"""Fast CAMs: pytorch-grad-cam's CAM methods fed from one cheap forward and partial backward passes.

pytorch-grad-cam back-propagates through the whole network (parameters included) for every call. Here the
parameters are frozen for the forward, and a forward hook replaces the target layer's output by a detached
leaf that requires grad, so autograd records only the part of the network after the target layer. One forward
per batch, then one ``torch.autograd.grad`` of the summed target scores per ``TargetGroup`` (samples are
independent in eval mode, so each sample gets its own gradient). The activations and gradients then go
through the method's own weighting (pytorch-grad-cam's ``get_cam_weights`` for ``gradcampp``; for ``gradcam``,
whose weights are the spatial means of the gradient, the hook adds a zero per-channel offset b to the activation
and the backward stops at b: ∂s/∂b = Σ_xy ∂s/∂A, so the (B, C, h, w) gradient is never returned;
followed by the weighted channel sum Σ_c w_c·A_c of ``BaseCAM.get_cam_image`` done as one batched matmul;
``get_cam_image`` itself for the others), ReLU, and the same scaling as ``BaseCAM``: min–max normalise,
bilinear resize to the input size, min–max normalise again.

Methods and how each is computed: :mod:`prunescope.cam.methods` (one table; ``eigencam`` is one projection per
sample shared by all its targets; ``scorecam`` falls back to pytorch-grad-cam's own call per target group).
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_grad_cam.base_cam import BaseCAM
from torch import Tensor, nn

from prunescope.cam.methods import cam_method
from prunescope.cam.targets import TargetGroup

NORMALISATION_EPS = 1e-7
"""Added to the max in min–max normalisation, as in pytorch-grad-cam's ``scale_cam_image``."""


def resolve_target_layer(net: nn.Module, target_layer: str | None = None) -> tuple[str, nn.Module]:
    """The CAM layer's dotted path and module: ``target_layer`` or else ``net.cam_target_layer``."""
    path = target_layer if target_layer is not None else getattr(net, "cam_target_layer", None)
    if path is None:
        raise ValueError(f"{type(net).__name__} has no cam_target_layer; pass target_layer explicitly")
    try:
        return path, net.get_submodule(path)
    except AttributeError as error:
        raise ValueError(f"CAM target layer {path!r} does not exist in {type(net).__name__}") from error


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


class CamExtractor:
    """CAMs of one network at one layer for groups of targets.

    Args:
        net: the network (``forward(x)`` → logits); left as found (mode, ``requires_grad``, no hooks).
        method: a key of ``prunescope.cam.methods.CAM_METHODS``.
        target_layer: dotted module path; default ``net.cam_target_layer``.
    """

    def __init__(self, net: nn.Module, method: str = "gradcam", target_layer: str | None = None) -> None:
        self.spec = cam_method(method)
        self.method_class = self.spec.library_class
        self.method = method
        self.net = net
        self.layer_path, self.layer = resolve_target_layer(net, target_layer)
        self.uses_gradients = self.spec.uses_gradients
        # GradCAM's weights are mean_xy ∂s/∂A, taken at a per-channel offset: no library object needed
        self.spatial_sums_only = self.spec.path == "channel_offset"
        needs_library_object = self.spec.path in ("channel_weights", "gradient_image")
        self._method = self._method_object() if needs_library_object else None

    def _method_object(self) -> BaseCAM:
        """The pytorch-grad-cam method object, used only for its weighting (its own hooks removed at once)."""
        was_training = self.net.training
        try:
            cam = self.method_class(model=self.net, target_layers=[self.layer])
            cam.activations_and_grads.release()
        finally:
            self.net.train(was_training)
        return cam

    def forward(self, images: Tensor) -> CapturedForward:
        """One forward in eval mode with frozen parameters; the graph starts at the target layer."""
        with grad_enabled(), frozen_eval(self.net), ExitStack() as stack:
            images = as_autograd_tensor(images)
            if self.spec.path == "library_call":
                stack.enter_context(torch.no_grad())
                return CapturedForward(images, self.net(images), images.new_empty(0))
            capture = stack.enter_context(
                ActivationCapture(
                    self.layer,
                    as_leaf=self.uses_gradients and not self.spatial_sums_only,
                    channel_offset=self.spatial_sums_only,
                )
            )
            logits = self.net(images)
            return CapturedForward(images, logits, capture.activation, capture.offset)

    def cams(self, captured: CapturedForward, groups: list[TargetGroup], *, raw: bool = False) -> Tensor:
        """CAMs of all pairs of ``groups``, concatenated in group order.

        Args:
            captured: result of ``forward`` on the batch.
            groups: target groups of that batch.
            raw: return the per-layer CAM after ReLU at the layer's resolution (N, h, w), before scaling.

        Returns:
            (N, H, W) float32 maps in [0, 1] at the input size (or the raw maps), N = Σ len(group).
        """
        height, width = captured.images.shape[-2:]
        if not groups:
            return captured.images.new_zeros((0, height, width) if not raw else (0, 0, 0))
        if self.spec.path == "library_call":
            if raw:
                raise ValueError(
                    f"raw CAMs are not available for {self.method} (it runs pytorch-grad-cam's own call)"
                )
            return self._library_call(captured.images, groups)
        sample_ids = torch.cat([group.sample_ids for group in groups])
        last = len(groups) - 1
        cotangent = torch.zeros_like(captured.logits) if self.uses_gradients else None
        if self.spec.path in (
            "channel_offset",
            "channel_weights",
        ):  # weights per group, one weighted sum for all
            weights = [
                self._channel_weights(captured, group, cotangent, retain=i < last)
                for i, group in enumerate(groups)
            ]
            raw_maps = weighted_activation_sum(captured.activation.detach(), sample_ids, torch.cat(weights))
            raw_maps = raw_maps.clamp_min(0.0).cpu()
        elif self.uses_gradients:  # one partial backward per group, then one get_cam_image call for all pairs
            gradients = [
                self._gradient(captured, group, cotangent, retain=i < last) for i, group in enumerate(groups)
            ]
            raw_maps = self._cam_image(captured, sample_ids, torch.cat(gradients))
        else:  # activation_image: one map per sample, shared by all of its targets
            per_sample = self._cam_image(captured, torch.arange(captured.images.shape[0]), None)
            raw_maps = per_sample[sample_ids.cpu()]
        raw_maps = raw_maps.to(captured.images.device)
        return raw_maps if raw else scale_maps(raw_maps, (height, width))

    def _full_gradient(
        self,
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

    def _gradient(
        self, captured: CapturedForward, group: TargetGroup, cotangent: Tensor, *, retain: bool
    ) -> Tensor:
        """d(group score)/d(activation) of the group's samples, (n, C, h, w)."""
        return self._full_gradient(captured, group, cotangent, retain=retain)[group.sample_ids]

    def _channel_weights(
        self, captured: CapturedForward, group: TargetGroup, cotangent: Tensor, *, retain: bool
    ) -> Tensor:
        """The method's own ``get_cam_weights`` for the group's pairs, (n, C).

        Weights are per sample, so they are computed on the whole batch's gradient (zero outside the group) and
        the group's rows kept: no per-pair copy of the gradient or of the activations.
        """
        if captured.channel_offset is not None:  # GradCAM: w = mean_xy ∂s/∂A = (∂s/∂b) / (h·w)
            sums = self._full_gradient(captured, group, cotangent, retain=retain, wrt=captured.channel_offset)
            weights = sums.flatten(1) / captured.activation[0, 0].numel()
            return weights[group.sample_ids.to(weights.device)].to(captured.activation.dtype)
        assert self._method is not None
        gradient = self._full_gradient(captured, group, cotangent, retain=retain).cpu().numpy()
        activations = captured.activation.detach().cpu().numpy()
        weights = self._method.get_cam_weights(captured.images, self.layer, None, activations, gradient)
        weights = torch.from_numpy(np.asarray(weights, dtype=np.float32))
        return weights[group.sample_ids.cpu()].to(captured.activation.device)

    def _cam_image(self, captured: CapturedForward, sample_ids: Tensor, gradient: Tensor | None) -> Tensor:
        """The method's projection, or its own ``get_cam_image``, on these samples' activations (and gradients);
        then ReLU."""
        activations = captured.activation.detach()[sample_ids].cpu().numpy()
        grads = gradient.cpu().numpy() if gradient is not None else None
        if self.spec.projection is not None:
            cam = self.spec.projection(activations)
        else:
            assert self._method is not None
            cam = self._method.get_cam_image(
                captured.images[sample_ids], self.layer, None, activations, grads, eigen_smooth=False
            )
        return torch.from_numpy(np.maximum(cam, 0)).float()

    def _library_call(self, images: Tensor, groups: list[TargetGroup]) -> Tensor:
        maps = []
        with frozen_eval(self.net), torch.no_grad():
            cam = self.method_class(model=self.net, target_layers=[self.layer])
            try:
                for group in groups:
                    maps.append(torch.from_numpy(cam(images[group.sample_ids], group.library_targets())))
            finally:
                cam.activations_and_grads.release()
        return normalise_maps(torch.cat(maps).float().to(images.device))

    def __call__(self, images: Tensor, groups: list[TargetGroup], *, raw: bool = False) -> Tensor:
        """``cams(forward(images), groups)``."""
        return self.cams(self.forward(images), groups, raw=raw)
