"""Random criterion: i.i.d. uniform scores (baseline)."""

from __future__ import annotations

import torch

from prunescope.pruning.criteria.base import Criterion
from prunescope.pruning.criteria.registry import register_criterion
from prunescope.pruning.groups import ChannelUnit


@register_criterion("random")
class RandomCriterion(Criterion):
    """``s_c ~ U(0, 1)`` independently; ``seed`` makes the draw reproducible."""

    def __init__(self, seed: int | None = None) -> None:
        self.generator = torch.Generator()
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(seed)

    def __call__(self, unit: ChannelUnit) -> torch.Tensor:
        return torch.rand(unit.channels, generator=self.generator, dtype=torch.float64)

    def normalise(self, scores: torch.Tensor) -> torch.Tensor:
        return scores
