"""CAM methods by name: one table entry each, saying which pytorch-grad-cam class defines it and how it is computed.

Computation paths of :class:`prunescope.cam.extractor.CamExtractor`:

- ``channel_offset``: CAM = Σ_c w_c·A_c with w_c = mean_xy ∂s/∂A_c, taken as the gradient of a zero per-channel
  offset added to the activation (GradCAM);
- ``channel_weights``: CAM = Σ_c w_c·A_c with w from the method's own ``get_cam_weights`` (GradCAM++);
- ``gradient_image``: the method's own ``get_cam_image`` on activations and gradients (HiResCAM, LayerCAM);
- ``activation_image``: a map of the activations alone, no gradient (EigenCAM: ``projection``);
- ``library_call``: pytorch-grad-cam's own call per target group (ScoreCAM; slow).

Adding a method = one entry here + ``conf/cam/<name>.yaml``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM
from pytorch_grad_cam.base_cam import BaseCAM

PATHS = ("channel_offset", "channel_weights", "gradient_image", "activation_image", "library_call")
GRADIENT_PATHS = ("channel_offset", "channel_weights", "gradient_image")


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


@dataclass(frozen=True)
class CamMethod:
    """One CAM method.

    Attributes:
        name: the key users type (``cam.method``, ``conf/cam/<name>.yaml``).
        library_class: the pytorch-grad-cam class whose maps this method reproduces.
        path: how :class:`~prunescope.cam.extractor.CamExtractor` computes it (one of ``PATHS``).
        projection: ``activation_image`` path: activations (B, C, h, w) → maps (B, h, w).
    """

    name: str
    library_class: type[BaseCAM]
    path: str
    projection: Callable[[np.ndarray], np.ndarray] | None = None

    @property
    def uses_gradients(self) -> bool:
        """Whether the CAM needs gradients of the target score."""
        return self.path in GRADIENT_PATHS


CAM_METHODS: dict[str, CamMethod] = {
    method.name: method
    for method in (
        CamMethod("gradcam", GradCAM, "channel_offset"),
        CamMethod("gradcampp", GradCAMPlusPlus, "channel_weights"),
        CamMethod("hirescam", HiResCAM, "gradient_image"),
        CamMethod("layercam", LayerCAM, "gradient_image"),
        CamMethod("eigencam", EigenCAM, "activation_image", projection=eigen_projection),
        CamMethod("scorecam", ScoreCAM, "library_call"),
    )
}
GRADIENT_METHODS = tuple(name for name, method in CAM_METHODS.items() if method.uses_gradients)


def cam_method(name: str) -> CamMethod:
    """The table entry of ``name``.

    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    if name not in CAM_METHODS:
        raise ValueError(f"Unknown CAM method {name!r}; valid: {', '.join(CAM_METHODS)}")
    return CAM_METHODS[name]
