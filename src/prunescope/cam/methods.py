"""CAM methods by name: one table entry each, an instance of the class that says how the method is computed.

A method is a :class:`CamMethod`: :class:`~prunescope.cam.extractor.CamExtractor` calls its :meth:`~CamMethod.forward`
once per batch and its :meth:`~CamMethod.maps` for the batch's target groups, and does nothing method-specific
itself. The classes, from the parts in :mod:`prunescope.cam.capture`:

- :class:`ChannelOffsetCam`: CAM = Σ_c w_c·A_c with w_c = mean_xy ∂s/∂A_c, taken as the gradient of a zero
  per-channel offset added to the activation (GradCAM);
- :class:`LibraryWeightsCam`: CAM = Σ_c w_c·A_c with w from the method's own ``get_cam_weights`` (GradCAM++);
- :class:`GradientImageCam`: the method's own ``get_cam_image`` on activations and gradients (HiResCAM, LayerCAM);
- :class:`ProjectionCam`: a map of the activations alone, no gradient (EigenCAM: ``projection``);
- :class:`LibraryCallCam`: pytorch-grad-cam's own call per target group (ScoreCAM; slow).

Adding a method = one entry in :data:`CAM_METHODS` (or :func:`register_cam_method`; a new way of computing it is a
subclass beside these) + ``conf/cam/<name>.yaml`` (``defaults: [base, _self_]`` and ``method: <name>``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
import torch
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM
from pytorch_grad_cam.base_cam import BaseCAM
from torch import Tensor, nn

from prunescope.cam.capture import (
    CapturedForward,
    as_autograd_tensor,
    frozen_eval,
    full_gradient,
    grad_enabled,
    hooked_forward,
    normalise_maps,
    scale_maps,
    weighted_activation_sum,
)
from prunescope.cam.targets import TargetGroup


class CamSite(Protocol):
    """What a method reads from the :class:`~prunescope.cam.extractor.CamExtractor` that calls it."""

    net: nn.Module
    layer: nn.Module
    library_object: BaseCAM | None


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


def _sample_ids(groups: list[TargetGroup]) -> Tensor:
    return torch.cat([group.sample_ids for group in groups])


@dataclass(frozen=True)
class CamMethod:
    """One CAM method; subclasses say how it is computed (template: :meth:`forward`, then :meth:`raw_maps`).

    Attributes:
        name: the key users type (``cam.method``, ``conf/cam/<name>.yaml``).
        library_class: the pytorch-grad-cam class whose maps this method reproduces (``None``: a method of our own,
            with no reference in :func:`prunescope.cam.reference.library_cams`).
    """

    name: str
    library_class: type[BaseCAM] | None = None

    uses_gradients: ClassVar[bool] = True
    """Whether the CAM needs gradients of the target score."""
    uses_library_object: ClassVar[bool] = False
    """Whether :meth:`raw_maps` calls a ``library_class`` object's weighting (built once per extractor)."""

    def library_object(self, net: nn.Module, layer: nn.Module) -> BaseCAM | None:
        """The pytorch-grad-cam object whose weighting the method uses, its own hooks removed at once; else None."""
        if not self.uses_library_object:
            return None
        was_training = net.training
        try:
            cam = self.library_class(model=net, target_layers=[layer])
            cam.activations_and_grads.release()
        finally:
            net.train(was_training)
        return cam

    def forward(self, extractor: CamSite, images: Tensor) -> CapturedForward:
        """One forward of the batch; by default the graph starts at the target layer (gradient methods)."""
        return hooked_forward(extractor.net, extractor.layer, images, as_leaf=self.uses_gradients)

    def maps(
        self, extractor: CamSite, captured: CapturedForward, groups: list[TargetGroup], *, raw: bool
    ) -> Tensor:
        """CAMs of all pairs of ``groups`` (not empty) in group order: (N, H, W) in [0, 1] at the input size, or
        with ``raw`` the maps after ReLU at the layer's resolution (N, h, w)."""
        raw_maps = self.raw_maps(extractor, captured, groups).to(captured.images.device)
        return raw_maps if raw else scale_maps(raw_maps, tuple(captured.images.shape[-2:]))

    def raw_maps(self, extractor: CamSite, captured: CapturedForward, groups: list[TargetGroup]) -> Tensor:
        """(N, h, w) maps after ReLU, one per pair of ``groups``."""
        raise NotImplementedError


class ChannelWeightCam(CamMethod):
    """CAM = Σ_c w_c·A_c (``BaseCAM.get_cam_image`` done as one batched matmul), weights per group."""

    def raw_maps(self, extractor: CamSite, captured: CapturedForward, groups: list[TargetGroup]) -> Tensor:
        cotangent = torch.zeros_like(captured.logits)
        last = len(groups) - 1
        weights = [
            self.channel_weights(extractor, captured, group, cotangent, retain=i < last)
            for i, group in enumerate(groups)
        ]
        maps = weighted_activation_sum(captured.activation.detach(), _sample_ids(groups), torch.cat(weights))
        return maps.clamp_min(0.0).cpu()

    def channel_weights(
        self,
        extractor: CamSite,
        captured: CapturedForward,
        group: TargetGroup,
        cotangent: Tensor,
        *,
        retain: bool,
    ) -> Tensor:
        """(n, C) weights of the group's pairs."""
        raise NotImplementedError


