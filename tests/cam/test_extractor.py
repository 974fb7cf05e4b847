"""Fast CAM engine: equal to pytorch-grad-cam's own call, state left untouched, hooks released."""

from __future__ import annotations

import copy
import gc
import warnings

import pytest
import torch
from pytorch_grad_cam import GradCAM
from torch import nn

from prunescope.cam import GRADIENT_METHODS, CamExtractor, cam_pairs, library_cams, target_groups
from prunescope.metrics import Sp2PS
from prunescope.models import build_model

IGNORE = 255


def relative_difference(mine: torch.Tensor, reference: torch.Tensor) -> float:
    return float((mine - reference).abs().max() / reference.abs().max())


SEGMENTATION_CASES = [
    *[(method, layer) for method in GRADIENT_METHODS for layer in (None, "model.decoder.blocks.1")],
    ("eigencam", "model.decoder.blocks.1"),  # the library's full SVD at full resolution takes seconds
]


@pytest.mark.parametrize(("method", "layer"), SEGMENTATION_CASES)
def test_segmentation_cams_equal_pytorch_grad_cam(seg_net, seg_batch, method, layer) -> None:
    images, labels = seg_batch
    extractor = CamExtractor(seg_net, method, layer)
    captured = extractor.forward(images)
    groups = target_groups("segmentation", labels, captured.logits.detach(), ignore_index=IGNORE)
    assert sum(len(g) for g in groups) == 8  # 3 + 3 + 2 pairs: several classes per image
    raw = extractor.cams(captured, groups, raw=True)
    reference_raw = library_cams(seg_net, images, groups, method=method, target_layer=layer, raw=True)
    assert reference_raw.abs().max() > 0
    assert relative_difference(raw, reference_raw) <= 1e-5
    scaled = extractor(images, groups)
    reference = library_cams(seg_net, images, groups, method=method, target_layer=layer)
    assert scaled.shape == (8, 32, 48)
    torch.testing.assert_close(scaled, reference, atol=1e-4, rtol=0)  # cv2 vs torch bilinear resize


@pytest.mark.parametrize("method", [*GRADIENT_METHODS, "eigencam"])
@pytest.mark.parametrize("layer", [None, "features.32"])
def test_classification_cams_equal_pytorch_grad_cam(cls_net, method, layer) -> None:
    images = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    extractor = CamExtractor(cls_net, method, layer)
    captured = extractor.forward(images)
    groups = target_groups("classification", labels, captured.logits.detach(), target="gt")
    raw = extractor.cams(captured, groups, raw=True)
    reference_raw = library_cams(cls_net, images, groups, method=method, target_layer=layer, raw=True)
    assert reference_raw.abs().max() > 0
    assert relative_difference(raw, reference_raw) <= 1e-5
    torch.testing.assert_close(
        extractor(images, groups),
        library_cams(cls_net, images, groups, method=method, target_layer=layer),
        atol=1e-4,
        rtol=0,
    )


@pytest.mark.parametrize(
    ("name", "knobs"),
    [
        ("unet", {"depth": 2, "base_channels": 4}),
        ("segnet", {"width_mult": 0.125}),
        ("deeplabv3plus", {"decoder_channels": 16}),
    ],
)
def test_project_segmentation_models_cams_equal_pytorch_grad_cam(seg_batch, name, knobs) -> None:
    torch.manual_seed(3)
    net = build_model(name, num_classes=4, **knobs).eval()
    images, labels = seg_batch
    groups = target_groups("segmentation", labels, None, ignore_index=IGNORE)
    for method in ("gradcam", "layercam"):
        raw = CamExtractor(net, method)(images, groups, raw=True)
        reference_raw = library_cams(net, images, groups, method=method, raw=True)
        assert reference_raw.abs().max() > 0
        assert relative_difference(raw, reference_raw) <= 1e-5


def test_same_model_scores_one(seg_net, seg_batch, cls_net) -> None:
    images, labels = seg_batch
    pairs = cam_pairs(seg_net, copy.deepcopy(seg_net), images, labels, ignore_index=IGNORE)
    metric = Sp2PS(num_classes=4)
    metric.update(pairs.h0, pairs.h1, pairs.class_ids)
    result = metric.compute()
    assert result["pairs"] + result["skipped"] == 8 and result["pairs"] > 0
    assert result["sp2ps"] == pytest.approx(1.0, abs=1e-6)
    assert all(v == pytest.approx(1.0, abs=1e-6) for v in result["per_class"].values())

    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    pairs = cam_pairs(cls_net, cls_net, images, torch.zeros(4, dtype=torch.long), target_layer="features.32")
    metric = Sp2PS()
    metric.update(pairs.h0, pairs.h1)
    result = metric.compute()
    assert result["pairs"] > 0 and result["sp2ps"] == pytest.approx(1.0, abs=1e-6)


