"""CAM targets of a batch: which (sample, class[, mask]) pairs get a CAM, grouped for one gradient call each.

A ``TargetGroup`` holds pairs whose samples are all different, so the gradient of the sum of their target
scores gives every sample its own gradient in one ``torch.autograd.grad`` call (samples are independent in
eval mode). Segmentation: group k holds the k-th ground-truth class (ascending, ignore index excluded) of
every sample that has more than k classes; classification: one group for the whole batch.

Target modes (``target``):

- ``"gt"``: segmentation → the ground-truth mask of class c; classification → the label.
- ``"baseline_pred"``: segmentation → the baseline's predicted mask of c
  (ignore pixels removed; the classes are still those of the ground truth, so a class the baseline never
  predicts gets an empty mask, hence constant CAMs in both models, and is skipped); classification → the
  baseline's predicted class.
- ``"own_pred"``: each model explains its own prediction (pytorch-grad-cam's ``targets=None``): classification →
  each model's own top class; segmentation → each model's own predicted mask of c (classes from the ground
  truth). The groups are built from the explaining model's logits (see ``prunescope.cam.pairs``).
- ``"auto"``: the Sp2PS definition's default, ``"gt"`` for segmentation and ``"baseline_pred"`` for
  classification.

The pytorch-grad-cam target objects of each pair (``library_targets``) define the same scores; the fast engine
evaluates them vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget, SemanticSegmentationTarget
from torch import Tensor

TASKS = ("segmentation", "classification")
TARGET_MODES = ("auto", "gt", "baseline_pred", "own_pred")


@dataclass(frozen=True)
class TargetGroup:
    """Target pairs with distinct samples: scored together, one gradient call.

    Attributes:
        sample_ids: (n,) int64 indices into the batch, all different.
        class_ids: (n,) int64 target class of each pair.
        masks: (n, H, W) float32 pixel masks of the target (segmentation) or None (classification).
    """

    sample_ids: Tensor
    class_ids: Tensor
    masks: Tensor | None

    def __len__(self) -> int:
        return int(self.sample_ids.numel())

    def score(self, logits: Tensor) -> Tensor:
        """Σ over pairs of the target score: Σ_p Σ_xy logits[s_p, c_p, y, x]·mask_p(y, x), or Σ_p logits[s_p, c_p]."""
        selected = logits[self.sample_ids, self.class_ids]
        if self.masks is None:
            return selected.sum()
        return (selected * self.masks).sum()

    def score_gradient(self, logits: Tensor) -> Tensor:
        """∂score/∂logits, dense like ``logits``: the masks (or 1) at [s_p, c_p], zero elsewhere."""
        return self.write_score_gradient(torch.zeros_like(logits))

    def write_score_gradient(self, gradient: Tensor) -> Tensor:
        """Write ∂score/∂logits into ``gradient`` (shaped like the logits, zero at this group's entries) and
        return it: the masks (or 1) at [s_p, c_p]; other entries are left as they are."""
        if self.masks is None:
            gradient[self.sample_ids, self.class_ids] = 1.0
        else:
            gradient[self.sample_ids, self.class_ids] = self.masks.to(gradient.dtype)
        return gradient

    def library_targets(self) -> list[ClassifierOutputTarget | SemanticSegmentationTarget]:
        """The same targets as pytorch-grad-cam objects, one per pair (for its own CAM call)."""
        if self.masks is None:
            return [ClassifierOutputTarget(int(c)) for c in self.class_ids]
        return [
            SemanticSegmentationTarget(int(c), mask.detach().cpu().numpy())
            for c, mask in zip(self.class_ids, self.masks, strict=True)
        ]


def resolve_target_mode(target: str, task: str) -> str:
    """Map a target name to ``"gt"``, ``"baseline_pred"`` or ``"own_pred"`` for ``task`` (``"auto"`` picks by task)."""
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; valid: {', '.join(TASKS)}")
    mode = target
    if mode not in TARGET_MODES:
        raise ValueError(f"Unknown CAM target {target!r}; valid: {', '.join(TARGET_MODES)}")
    if mode == "auto":
        return "gt" if task == "segmentation" else "baseline_pred"
    return mode


def segmentation_groups(
    labels: Tensor, baseline_logits: Tensor | None, *, target: str = "gt", ignore_index: int | None = None
) -> list[TargetGroup]:
    """Targets for every (sample, class present in its ground truth ``labels`` (B, H, W)), ignore index excluded.

    Group k holds the k-th class (ascending) of every sample that has more than k classes, so the number of
    gradient calls is the largest number of classes in one image, not the number of classes in the batch.

    Args:
        labels: ground truth (B, H, W) int64.
        baseline_logits: baseline output (B, K, H, W); needed for ``target="baseline_pred"`` (for
            ``"own_pred"``: the explaining model's output).
        target: ``"gt"``, ``"baseline_pred"`` or ``"own_pred"``.
        ignore_index: void label, never a target and never part of a mask.
    """
    mode = resolve_target_mode(target, "segmentation")
    if labels.ndim != 3:
        raise ValueError(f"Segmentation targets need labels of shape (B, H, W); got {tuple(labels.shape)}")
    known = labels != ignore_index if ignore_index is not None else torch.ones_like(labels, dtype=torch.bool)
    if mode in ("baseline_pred", "own_pred"):
        if baseline_logits is None:
            raise ValueError(f"target={mode!r} needs the model's logits")
        mask_source = baseline_logits.argmax(dim=1)
    else:
        mask_source = labels
    valid_labels = labels[known] if ignore_index is not None else labels.flatten()
    if valid_labels.numel() == 0:
        return []
    if valid_labels.min() >= 0:  # bincount: one pass instead of unique's sort
        classes = torch.nonzero(torch.bincount(valid_labels)).flatten()
    else:
        classes = torch.unique(valid_labels)
    if classes.numel() == 0:
        return []
    present = torch.stack([((labels == c) & known).flatten(1).any(dim=1) for c in classes], dim=1)  # (B, K')
    rank = present.long().cumsum(dim=1) - 1  # rank of each present class within its sample
    groups = []
    for k in range(int(present.sum(dim=1).max())):
        sample_ids, class_index = torch.nonzero(present & (rank == k), as_tuple=True)
        class_ids = classes[class_index]
        masks = ((mask_source[sample_ids] == class_ids[:, None, None]) & known[sample_ids]).float()
        groups.append(TargetGroup(sample_ids, class_ids, masks))
    return groups


def classification_groups(
    labels: Tensor,
    baseline_logits: Tensor | None,
    *,
    target: str = "baseline_pred",
    ignore_index: int | None = None,
) -> list[TargetGroup]:
    """One group holding every sample, targeting its label (``"gt"``) or the baseline's prediction.

    Args:
        labels: (B,) int64 class labels.
        baseline_logits: baseline output (B, K); needed for ``target="baseline_pred"`` (for ``"own_pred"``: the
            explaining model's output).
        target: ``"gt"``, ``"baseline_pred"`` or ``"own_pred"``.
        ignore_index: samples with this label are left out (``"gt"`` only).
    """
    mode = resolve_target_mode(target, "classification")
    if mode in ("baseline_pred", "own_pred"):
        if baseline_logits is None:
            raise ValueError(f"target={mode!r} needs the model's logits")
        class_ids = baseline_logits.argmax(dim=1)
        sample_ids = torch.arange(class_ids.numel(), device=class_ids.device)
    else:
        keep = (
            labels != ignore_index if ignore_index is not None else torch.ones_like(labels, dtype=torch.bool)
        )
        sample_ids = torch.nonzero(keep).flatten()
        class_ids = labels[sample_ids]
    if sample_ids.numel() == 0:
        return []
    return [TargetGroup(sample_ids, class_ids.long(), None)]


def target_groups(
    task: str,
    labels: Tensor,
    baseline_logits: Tensor | None,
    *,
    target: str = "auto",
    ignore_index: int | None = None,
) -> list[TargetGroup]:
    """Target groups of a batch for ``task`` (see the module docstring for the target modes)."""
    mode = resolve_target_mode(target, task)
    build = segmentation_groups if task == "segmentation" else classification_groups
    return build(labels, baseline_logits, target=mode, ignore_index=ignore_index)
