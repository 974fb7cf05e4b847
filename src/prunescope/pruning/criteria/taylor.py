"""First-order Taylor criterion (Molchanov et al., CVPR 2019), weight form."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
import torch_pruning as tp
from torch import nn

from prunescope.fp32 import as_fp32, full_precision
from prunescope.pruning.criteria.base import Criterion
from prunescope.pruning.criteria.registry import register_criterion
from prunescope.pruning.groups import ChannelUnit


@register_criterion("taylor")
class TaylorCriterion(Criterion):
    """``s_c = sum_l sum_i |w_i dL/dw_i|`` over the weights i of filter c of every producer conv l.

    ``L`` is the cross-entropy of the model on the calibration batches (``ignore_index`` respected), gradients
    summed over batches with ``torch.autograd.grad`` (no ``.grad`` is touched), in eval mode.
    """

    needs_calibration = True

    def __init__(self, ignore_index: int | None = None) -> None:
        self.ignore_index = -100 if ignore_index is None else int(ignore_index)
        self.gradients: dict[str, torch.Tensor] = {}

    def prepare(
        self,
        model: nn.Module,
        graph: tp.DependencyGraph,
        units: Sequence[ChannelUnit],
        calibration: Iterable | None,
        batches: int,
    ) -> None:
        layers = {m.name: m.module for unit in units for m in unit.producers}
        names = list(layers)
        weights = [layers[name].weight for name in names]
        sums = [torch.zeros_like(w) for w in weights]
        device = weights[0].device
        was_training = model.training
        model.eval()
        seen = 0
        try:
            with torch.enable_grad(), full_precision():  # fp32 gradients under any trainer precision
                for index, (images, targets) in enumerate(calibration):
                    if index >= batches:
                        break
                    logits = model(as_fp32(images.to(device)))
                    loss = F.cross_entropy(logits, targets.to(device).long(), ignore_index=self.ignore_index)
                    for total, grad in zip(
                        sums, torch.autograd.grad(loss, weights, allow_unused=True), strict=True
                    ):
                        if grad is not None:
                            total += grad
                    seen += 1
        finally:
            model.train(was_training)
        if seen == 0:
            raise ValueError("calibration yielded no batches")
        self.gradients = dict(zip(names, sums, strict=True))

    def __call__(self, unit: ChannelUnit) -> torch.Tensor:
        values = [
            (m.filters() * m.filter_grads(self.gradients[m.name])).abs().sum(dim=1) for m in unit.producers
        ]
        return unit.scatter(unit.producers, values)
