"""Baseline/pruned CAM pairs of one batch, ready for ``Sp2PS.update``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from prunescope.cam.capture import as_autograd_tensor, grad_enabled
from prunescope.cam.extractor import CamExtractor
from prunescope.cam.targets import resolve_target_mode, target_groups
from prunescope.fp32 import as_fp32, full_precision


@dataclass(frozen=True)
class CamPairs:
    """CAM pairs of one batch: pair p is sample ``sample_ids[p]`` with target class ``class_ids[p]``.

    Attributes:
        h0: baseline CAMs (P, H, W) in [0, 1].
        h1: pruned-model CAMs (P, H, W) in [0, 1], same targets (``own_pred``: same samples, the pruned
            model's own class or predicted mask).
        class_ids: (P,) int64 (``own_pred``: the baseline's class).
        sample_ids: (P,) int64 indices into the batch.
    """

    h0: Tensor
    h1: Tensor
    class_ids: Tensor
    sample_ids: Tensor

    def __len__(self) -> int:
        return int(self.class_ids.numel())


def cam_pairs(
    baseline: nn.Module,
    pruned: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    task: str | None = None,
    method: str = "gradcam",
    target_layer: str | None = None,
    target: str = "auto",
    ignore_index: int | None = None,
) -> CamPairs:
    """CAMs of the baseline and the pruned model for every target of a batch.

    One hooked forward per model, then one partial backward per target group (classification: one; segmentation:
    as many as the most classes in one image). The targets (one per sample for classification, one per class
    present in each sample's ground truth for segmentation) come from the labels or the baseline's output
    (see ``prunescope.cam.targets``). Works inside ``torch.inference_mode()`` and ``torch.no_grad()``; always in fp32
    (autocast off, low-precision images cast up) and with either memory layout of weights and images.

    Args:
        baseline: the reference network.
        pruned: the pruned network (same task and classes).
        images: (B, C, H, W) input batch.
        labels: (B, H, W) masks or (B,) labels.
        task: ``"segmentation"`` or ``"classification"``; default ``baseline.task``.
        method: CAM method, a key of ``prunescope.cam.methods.CAM_METHODS``.
        target_layer: dotted module path used in both models; default ``baseline.cam_target_layer``.
        target: ``"auto"``, ``"gt"``, ``"baseline_pred"`` or ``"own_pred"`` (each model explains its own
            prediction).
        ignore_index: void label (segmentation: never a target; classification ``"gt"``: sample left out).
    """
    task = task if task is not None else getattr(baseline, "task", None)
    if task is None:
        raise ValueError(
            f"{type(baseline).__name__} has no task attribute; pass task='segmentation' or 'classification'"
        )
    baseline_cams = CamExtractor(baseline, method, target_layer)
    pruned_cams = CamExtractor(pruned, method, baseline_cams.layer_path)
    with grad_enabled(), full_precision():  # fp32 CAMs, also inside a bf16-mixed trainer's hooks
        images = as_fp32(as_autograd_tensor(images))
        labels = as_autograd_tensor(labels).to(images.device)
        captured = baseline_cams.forward(images)
        groups = target_groups(
            task, labels, captured.logits.detach(), target=target, ignore_index=ignore_index
        )
        outputs = captured.logits.shape[1]
        if any(int(group.class_ids.max()) >= outputs for group in groups):
            raise ValueError(
                f"a target class is outside the model's {outputs} outputs; is the void label set as ignore_index?"
            )
        h0 = baseline_cams.cams(captured, groups)
        del captured
        if resolve_target_mode(target, task) == "own_pred":
            pruned_captured = pruned_cams.forward(images)
            own_groups = target_groups(
                task, labels, pruned_captured.logits.detach(), target=target, ignore_index=ignore_index
            )
            h1 = pruned_cams.cams(pruned_captured, own_groups)
        else:
            h1 = pruned_cams(images, groups)
    if groups:
        class_ids = torch.cat([group.class_ids for group in groups])
        sample_ids = torch.cat([group.sample_ids for group in groups])
    else:
        class_ids = sample_ids = torch.zeros(0, dtype=torch.long, device=images.device)
    return CamPairs(h0, h1, class_ids, sample_ids)
