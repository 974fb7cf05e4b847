"""Adding a CAM method touches two files: a class (or table entry) in ``cam/methods.py`` and ``conf/cam/<name>.yaml``.

The test does both at run time: it registers a method of its own (the ReLU of the channel mean of the target
layer's activations) and writes its YAML into a copy of ``conf/``; then the config composes and builds the
Sp2PS callback, and the extractor and ``cam_pairs`` compute the new maps.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch import Tensor

from prunescope.cam import (
    CAM_METHODS,
    CamExtractor,
    Sp2PSCallback,
    cam_pairs,
    register_cam_method,
    target_groups,
)
from prunescope.cam.capture import CapturedForward
from prunescope.cam.methods import CamMethod, CamSite
from prunescope.cam.targets import TargetGroup
from support import CONFIG_DIR

NAME = "meancam"
IGNORE = 255


class ChannelMeanCam(CamMethod):
    """CAM = ReLU(mean_c A_c): no gradient, one map per sample (a method of the test's own)."""

    uses_gradients = False

    def raw_maps(self, extractor: CamSite, captured: CapturedForward, groups: list[TargetGroup]) -> Tensor:
        per_sample = captured.activation.detach().mean(dim=1).clamp_min(0.0)
        return per_sample[torch.cat([group.sample_ids for group in groups])]


@pytest.fixture
def channel_mean_method(tmp_path: Path) -> Iterator[Path]:
    """The two files of a new method: its registration (``methods.py``) and its YAML; yields the config dir."""
    register_cam_method(ChannelMeanCam(NAME))
    config_dir = tmp_path / "conf"
    shutil.copytree(CONFIG_DIR, config_dir)
    (config_dir / "cam" / f"{NAME}.yaml").write_text(f"defaults:\n  - base\n  - _self_\n\nmethod: {NAME}\n")
    try:
        yield config_dir
    finally:
        del CAM_METHODS[NAME]


def test_a_registered_method_with_its_yaml_runs_end_to_end(
    channel_mean_method: Path, seg_net, seg_batch
) -> None:
    with initialize_config_dir(config_dir=str(channel_mean_method), version_base="1.3"):
        cfg = compose("train", overrides=[f"cam={NAME}"])
    assert cfg.cam.method == NAME and cfg.cam.target == "auto"  # the rest comes from conf/cam/base.yaml
    callback = instantiate(cfg.cam, baseline=seg_net)
    assert isinstance(callback, Sp2PSCallback)

    images, labels = seg_batch
    layer = seg_net.get_submodule(seg_net.cam_target_layer)
    recorded: list[Tensor] = []
    handle = layer.register_forward_hook(lambda module, inputs, output: recorded.append(output.detach()))
    try:
        with torch.no_grad():
            seg_net.eval()(images)
    finally:
        handle.remove()
    expected = recorded[0].mean(dim=1).clamp_min(0.0)  # (B, h, w)

    extractor = CamExtractor(seg_net, NAME)
    captured = extractor.forward(images)
    groups = target_groups("segmentation", labels, captured.logits.detach(), ignore_index=IGNORE)
    raw = extractor.cams(captured, groups, raw=True)
    sample_ids = torch.cat([group.sample_ids for group in groups])
    torch.testing.assert_close(raw, expected[sample_ids])
    assert expected.amax() > 0  # the comparison is not between two zero maps

    pairs = cam_pairs(seg_net, seg_net, images, labels, method=NAME, ignore_index=IGNORE)
    assert pairs.h0.shape == (len(sample_ids), *images.shape[-2:])
    assert pairs.h0.min() >= 0 and pairs.h0.max() <= 1
    torch.testing.assert_close(pairs.h0, pairs.h1)  # the same network on both sides


def test_a_method_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="registered already"):
        register_cam_method(ChannelMeanCam("gradcam"))


def test_each_method_yaml_holds_only_its_name() -> None:
    """Everything else comes from ``conf/cam/base.yaml`` (registry and YAML agree: ``tests/test_registries.py``)."""
    for path in (CONFIG_DIR / "cam").glob("*.yaml"):
        if path.stem != "base":
            assert path.read_text() == f"defaults:\n  - base\n  - _self_\n\nmethod: {path.stem}\n"
