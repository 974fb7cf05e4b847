"""BatchNorm folding on every network: same output, no BatchNorm left behind a convolution."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from prunescope.deploy import conv_bn_pairs, fold_batch_norm, max_relative_error
from prunescope.models import build_model
from prunescope.models.stand_ins import randomise_batch_norm
from support import TINY_MODELS


@pytest.mark.parametrize("name", sorted(TINY_MODELS))
def test_folding_keeps_the_output_and_removes_batch_norms(name: str) -> None:
    torch.manual_seed(0)
    net = randomise_batch_norm(build_model(name, **TINY_MODELS[name]), seed=0)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = net(x)
    norms_before = sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    folded = fold_batch_norm(net, x[:1])
    with torch.no_grad():
        actual = net(x)
    assert max_relative_error(actual, expected) < 1e-5
    assert len(folded) == norms_before  # every BatchNorm of these networks follows a convolution
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert all(net.get_submodule(conv).bias is not None for conv, _ in folded)


def test_a_batch_norm_after_a_shared_output_is_not_folded() -> None:
    """conv -> (bn, and a skip that adds the raw conv output): folding would change the skip, so it stays."""

    class Skip(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.conv2 = nn.Conv2d(4, 4, 1)
            self.bn2 = nn.BatchNorm2d(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return self.bn2(self.conv2(self.bn(y))) + y

    net = randomise_batch_norm(Skip(), seed=0)
    x = torch.randn(2, 3, 8, 8)
    assert conv_bn_pairs(net, x) == [("conv2", "bn2")]
    with torch.no_grad():
        expected = net(x)
        fold_batch_norm(net, x)
        assert max_relative_error(net(x), expected) < 1e-5
    assert isinstance(net.bn, nn.BatchNorm2d) and isinstance(net.bn2, nn.Identity)
