"""pytorch-grad-cam's own CAM call on target groups: the reference the fast engine is checked and timed against."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from prunescope.cam.extractor import resolve_target_layer
from prunescope.cam.methods import cam_method
from prunescope.cam.targets import TargetGroup


def library_cams(
    net: nn.Module,
    images: Tensor,
    groups: list[TargetGroup],
    *,
    method: str = "gradcam",
    target_layer: str | None = None,
    raw: bool = False,
) -> Tensor:
    """CAMs from pytorch-grad-cam's batched call, one call per target group.

    Args:
        net: the network; its mode and parameter gradients are restored afterwards.
        images: (B, C, H, W) batch.
        groups: target groups (pairs in the order of ``CamExtractor.cams``).
        method: CAM method name.
        target_layer: dotted module path; default ``net.cam_target_layer``.
        raw: return the method's per-layer CAM after ReLU (N, h, w), before any scaling.

    Returns:
        (N, H, W) float32 maps in [0, 1] (pytorch-grad-cam's own scaling), or the raw maps.
    """
    method_class = cam_method(method).library_class
    if method_class is None:
        raise ValueError(f"CAM method {method!r} has no pytorch-grad-cam class to compare with")
    _, layer = resolve_target_layer(net, target_layer)
    was_training = net.training
    saved_grads = [p.grad for p in net.parameters()]
    cam = method_class(model=net, target_layers=[layer])
    maps = []
    try:
        for group in groups:
            inputs = images[group.sample_ids]
            targets = group.library_targets()
            scaled = cam(input_tensor=inputs, targets=targets)
            if not raw:
                maps.append(torch.from_numpy(scaled))
                continue
            recorded = cam.activations_and_grads
            activations = recorded.activations[0].numpy()
            grads = recorded.gradients[0].numpy() if recorded.gradients else None
            per_layer = cam.get_cam_image(inputs, layer, targets, activations, grads, eigen_smooth=False)
            maps.append(torch.from_numpy(np.maximum(per_layer, 0)))
    finally:
        cam.activations_and_grads.release()
        net.train(was_training)
        for p, grad in zip(net.parameters(), saved_grads, strict=True):
            p.grad = grad
    if not maps:
        return images.new_zeros((0, *images.shape[-2:]))
    out = torch.cat(maps).float().to(images.device)
    return out
