"""Channel-importance criteria, one class per file; ``CRITERIA`` maps method names to classes."""

from prunescope.pruning.criteria.base import Criterion
from prunescope.pruning.criteria.bn_scale import BNScaleCriterion
from prunescope.pruning.criteria.fpgm import FPGMCriterion
from prunescope.pruning.criteria.isd import ISDCriterion
from prunescope.pruning.criteria.l1 import L1Criterion
from prunescope.pruning.criteria.l2 import L2Criterion
from prunescope.pruning.criteria.pca_nci import PCANCICriterion
from prunescope.pruning.criteria.random import RandomCriterion
from prunescope.pruning.criteria.taylor import TaylorCriterion

CRITERIA: dict[str, type[Criterion]] = {
    cls.name: cls
    for cls in (
        RandomCriterion,
        L1Criterion,
        L2Criterion,
        FPGMCriterion,
        BNScaleCriterion,
        TaylorCriterion,
        PCANCICriterion,
        ISDCriterion,
    )
}

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
]
