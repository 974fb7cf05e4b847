"""Class activation maps for Sp2PS: targets, the fast CAM engine, baseline/pruned pairs, the Lightning callback."""

from prunescope.cam.callback import Sp2PSCallback
from prunescope.cam.extractor import CamExtractor
from prunescope.cam.methods import CAM_METHODS, GRADIENT_METHODS, CamMethod, cam_method, register_cam_method
from prunescope.cam.pairs import CamPairs, cam_pairs
from prunescope.cam.reference import library_cams
from prunescope.cam.targets import TargetGroup, target_groups

__all__ = [
    "CAM_METHODS",
    "CamMethod",
    "cam_method",
    "register_cam_method",
    "GRADIENT_METHODS",
    "CamExtractor",
    "CamPairs",
    "Sp2PSCallback",
    "TargetGroup",
    "cam_pairs",
    "library_cams",
    "target_groups",
]
