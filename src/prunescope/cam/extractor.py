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

Methods and how each is computed: :mod:`prunescope.cam.methods` (one table of :class:`~prunescope.cam.methods.CamMethod`
objects; ``eigencam`` is one projection per sample shared by all its targets; ``scorecam`` falls back to
pytorch-grad-cam's own call per target group); the shared parts: :mod:`prunescope.cam.capture`. The extractor
does nothing method-specific: it calls the method's ``forward`` and ``maps``.
"""

from __future__ import annotations

from torch import Tensor, nn

from prunescope.cam.capture import CapturedForward
from prunescope.cam.methods import cam_method
from prunescope.cam.targets import TargetGroup


def resolve_target_layer(net: nn.Module, target_layer: str | None = None) -> tuple[str, nn.Module]:
    """The CAM layer's dotted path and module: ``target_layer`` or else ``net.cam_target_layer``."""
    path = target_layer if target_layer is not None else getattr(net, "cam_target_layer", None)
    if path is None:
        raise ValueError(f"{type(net).__name__} has no cam_target_layer; pass target_layer explicitly")
    try:
        return path, net.get_submodule(path)
    except AttributeError as error:
        raise ValueError(f"CAM target layer {path!r} does not exist in {type(net).__name__}") from error


class CamExtractor:
    """CAMs of one network at one layer for groups of targets.

    Args:
        net: the network (``forward(x)`` → logits); left as found (mode, ``requires_grad``, no hooks).
        method: a key of ``prunescope.cam.methods.CAM_METHODS``.
        target_layer: dotted module path; default ``net.cam_target_layer``.
    """

    def __init__(self, net: nn.Module, method: str = "gradcam", target_layer: str | None = None) -> None:
        self.spec = cam_method(method)
        self.method = method
        self.net = net
        self.layer_path, self.layer = resolve_target_layer(net, target_layer)
        self.library_object = self.spec.library_object(net, self.layer)

    def forward(self, images: Tensor) -> CapturedForward:
        """One forward of the batch as the method needs it (eval mode, frozen parameters)."""
        return self.spec.forward(self, images)

    def cams(self, captured: CapturedForward, groups: list[TargetGroup], *, raw: bool = False) -> Tensor:
        """CAMs of all pairs of ``groups``, concatenated in group order.

        Args:
            captured: result of ``forward`` on the batch.
            groups: target groups of that batch.
            raw: return the per-layer CAM after ReLU at the layer's resolution (N, h, w), before scaling.

        Returns:
            (N, H, W) float32 maps in [0, 1] at the input size (or the raw maps), N = Σ len(group).
        """
        if not groups:
            height, width = captured.images.shape[-2:]
            return captured.images.new_zeros((0, height, width) if not raw else (0, 0, 0))
        return self.spec.maps(self, captured, groups, raw=raw)

    def __call__(self, images: Tensor, groups: list[TargetGroup], *, raw: bool = False) -> Tensor:
        """``cams(forward(images), groups)``."""
        return self.cams(self.forward(images), groups, raw=raw)
