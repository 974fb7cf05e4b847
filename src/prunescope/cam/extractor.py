"""Fast CAMs: pytorch-grad-cam's CAM methods fed from one cheap forward and partial backward passes.

pytorch-grad-cam back-propagates through the whole network (parameters included) for every call. Here the
parameters are frozen for the forward, and a forward hook replaces the target layer's output by a detached
leaf that requires grad, so autograd records only the part of the network after the target layer. One forward
per batch, then one ``torch.autograd.grad`` of the summed target scores per ``TargetGroup`` (samples are
independent in eval mode, so each sample gets its own gradient). The activations and gradients then go
through the method's own ``get_cam_image`` (pytorch-grad-cam), ReLU, and the same scaling as ``BaseCAM``:
min–max normalise, bilinear resize to the input size, min–max normalise again.

Methods: ``gradcam``, ``gradcam++``, ``hirescam``, ``layercam`` (gradient-based, fast path),
``eigencam`` (activations only, one projection per sample shared by all its targets; economical SVD, see
``eigen_projection``) and ``scorecam``
(falls back to pytorch-grad-cam's own call per target group; slow, ~one forward per channel).
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM
from pytorch_grad_cam.base_cam import BaseCAM
from torch import Tensor, nn

from prunescope.cam.targets import TargetGroup

CAM_METHODS: dict[str, type[BaseCAM]] = {
    "gradcam": GradCAM,
    "gradcam++": GradCAMPlusPlus,
    "hirescam": HiResCAM,
    "layercam": LayerCAM,
    "eigencam": EigenCAM,
    "scorecam": ScoreCAM,
}
GRADIENT_METHODS = ("gradcam", "gradcam++", "hirescam", "layercam")
NORMALISATION_EPS = 1e-7
"""Added to the max in min–max normalisation, as in pytorch-grad-cam's ``scale_cam_image``."""


def cam_method_class(method: str) -> type[BaseCAM]:
    """The pytorch-grad-cam class of a method name."""
    if method not in CAM_METHODS:
        raise ValueError(f"Unknown CAM method {method!r}; valid: {', '.join(CAM_METHODS)}")
    return CAM_METHODS[method]


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


def eigen_projection(activations: np.ndarray) -> np.ndarray:
    """EigenCAM: each sample's activations (C, h, w), centred over positions, projected on the first right
    singular vector: (A − mean) · v₁ → (h, w).

    The same as pytorch-grad-cam's ``get_2d_projection`` but with the economical SVD (``full_matrices=False``:
    same v₁, without the (hw × hw) U matrix that takes seconds at full resolution).
    """
    activations = np.nan_to_num(activations, nan=0.0)
    projections = []
    for sample in activations:
        positions = sample.reshape(sample.shape[0], -1).T
        positions = positions - positions.mean(axis=0)
        _, _, right = np.linalg.svd(positions, full_matrices=False)
        projections.append((positions @ right[0, :]).reshape(sample.shape[1:]))
    return np.float32(projections)


class ActivationCapture:
    """Owns a forward hook on one layer that records its output.

    With ``as_leaf`` the recorded output is a detached leaf requiring grad and the layer returns a copy of it,
    so autograd starts at this layer (and in-place ops after it cannot touch the leaf). Release with
    ``release()`` or use as a context manager.
    """

    def __init__(self, layer: nn.Module, *, as_leaf: bool) -> None:
        self.as_leaf = as_leaf
        self.activations: list[Tensor] = []
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
        return recorded.clone()

    @property
    def activation(self) -> Tensor:
        """The single recorded output of the last forward."""
        if len(self.activations) != 1:
            raise RuntimeError(
                f"CAM target layer ran {len(self.activations)} times in one forward; expected once"
            )
        return self.activations[0]

    def release(self) -> None:
        """Remove the hook and drop the recorded tensors."""
        self._handle.remove()
        self.activations.clear()

    def __enter__(self) -> ActivationCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class CapturedForward:
    """Output of one hooked forward: ``logits`` and the target layer's ``activation`` (graph after it only)."""

    images: Tensor
    logits: Tensor
    activation: Tensor


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
        method: one of ``CAM_METHODS``.
        target_layer: dotted module path; default ``net.cam_target_layer``.
    """

    def __init__(self, net: nn.Module, method: str = "gradcam", target_layer: str | None = None) -> None:
        self.method_class = cam_method_class(method)
        self.method = method
        self.net = net
        self.layer_path, self.layer = resolve_target_layer(net, target_layer)
        self.uses_gradients = method in GRADIENT_METHODS
        self._method = self._method_object() if method != "scorecam" else None

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
            if self.method == "scorecam":
                stack.enter_context(torch.no_grad())
                return CapturedForward(images, self.net(images), images.new_empty(0))
            capture = stack.enter_context(ActivationCapture(self.layer, as_leaf=self.uses_gradients))
            logits = self.net(images)
            return CapturedForward(images, logits, capture.activation)

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
        if self.method == "scorecam":
            if raw:
                raise ValueError(
                    "raw CAMs are not available for scorecam (it runs pytorch-grad-cam's own call)"
                )
            return self._scorecam(captured.images, groups)
        if self.uses_gradients:
            maps = [
                self._gradient_cams(captured, group, retain=i < len(groups) - 1)
                for i, group in enumerate(groups)
            ]
            raw_maps = torch.cat(maps)
        else:  # eigencam: one projection per sample, shared by all of its targets
            per_sample = self._cam_image(captured, torch.arange(captured.images.shape[0]), None)
            raw_maps = per_sample[torch.cat([group.sample_ids for group in groups]).cpu()]
        raw_maps = raw_maps.to(captured.images.device)
        return raw_maps if raw else scale_maps(raw_maps, (height, width))

    def _gradient_cams(self, captured: CapturedForward, group: TargetGroup, *, retain: bool) -> Tensor:
        with grad_enabled():
            (gradient,) = torch.autograd.grad(
                group.score(captured.logits), captured.activation, retain_graph=retain
            )
        return self._cam_image(captured, group.sample_ids, gradient[group.sample_ids])

    def _cam_image(self, captured: CapturedForward, sample_ids: Tensor, gradient: Tensor | None) -> Tensor:
        """The method's own ``get_cam_image`` on these samples' activations (and gradients), then ReLU."""
        assert self._method is not None
        activations = captured.activation.detach()[sample_ids].cpu().numpy()
        grads = gradient.cpu().numpy() if gradient is not None else None
        if self.method == "eigencam":
            cam = eigen_projection(activations)
        else:
            cam = self._method.get_cam_image(
                captured.images[sample_ids], self.layer, None, activations, grads, eigen_smooth=False
            )
        return torch.from_numpy(np.maximum(cam, 0)).float()

    def _scorecam(self, images: Tensor, groups: list[TargetGroup]) -> Tensor:
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
