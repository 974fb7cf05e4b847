"""Contract tests for every registered network (small widths, real forward/backward passes)."""

import pytest
import torch
import torch.nn.functional as F
import torch_pruning as tp
from torch import nn

from prunescope.metrics.efficiency import count_macs, count_params
from prunescope.models import MODELS, SegNet, UNet, build_model, models_for
from prunescope.models.segnet import max_unpool2d
from support import TINY_MODELS

NUM_CLASSES = TINY_MODELS["unet"]["num_classes"]

SEGMENTATION = models_for("segmentation")
SEG_SIZES = [(64, 64), (180, 240), (97, 131)]


def small(name: str, **overrides) -> nn.Module:
    torch.manual_seed(0)
    return build_model(name, **{**TINY_MODELS[name], **overrides})


def input_size(name: str) -> tuple[int, int]:
    """Smallest convenient training input: 32×32 (a multiple of every encoder stride used here)."""
    return (32, 32)


def param_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_registry_holds_the_five_networks():
    assert set(MODELS) == {"unet", "smp_unet", "deeplabv3plus", "segnet", "vgg16"}
    assert set(TINY_MODELS) == set(MODELS)  # every registered model has its test size (tests/support.py)


def test_build_model_rejects_unknown_name_listing_valid_ones():
    with pytest.raises(ValueError, match="nope") as err:
        build_model("nope")
    for name in MODELS:
        assert name in str(err.value)


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("unet", {}),
        ("unet", {"bilinear": True}),
        ("smp_unet", {}),
        ("smp_unet", {"encoder_name": "vgg16_bn"}),
        ("deeplabv3plus", {}),
        ("segnet", {}),
        ("vgg16", {}),
        ("vgg16", {"head": "cifar_fc"}),
        ("vgg16", {"head": "imagenet"}),
    ],
)
def test_forward_backward_reaches_every_parameter(name, overrides):
    net = small(name, **overrides).train()
    x = torch.randn(2, 3, *input_size(name))
    out = net(x)
    expected = (2, net_classes(name), *x.shape[-2:]) if net.task == "segmentation" else (2, 10)
    assert out.shape == expected
    out.square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


def net_classes(name: str) -> int:
    return TINY_MODELS[name]["num_classes"]


@pytest.mark.parametrize("size", SEG_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", SEGMENTATION)
def test_segmentation_logits_match_input_size(name, size):
    net = small(name).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, *size))
    assert out.shape == (1, NUM_CLASSES, *size)
    assert torch.isfinite(out).all()


def test_vgg16_heads_return_class_logits():
    cifar = small("vgg16").eval()
    cifar_fc = small("vgg16", head="cifar_fc").eval()
    imagenet = small("vgg16", head="imagenet").eval()
    with torch.no_grad():
        assert cifar(torch.randn(2, 3, 32, 32)).shape == (2, 10)
        assert cifar_fc(torch.randn(2, 3, 32, 32)).shape == (2, 10)
        assert cifar_fc(torch.randn(1, 3, 64, 64)).shape == (1, 10)  # 2×2 map: spatial mean
        assert imagenet(torch.randn(1, 3, 224, 224)).shape == (1, 10)  # 7×7 map: no pooling
        assert imagenet(torch.randn(1, 3, 64, 64)).shape == (1, 10)  # 2×2 map: adaptive pooling
    with pytest.raises(ValueError, match="cifar"):
        build_model("vgg16", head="tiny")


def test_vgg16_cifar_fc_head_layout_and_cost():
    """The literature's CIFAR VGG-16: 512 → 512 (BN, ReLU, dropout) → 10; the counts quoted in its docstring."""
    small_head = small("vgg16", head="cifar_fc").classifier
    assert [type(m) for m in small_head] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout, nn.Linear]
    assert (small_head[0].in_features, small_head[0].out_features, small_head[4].in_features) == (64, 64, 64)
    net = build_model("vgg16", head="cifar_fc")
    assert net.output_layer_names == ("classifier.4",)
    x = torch.zeros(1, 3, 32, 32)
    assert count_params(net) == 14_991_946
    assert count_macs(net, x) == 313_463_808
    linear_macs = 512 * 512 + 512 * 10
    assert count_macs(net, x) - linear_macs == count_macs(net.features, x)


def test_vgg16_dropout_setting_keeps_layer_names():
    """``dropout=0`` keeps the head's modules (and so every layer name) and makes training forwards repeatable."""
    torch.manual_seed(0)
    net = small("vgg16", head="cifar_fc", dropout=0.0).train()
    assert [type(m) for m in net.classifier][3] is nn.Dropout and net.classifier[3].p == 0.0
    x = torch.randn(4, 3, 32, 32)
    assert torch.equal(net(x), net(x))
    with_dropout = small("vgg16", head="cifar_fc").train()
    assert with_dropout.classifier[3].p == 0.5
    with pytest.raises(ValueError, match="dropout"):
        build_model("vgg16", head="cifar_fc", dropout=1.0)