def test_perturbed_model_scores_below_one(seg_net, seg_batch, perturbed_copy) -> None:
    images, labels = seg_batch
    pairs = cam_pairs(seg_net, perturbed_copy(seg_net, scale=0.5), images, labels, ignore_index=IGNORE)
    metric = Sp2PS()
    metric.update(pairs.h0, pairs.h1)
    assert 0.0 < metric.compute()["sp2ps"] < 0.99
    assert set(pairs.class_ids.tolist()) == {0, 1, 2, 3}  # 255 never a target


def test_targets_follow_labels_or_baseline_prediction(cls_net, seg_net, seg_batch) -> None:
    images = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    labels = torch.tensor([9, 8, IGNORE, 6, 5])
    with torch.no_grad():
        predicted = cls_net(images).argmax(dim=1)
    by_label = cam_pairs(cls_net, cls_net, images, labels, target="gt", ignore_index=IGNORE)
    assert by_label.class_ids.tolist() == [9, 8, 6, 5] and by_label.sample_ids.tolist() == [0, 1, 3, 4]
    by_prediction = cam_pairs(cls_net, cls_net, images, labels)  # "auto" = baseline_pred for classification
    assert by_prediction.class_ids.tolist() == predicted.tolist()

    seg_images, seg_labels = seg_batch
    with torch.no_grad():
        seg_predicted = seg_net(seg_images).argmax(dim=1)
    groups = target_groups(
        "segmentation", seg_labels, seg_net(seg_images), target="baseline_pred", ignore_index=IGNORE
    )
    for group in groups:
        for sample, c, mask in zip(group.sample_ids, group.class_ids, group.masks, strict=True):
            expected = (seg_predicted[sample] == c) & (seg_labels[sample] != IGNORE)
            assert torch.equal(mask.bool(), expected)


def library_default_cams(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """pytorch-grad-cam's GradCAM with ``targets=None`` (each sample's top class) at ``net.cam_target_layer``."""
    was_training = net.training
    cam = GradCAM(model=net, target_layers=[net.get_submodule(net.cam_target_layer)])
    try:
        return torch.from_numpy(cam(input_tensor=images, targets=None))
    finally:
        cam.activations_and_grads.release()
        net.train(was_training)


def test_own_pred_equals_pytorch_grad_cam_default_targets(cls_net, perturbed_copy) -> None:
    images = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    pruned = perturbed_copy(cls_net, scale=0.2, seed=2)
    with (
        torch.no_grad()
    ):  # raise the runner-up class of the "pruned" model until it wins for about half the samples
        logits = pruned(images)
        top2 = logits.topk(2, dim=1)
        other = int(top2.indices[0, 1])
        margins = (top2.values[:, 0] - logits[:, other]).sort().values
        pruned.classifier[0].bias[other] += (margins[3] + margins[4]) / 2
        own, baseline_own = pruned(images).argmax(dim=1), cls_net(images).argmax(dim=1)
    assert 0 < int((own != baseline_own).sum()) < 8  # own_pred and baseline_pred differ for some samples
    pairs = cam_pairs(cls_net, pruned, images, torch.zeros(8, dtype=torch.long), target="own_pred")
    torch.testing.assert_close(pairs.h0, library_default_cams(cls_net, images), atol=1e-4, rtol=0)
    torch.testing.assert_close(pairs.h1, library_default_cams(pruned, images), atol=1e-4, rtol=0)
    assert pairs.class_ids.tolist() == baseline_own.tolist() and pairs.sample_ids.tolist() == list(range(8))
    by_baseline = cam_pairs(cls_net, pruned, images, torch.zeros(8, dtype=torch.long), target="baseline_pred")
    assert not torch.allclose(by_baseline.h1, pairs.h1, atol=1e-3)


def test_own_pred_segmentation_uses_each_models_predicted_masks(seg_net, seg_batch, perturbed_copy) -> None:
    images, labels = seg_batch
    pruned = perturbed_copy(seg_net, scale=0.5, seed=2)
    pairs = cam_pairs(seg_net, pruned, images, labels, target="own_pred", ignore_index=IGNORE)
    with torch.no_grad():
        own = target_groups("segmentation", labels, pruned(images), target="own_pred", ignore_index=IGNORE)
        base = target_groups("segmentation", labels, seg_net(images), target="own_pred", ignore_index=IGNORE)
    torch.testing.assert_close(pairs.h1, library_cams(pruned, images, own), atol=1e-4, rtol=0)
    torch.testing.assert_close(pairs.h0, library_cams(seg_net, images, base), atol=1e-4, rtol=0)


def test_engine_leaves_model_state_and_releases_hooks(seg_net, seg_batch, perturbed_copy) -> None:
    images, labels = seg_batch
    net = copy.deepcopy(seg_net).train()
    frozen = next(net.parameters())
    frozen.requires_grad_(False)
    flags = [p.requires_grad for p in net.parameters()]
    other = perturbed_copy(seg_net)

    def live_tensors() -> int:
        gc.collect()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # isinstance on torch's deprecated lazy objects warns
            return sum(1 for obj in gc.get_objects() if isinstance(obj, torch.Tensor))

    cam_pairs(net, other, images, labels, task="segmentation", ignore_index=IGNORE)
    before = live_tensors()
    for _ in range(50):
        cam_pairs(net, other, images, labels, task="segmentation", ignore_index=IGNORE)
    assert live_tensors() <= before + 5
    assert net.training
    assert [p.requires_grad for p in net.parameters()] == flags
    assert all(p.grad is None for p in net.parameters())
    for model in (net, other):
        assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())


