"""U-Net layer (level) pruning: removing k levels keeps the remaining weights, replays, and refuses what cannot be done."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from prunescope.models.unet import UNet
from prunescope.models.vgg16 import VGG16
from prunescope.pruning.layers import remove_unet_levels, require_level_pruning, supports_level_pruning

NUM_CLASSES = 11


@pytest.fixture(scope="module", autouse=True)
def single_thread() -> Iterator[None]:
    """Tiny models run far faster on one intra-op thread, above all on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_unet(depth: int = 3) -> UNet:
    torch.manual_seed(0)
    return UNet(num_classes=NUM_CLASSES, depth=depth, base_channels=4)


def test_remove_one_level_keeps_remaining_weights() -> None:
    net = tiny_unet(depth=3)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    op = remove_unet_levels(net, 1)
    assert op == {"op": "unet_levels", "levels": 1}
    assert net.depth == 2
    after = net.state_dict()
    assert set(after) < set(before)
    assert not any(k.startswith(("down_blocks.2.", "up_blocks.1.")) for k in after)
    for key, value in after.items():
        assert torch.equal(value, before[key]), key
    assert net(torch.randn(1, 3, 16, 16)).shape == (1, NUM_CLASSES, 16, 16)


def test_level_op_replays_on_a_fresh_net() -> None:
    from prunescope.pruning import replay

    net = tiny_unet(depth=3)
    op = remove_unet_levels(net, 2)
    fresh = tiny_unet(depth=3)
    replay(fresh, [op])
    fresh.load_state_dict(net.state_dict())
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(fresh.eval()(x), net.eval()(x))


def test_models_without_levels_are_rejected() -> None:
    vgg = VGG16(num_classes=10, width_mult=0.125)
    assert not supports_level_pruning(vgg)
    assert supports_level_pruning(tiny_unet())
    with pytest.raises(ValueError, match="VGG16.*layers.levels=0"):
        require_level_pruning(vgg)
    with pytest.raises(ValueError, match="remove_deepest_levels"):
        remove_unet_levels(vgg, 1)


def test_too_many_levels_is_rejected() -> None:
    with pytest.raises(ValueError, match="k must be in"):
        remove_unet_levels(tiny_unet(depth=3), 3)
