"""Channel-importance criteria, one class per file; each registers itself in ``CRITERIA`` (method name -> class) with
``@register_criterion(name)``, and every module of this package is imported here, so a new file needs no import."""

import importlib
import pkgutil

from prunescope.pruning.criteria.base import Criterion
from prunescope.pruning.criteria.registry import CRITERIA, make_criterion, register_criterion

# The import order is the registration order: CRITERIA lists the methods in it.
# isort: off
from prunescope.pruning.criteria.random import RandomCriterion
from prunescope.pruning.criteria.l1 import L1Criterion
from prunescope.pruning.criteria.l2 import L2Criterion
from prunescope.pruning.criteria.fpgm import FPGMCriterion
from prunescope.pruning.criteria.bn_scale import BNScaleCriterion
from prunescope.pruning.criteria.taylor import TaylorCriterion
from prunescope.pruning.criteria.pca_nci import PCANCICriterion
from prunescope.pruning.criteria.isd import ISDCriterion
# isort: on

for _module in pkgutil.iter_modules(__path__):  # criteria added as new files register after the built-in ones
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "CRITERIA",
    "BNScaleCriterion",
    "Criterion",
    "FPGMCriterion",
    "ISDCriterion",
    "L1Criterion",
    "L2Criterion",
    "PCANCICriterion",
    "RandomCriterion",
    "TaylorCriterion",
    "make_criterion",
    "register_criterion",
]