def test_vgg16_features_are_vgg16_bn():
    net = small("vgg16")
    layers = list(net.features)
    assert sum(isinstance(m, nn.Conv2d) for m in layers) == 13
    assert sum(isinstance(m, nn.BatchNorm2d) for m in layers) == 13
    assert sum(isinstance(m, nn.MaxPool2d) for m in layers) == 5
    assert isinstance(net.get_submodule(net.cam_target_layer), nn.ReLU)
    assert isinstance(layers[int(net.cam_target_layer.split(".")[1]) + 1], nn.MaxPool2d)
    up_to_cam_layer = net.features[: int(net.cam_target_layer.split(".")[1]) + 1]
    with torch.no_grad():  # CIFAR heads: the 4×4 map of 32×32 inputs; ImageNet head: the last (14×14 at 224)
        assert up_to_cam_layer(torch.zeros(1, 3, 32, 32)).shape[-2:] == (4, 4)
    assert small("vgg16", head="imagenet").cam_target_layer == "features.42"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_contract_attributes(name):
    net = small(name)
    assert net.task == ("classification" if name == "vgg16" else "segmentation")
    assert isinstance(net.get_submodule(net.cam_target_layer), nn.Module)
    assert len(net.output_layer_names) >= 1
    for layer_name in net.output_layer_names:
        layer = net.get_submodule(layer_name)
        assert isinstance(layer, nn.Conv2d | nn.Linear)
        out_features = layer.out_channels if isinstance(layer, nn.Conv2d) else layer.out_features
        assert out_features == net_classes(name)
    for a, b in net.channel_ties():
        assert isinstance(net.get_submodule(a), nn.Conv2d)
        assert isinstance(net.get_submodule(b), nn.Conv2d)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_channel_pruning_keeps_contract(name):
    """Torch-Pruning traces the net; after 50 % channel pruning the CAM layer and output layers still resolve."""
    net = small(name).eval()
    example = torch.randn(1, 3, *input_size(name))
    ignored = [net.get_submodule(n) for n in net.output_layer_names]
    before = param_count(net)
    pruner = tp.pruner.MagnitudePruner(
        net,
        example,
        importance=tp.importance.MagnitudeImportance(p=1),
        pruning_ratio=0.5,
        ignored_layers=ignored,
    )
    pruner.step()
    assert param_count(net) < 0.5 * before
    net.get_submodule(net.cam_target_layer)
    for layer_name in net.output_layer_names:
        net.get_submodule(layer_name)
    size = (97, 131) if net.task == "segmentation" else (32, 32)
    with torch.no_grad():
        out = net(torch.randn(1, 3, *size))
    expected = (1, NUM_CLASSES, *size) if net.task == "segmentation" else (1, 10)
    assert out.shape == expected


# --- U-Net layer pruning -------------------------------------------------------------------------------------


def test_unet_layout_and_widths():
    net = UNet(num_classes=3, depth=4, base_channels=8)
    assert net.depth == 4
    assert len(net.up_blocks) == 3
    assert [b.conv2.out_channels for b in net.down_blocks] == [8, 16, 32, 64]
    assert [b.conv.conv2.out_channels for b in net.up_blocks] == [8, 16, 32]
    with pytest.raises(ValueError, match="depth"):
        UNet(num_classes=3, depth=0)


@pytest.mark.parametrize("bilinear", [False, True])
def test_unet_remove_deepest_level_keeps_remaining_weights(bilinear):
    net = small("unet", depth=4, bilinear=bilinear)
    # Make BN statistics non-trivial so the comparison covers buffers too.
    net.train()
    net(torch.randn(2, 3, 64, 64))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    params_before = param_count(net)

    net.remove_deepest_levels(1)

    after = net.state_dict()
    assert net.depth == 3
    assert len(net.up_blocks) == 2
    assert set(after) < set(before)
    assert not any(k.startswith(("down_blocks.3.", "up_blocks.2.")) for k in after)
    for key, value in after.items():
        assert torch.equal(value, before[key]), key
    assert param_count(net) < params_before
    net.get_submodule(net.cam_target_layer)
    net.eval()
    with torch.no_grad():
        for size in [(64, 64), (97, 131)]:
            assert net(torch.randn(1, 3, *size)).shape == (1, NUM_CLASSES, *size)


def test_unet_remove_levels_down_to_one_and_rejects_too_many():
    net = small("unet", depth=4)
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        net.remove_deepest_levels(4)
    with pytest.raises(ValueError, match="k must be"):
        net.remove_deepest_levels(-1)
    net.remove_deepest_levels(0)
    assert net.depth == 4
    net.remove_deepest_levels(3)
    assert net.depth == 1
    assert len(net.up_blocks) == 0
    assert net.cam_target_layer == "down_blocks.0"
    net.get_submodule(net.cam_target_layer)
    assert net(torch.randn(1, 3, 33, 35)).shape == (1, NUM_CLASSES, 33, 35)
    with pytest.raises(ValueError, match=r"\[0, 0\]"):
        net.remove_deepest_levels(1)