def test_engine_works_inside_inference_mode_and_no_grad(seg_net, seg_batch) -> None:
    images, labels = seg_batch
    expected = cam_pairs(seg_net, seg_net, images, labels, ignore_index=IGNORE)
    with torch.inference_mode():
        inference_images, inference_labels = images.clone(), labels.clone()
        pairs = cam_pairs(seg_net, seg_net, inference_images, inference_labels, ignore_index=IGNORE)
    torch.testing.assert_close(pairs.h0, expected.h0)
    assert not pairs.h0.is_inference()
    with torch.no_grad():
        torch.testing.assert_close(
            cam_pairs(seg_net, seg_net, images, labels, ignore_index=IGNORE).h1, expected.h1
        )


def test_scorecam_falls_back_to_pytorch_grad_cam(seg_batch) -> None:
    torch.manual_seed(6)
    net = build_model("unet", num_classes=4, depth=2, base_channels=2).eval()
    images, labels = seg_batch
    groups = target_groups("segmentation", labels[:1], None, ignore_index=IGNORE)
    maps = CamExtractor(net, "scorecam")(images[:1], groups)
    assert maps.shape == (3, 32, 48)
    assert maps.min() >= 0 and maps.max() <= 1
    with pytest.raises(ValueError, match="scorecam"):
        CamExtractor(net, "scorecam")(images[:1], groups, raw=True)


def test_bad_arguments_raise(seg_net) -> None:
    with pytest.raises(ValueError, match="valid: gradcam"):
        CamExtractor(seg_net, "gradcam+++")
    with pytest.raises(ValueError, match="does not exist"):
        CamExtractor(seg_net, "gradcam", "model.nowhere")
    with pytest.raises(ValueError, match="cam_target_layer"):
        CamExtractor(nn.Sequential(nn.Conv2d(3, 2, 1)), "gradcam")
    with pytest.raises(ValueError, match="Unknown CAM target"):
        target_groups("segmentation", torch.zeros(1, 8, 8, dtype=torch.long), None, target="pred")
    with pytest.raises(ValueError, match="ignore_index"):
        labels = torch.full((1, 32, 32), IGNORE, dtype=torch.long)
        cam_pairs(seg_net, seg_net, torch.randn(1, 3, 32, 32), labels)
    with pytest.raises(ValueError, match="Unknown task"):
        target_groups("detection", torch.zeros(1, 8, 8, dtype=torch.long), None)


def test_dense_score_gradient_is_the_gradient_of_the_target_score(seg_batch) -> None:
    images, labels = seg_batch
    logits = torch.randn(3, 4, 32, 48, requires_grad=True)
    groups = target_groups("segmentation", labels, None, ignore_index=IGNORE)
    groups += target_groups("classification", torch.tensor([2, 0, 3]), None, target="gt")
    for group in groups:
        flat_logits = logits if group.masks is not None else logits.mean(dim=(2, 3))
        (expected,) = torch.autograd.grad(group.score(flat_logits), flat_logits)
        torch.testing.assert_close(group.score_gradient(flat_logits.detach()), expected)
    assert [len(g) for g in groups[:-1]] == [3, 3, 2]  # group k = k-th class of each image
