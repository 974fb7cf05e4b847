"""Channel-importance criteria, one class per file; ``CRITERIA`` maps method names to classes."""

import inspect

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


def make_criterion(method: str, options: dict | None = None) -> Criterion:
    """Instantiate the criterion ``method`` with its ``options``.

    Raises:
        ValueError: Unknown method or option (the message lists the valid ones).
    """
    if method not in CRITERIA:
        raise ValueError(f"unknown pruning method {method!r}; valid: {', '.join(CRITERIA)}")
    cls = CRITERIA[method]
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options or {}) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for method {method!r}; valid: {valid or 'none'}")
    return cls(**(options or {}))


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
]
