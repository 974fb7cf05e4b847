"""Efficiency counters against hand counts on tiny real networks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from prunescope.metrics.efficiency import (
    LATENCY_RUNTIME,
    compare_latency,
    count_macs,
    count_params,
    measure_latency,
    measure_latency_ms,
    model_size_mb,
    profile_model,
    time_interleaved,
)


def tiny_net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),  # 3*4*9 + 4 = 112 params
        nn.BatchNorm2d(4),  # 8 params (running stats are buffers)
        nn.ReLU(),
        nn.Conv2d(4, 2, 1, bias=False),  # 8 params
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2, 5),  # 15 params
    )


def test_count_params_equals_hand_count() -> None:
    assert count_params(tiny_net()) == 112 + 8 + 8 + 15


def test_count_macs_equals_hand_count() -> None:
    x = torch.randn(2, 3, 8, 8)
    expected = 2 * (4 * 8 * 8 * 3 * 9 + 2 * 8 * 8 * 4 * 1 + 2 * 5)
    assert count_macs(tiny_net(), x) == expected


@pytest.mark.parametrize(
    ("c_in", "c_out", "stride", "groups", "size"),
    [(3, 8, 1, 1, 10), (4, 6, 2, 1, 9), (4, 8, 1, 2, 7)],
)
def test_macs_of_3x3_conv_match_formula(c_in: int, c_out: int, stride: int, groups: int, size: int) -> None:
    conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, groups=groups)
    h_out = (size + 2 - 3) // stride + 1
    expected = c_out * h_out * h_out * (c_in // groups) * 9
    assert count_macs(conv, torch.randn(1, c_in, size, size)) == expected


def test_model_size_tracks_parameter_bytes() -> None:
    small = nn.Conv2d(16, 16, 3)
    big = nn.Conv2d(64, 64, 3)
    small_mb, big_mb = model_size_mb(small), model_size_mb(big)
    assert small_mb >= count_params(small) * 4 / 2**20
    # the float32 payload dominates: the difference is the extra parameter bytes (plus a little pickle overhead)
    extra_mb = (count_params(big) - count_params(small)) * 4 / 2**20
    assert big_mb - small_mb == pytest.approx(extra_mb, rel=0.01)


def test_latency_is_positive_and_grows_with_work() -> None:
    torch.manual_seed(0)
    cheap = nn.Conv2d(3, 4, 3, padding=1)
    costly = nn.Sequential(*[nn.Conv2d(64, 64, 3, padding=1) for _ in range(4)])
    cheap_ms = measure_latency_ms(cheap, torch.randn(1, 3, 32, 32), warmup=1, repeats=5)
    costly_ms = measure_latency_ms(costly, torch.randn(1, 64, 32, 32), warmup=1, repeats=5)
    assert 0 < cheap_ms < costly_ms


def test_latency_rejects_bad_repeats() -> None:
    with pytest.raises(ValueError, match="repeats"):
        measure_latency_ms(nn.Identity(), torch.zeros(1), repeats=0)


def test_latency_records_runtime_batch_and_threads() -> None:
    latency = measure_latency(tiny_net(), torch.randn(3, 3, 8, 8), warmup=1, repeats=2)
    assert latency.ms > 0
    assert (latency.runtime, latency.batch, latency.threads) == (LATENCY_RUNTIME, 3, torch.get_num_threads())
    assert (latency.warmup, latency.repeats) == (1, 2)
    assert latency.fields() == {
        "latency_ms": latency.ms,
        "latency_runtime": "eager",
        "latency_batch": 3,
        "latency_threads": torch.get_num_threads(),
    }


def test_interleaved_timing_takes_turns_round_robin() -> None:
    calls: list[str] = []
    runs = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    times = time_interleaved(runs, warmup=1, repeats=4)
    # a warm-up round, then each timed round starts one run later
    assert calls == list("abc" + "abc" + "bca" + "cab" + "abc")
    assert {name: len(seconds) for name, seconds in times.items()} == {"a": 4, "b": 4, "c": 4}
    assert all(s >= 0 for seconds in times.values() for s in seconds)


@pytest.mark.parametrize(("warmup", "repeats"), [(-1, 5), (0, 0)])
def test_interleaved_timing_rejects_bad_counts(warmup: int, repeats: int) -> None:
    with pytest.raises(ValueError, match="warmup >= 0 and repeats >= 1"):
        time_interleaved({"a": lambda: None}, warmup=warmup, repeats=repeats)


def test_compare_latency_times_each_net_in_eval_mode_and_restores_modes() -> None:
    seen: dict[str, bool] = {}

    class Probe(nn.Module):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen[self.name] = self.training or seen.get(self.name, False)
            return x

    nets = {"baseline": Probe("baseline").train(), "pruned": Probe("pruned").eval()}
    result = compare_latency(nets, torch.zeros(4, 2), warmup=0, repeats=3)
    assert seen == {"baseline": False, "pruned": False}
    assert nets["baseline"].training and not nets["pruned"].training
    assert set(result) == {"baseline", "pruned"} and {r.batch for r in result.values()} == {4}


@pytest.mark.parametrize("training", [True, False])
def test_profile_restores_training_mode(training: bool) -> None:
    net = tiny_net().train(training)
    x = torch.randn(2, 3, 8, 8)
    profile = profile_model(net, x, warmup=0, repeats=2)
    assert net.training is training
    assert all(m.training is training for m in net.modules())
    assert set(profile) == {
        "params", "macs", "size_mb", "latency_ms", "latency_runtime", "latency_batch", "latency_threads"
    }  # fmt: skip
    assert profile["latency_runtime"] == "eager" and profile["latency_batch"] == 2
    assert profile["params"] == count_params(net)
    assert profile["macs"] == count_macs(net, x)


def test_counting_does_not_update_batchnorm_statistics() -> None:
    net = tiny_net().train()
    before = net[1].running_mean.clone()
    count_macs(net, torch.randn(2, 3, 8, 8) + 5)
    assert torch.equal(net[1].running_mean, before)


def test_compare_latency_times_every_net_in_the_asked_layout_and_gives_each_weight_its_own_back() -> None:
    """A channels-last network and an NCHW one are timed in one layout (weights and input), then left as they were."""
    seen: dict[str, tuple[bool, bool]] = {}

    class Probe(nn.Module):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            cl = torch.channels_last
            seen[self.name] = (
                x.is_contiguous(memory_format=cl),
                self.conv.weight.is_contiguous(memory_format=cl),
            )
            return self.conv(x)

    nets = {"baseline": Probe("baseline"), "pruned": Probe("pruned").to(memory_format=torch.channels_last)}
    before = {name: net.conv.weight.detach().clone() for name, net in nets.items()}
    compare_latency(nets, torch.randn(2, 3, 8, 8), warmup=0, repeats=2, memory_format=torch.channels_last)
    assert seen == {"baseline": (True, True), "pruned": (True, True)}
    compare_latency(nets, torch.randn(2, 3, 8, 8), warmup=0, repeats=2, memory_format=torch.contiguous_format)
    assert seen == {"baseline": (False, False), "pruned": (False, False)}
    assert nets["baseline"].conv.weight.is_contiguous()
    assert nets["pruned"].conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(torch.equal(nets[name].conv.weight, weight) for name, weight in before.items())
    compare_latency(nets, torch.randn(2, 3, 8, 8), warmup=0, repeats=2)
    assert seen == {"baseline": (False, False), "pruned": (False, True)}