def test_unet_remove_levels_after_mismatched_channel_pruning_fails_clearly():
    net = small("unet", depth=4).eval()
    graph = tp.DependencyGraph().build_dependency(net, example_inputs=torch.randn(1, 3, 64, 64))
    group = graph.get_pruning_group(net.down_blocks[2].conv2, tp.prune_conv_out_channels, idxs=[0])
    group.prune()
    assert net.down_blocks[2].conv2.out_channels == 15
    with pytest.raises(ValueError, match="before channel pruning"):
        net.remove_deepest_levels(1)
    assert net.depth == 4  # nothing was deleted


# --- SegNet ----------------------------------------------------------------------------------------------------


def test_segnet_structure_and_channel_ties():
    net = SegNet(num_classes=NUM_CLASSES, width_mult=0.25)
    enc_convs = [m for s in net.encoder_stages() for m in s.modules() if isinstance(m, nn.Conv2d)]
    dec_convs = [m for s in net.decoder_stages() for m in s.modules() if isinstance(m, nn.Conv2d)]
    assert len(enc_convs) == 13
    assert len(dec_convs) + 1 == 13  # + head
    assert [c.out_channels for c in enc_convs] == [16, 16, 32, 32, 64, 64, 64, 128, 128, 128, 128, 128, 128]
    ties = net.channel_ties()
    assert ties == [
        ("enc1.1.conv", "dec2.1.conv"),
        ("enc2.1.conv", "dec3.2.conv"),
        ("enc3.2.conv", "dec4.2.conv"),
        ("enc4.2.conv", "dec5.2.conv"),
    ]
    for a, b in ties:
        assert net.get_submodule(a).out_channels == net.get_submodule(b).out_channels


def test_segnet_tie_partner_output_is_what_gets_unpooled():
    """The second conv of each tie feeds the unpooling that uses the first conv's stage indices."""
    net = small("segnet").eval()
    shapes: dict[str, torch.Size] = {}
    hooks = [
        net.get_submodule(name).register_forward_hook(
            lambda m, i, o, name=name: shapes.__setitem__(name, o.shape)
        )
        for pair in net.channel_ties()
        for name in pair
    ]
    try:
        with torch.no_grad():
            net(torch.randn(1, 3, 97, 131))
    finally:
        for hook in hooks:
            hook.remove()
    for enc, dec in net.channel_ties():
        # decoder output is at the encoder stage's pooled resolution (half, floored) with the same channels
        assert shapes[dec][1] == shapes[enc][1]
        assert shapes[dec][-2:] == (shapes[enc][-2] // 2, shapes[enc][-1] // 2)


def test_max_unpool2d_matches_torch_and_is_deterministic():
    x = torch.randn(2, 3, 13, 17)
    pooled, indices = F.max_pool2d(x, 2, stride=2, return_indices=True)
    expected = F.max_unpool2d(pooled, indices, 2, stride=2, output_size=(13, 17))
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        values = pooled.clone().requires_grad_()
        out = max_unpool2d(values, indices, (13, 17))
        out.sum().backward()
    finally:
        torch.use_deterministic_algorithms(previous)
    assert torch.equal(out, expected)
    assert torch.equal(values.grad, torch.ones_like(pooled))
    with pytest.raises(ValueError, match="differ"):
        max_unpool2d(pooled[:, :2], indices, (13, 17))


def test_segnet_trains_under_deterministic_algorithms():
    """F.max_unpool2d would raise here even on CPU; SegNet's scatter-based unpooling must not."""
    net = small("segnet").train()
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        net(torch.randn(2, 3, 33, 45)).square().mean().backward()
    finally:
        torch.use_deterministic_algorithms(previous)
    assert net.enc1[0].conv.weight.grad.abs().sum() > 0


# --- smp wrappers ----------------------------------------------------------------------------------------------


def test_smp_wrappers_pad_to_encoder_stride():
    unet = small("smp_unet")
    deeplab = small("deeplabv3plus")
    assert unet.input_multiple == 8  # 2**encoder_depth
    assert unet.model.encoder.output_stride == 8
    assert deeplab.input_multiple == 16
    with pytest.raises(ValueError, match="decoder_channels"):
        build_model("smp_unet", num_classes=3, encoder_depth=3, decoder_channels=(8, 4))
    with pytest.raises(ValueError, match="8 or 16"):
        build_model("deeplabv3plus", num_classes=3, encoder_output_stride=32)


def test_smp_unet_drops_encoder_layers_it_never_runs():
    encoder = small("smp_unet").model.encoder  # resnet18, encoder_depth=3
    assert not hasattr(encoder, "layer3")
    assert not hasattr(encoder, "layer4")
    assert isinstance(encoder.layer2, nn.Module)