class ChannelOffsetCam(ChannelWeightCam):
    """GradCAM: w = mean_xy ∂s/∂A, taken at a zero per-channel offset b added to the activation: ∂s/∂b = Σ_xy ∂s/∂A,
    so the (B, C, h, w) gradient is never returned (and no library object is needed)."""

    def forward(self, extractor: CamSite, images: Tensor) -> CapturedForward:
        return hooked_forward(extractor.net, extractor.layer, images, as_leaf=False, channel_offset=True)

    def channel_weights(
        self,
        extractor: CamSite,
        captured: CapturedForward,
        group: TargetGroup,
        cotangent: Tensor,
        *,
        retain: bool,
    ) -> Tensor:
        sums = full_gradient(captured, group, cotangent, retain=retain, wrt=captured.channel_offset)
        weights = sums.flatten(1) / captured.activation[0, 0].numel()  # w = (∂s/∂b) / (h·w)
        return weights[group.sample_ids.to(weights.device)].to(captured.activation.dtype)


class LibraryWeightsCam(ChannelWeightCam):
    """Weights from the method's own ``get_cam_weights``, computed on the whole batch's gradient (zero outside the
    group) and the group's rows kept: no per-pair copy of the gradient or of the activations."""

    uses_library_object: ClassVar[bool] = True

    def channel_weights(
        self,
        extractor: CamSite,
        captured: CapturedForward,
        group: TargetGroup,
        cotangent: Tensor,
        *,
        retain: bool,
    ) -> Tensor:
        gradient = full_gradient(captured, group, cotangent, retain=retain).cpu().numpy()
        activations = captured.activation.detach().cpu().numpy()
        weights = extractor.library_object.get_cam_weights(
            captured.images, extractor.layer, None, activations, gradient
        )
        weights = torch.from_numpy(np.asarray(weights, dtype=np.float32))
        return weights[group.sample_ids.cpu()].to(captured.activation.device)


class GradientImageCam(CamMethod):
    """The method's own ``get_cam_image`` on the activations and gradients: one partial backward per group, then one
    call for all pairs."""

    uses_library_object: ClassVar[bool] = True

    def raw_maps(self, extractor: CamSite, captured: CapturedForward, groups: list[TargetGroup]) -> Tensor:
        cotangent = torch.zeros_like(captured.logits)
        last = len(groups) - 1
        gradient = torch.cat(
            [
                full_gradient(captured, group, cotangent, retain=i < last)[group.sample_ids]
                for i, group in enumerate(groups)
            ]
        )
        sample_ids = _sample_ids(groups)
        activations = captured.activation.detach()[sample_ids].cpu().numpy()
        cam = extractor.library_object.get_cam_image(
            captured.images[sample_ids],
            extractor.layer,
            None,
            activations,
            gradient.cpu().numpy(),
            eigen_smooth=False,
        )
        return torch.from_numpy(np.maximum(cam, 0)).float()


@dataclass(frozen=True)
class ProjectionCam(CamMethod):
    """A map of the activations alone, no gradient: one projection per sample, shared by all of its targets.

    Attributes:
        projection: activations (B, C, h, w) → maps (B, h, w).
    """

    projection: Callable[[np.ndarray], np.ndarray] = eigen_projection

    uses_gradients: ClassVar[bool] = False

    def raw_maps(self, extractor: CamSite, captured: CapturedForward, groups: list[TargetGroup]) -> Tensor:
        per_sample = torch.from_numpy(
            np.maximum(self.projection(captured.activation.detach().cpu().numpy()), 0)
        )
        return per_sample.float()[_sample_ids(groups).cpu()]


class LibraryCallCam(CamMethod):
    """pytorch-grad-cam's own call per target group (its whole backward; slow); no raw maps."""

    uses_gradients: ClassVar[bool] = False

    def forward(self, extractor: CamSite, images: Tensor) -> CapturedForward:
        with grad_enabled(), frozen_eval(extractor.net), torch.no_grad():
            images = as_autograd_tensor(images)
            return CapturedForward(images, extractor.net(images), images.new_empty(0))

    def maps(
        self, extractor: CamSite, captured: CapturedForward, groups: list[TargetGroup], *, raw: bool
    ) -> Tensor:
        if raw:
            raise ValueError(
                f"raw CAMs are not available for {self.name} (it runs pytorch-grad-cam's own call)"
            )
        images, maps = captured.images, []
        with frozen_eval(extractor.net), torch.no_grad():
            cam = self.library_class(model=extractor.net, target_layers=[extractor.layer])
            try:
                for group in groups:
                    maps.append(torch.from_numpy(cam(images[group.sample_ids], group.library_targets())))
            finally:
                cam.activations_and_grads.release()
        return normalise_maps(torch.cat(maps).float().to(images.device))


CAM_METHODS: dict[str, CamMethod] = {}
"""Every CAM method by name; :func:`register_cam_method` adds one."""


def register_cam_method(method: CamMethod) -> CamMethod:
    """Add ``method`` to :data:`CAM_METHODS` under ``method.name``; returns it.

    Raises:
        ValueError: the name is taken.
    """
    if method.name in CAM_METHODS:
        raise ValueError(f"CAM method {method.name!r} is registered already")
    CAM_METHODS[method.name] = method
    return method


for _method in (
    ChannelOffsetCam("gradcam", GradCAM),
    LibraryWeightsCam("gradcampp", GradCAMPlusPlus),
    GradientImageCam("hirescam", HiResCAM),
    GradientImageCam("layercam", LayerCAM),
    ProjectionCam("eigencam", EigenCAM, projection=eigen_projection),
    LibraryCallCam("scorecam", ScoreCAM),
):
    register_cam_method(_method)

GRADIENT_METHODS = tuple(name for name, method in CAM_METHODS.items() if method.uses_gradients)
"""The built-in methods that need gradients of the target score."""


def cam_method(name: str) -> CamMethod:
    """The table entry of ``name``.

    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    if name not in CAM_METHODS:
        raise ValueError(f"Unknown CAM method {name!r}; valid: {', '.join(CAM_METHODS)}")
    return CAM_METHODS[name]
