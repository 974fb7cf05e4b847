"""``channels_last`` training (TaskModule): weights and inputs are NHWC during every training step, also after a
pruning step replaced layers; results match an NCHW fit up to float rounding; checkpoints load into NCHW; evaluation,
CAMs and export take either layout."""

from __future__ import annotations

import functools

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from prunescope.cam.pairs import cam_pairs
from prunescope.deploy.onnx_model import onnx_session, run_onnx
from prunescope.deploy.pipeline import export_network
from prunescope.fitting.callback import PruningCallback
from prunescope.models.vgg16 import VGG16
from prunescope.modules import ClassificationModule
from prunescope.pruning import PruningConfig

CHANNELS_LAST = torch.channels_last


class LayoutProbe(pl.Callback):
    """Per training step: are all 4-D conv weights NHWC, and is the batch as the network sees it NHWC?"""

    def __init__(self) -> None:
        self.weights_nhwc: list[bool] = []
        self.inputs_nhwc: list[bool] = []

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        def record(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            if module.training:
                self.inputs_nhwc.append(args[0].is_contiguous(memory_format=CHANNELS_LAST))

        pl_module.net.register_forward_pre_hook(record)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.weights_nhwc.append(
            all(
                m.weight.is_contiguous(memory_format=CHANNELS_LAST)
                for m in pl_module.net.modules()
                if isinstance(m, nn.Conv2d)
            )
        )
        optimizer_params = {id(p) for group in trainer.optimizers[0].param_groups for p in group["params"]}
        assert optimizer_params == {id(p) for p in pl_module.parameters()}, (
            "optimizer lost the module's params"
        )


def _module(channels_last: bool) -> ClassificationModule:
    torch.manual_seed(0)
    net = VGG16(num_classes=10, head="cifar_fc", width_mult=0.0625, dropout=0.0)
    return ClassificationModule(
        net,
        optimizer=functools.partial(torch.optim.SGD, lr=0.01, momentum=0.9),
        num_classes=10,
        channels_last=channels_last,
    )


def _loader(samples: int) -> DataLoader:
    generator = torch.Generator().manual_seed(1)
    data = TensorDataset(torch.randn(samples, 3, 32, 32, generator=generator), torch.arange(samples) % 10)
    return DataLoader(data, batch_size=8)


def _fit(module: ClassificationModule, epochs: int, callbacks: list[pl.Callback], samples: int = 16) -> None:
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
    )
    trainer.fit(module, train_dataloaders=_loader(samples))


def test_channels_last_fit_trains_nhwc_and_matches_nchw() -> None:
    nchw, nhwc = _module(False), _module(True)
    probe_nchw, probe_nhwc = LayoutProbe(), LayoutProbe()
    # One step: over several steps this 4-channel network amplifies the layouts' float rounding (ReLU/BN flips).
    _fit(nchw, 1, [probe_nchw], samples=8)
    _fit(nhwc, 1, [probe_nhwc], samples=8)
    assert probe_nhwc.weights_nhwc == [True] and probe_nhwc.inputs_nhwc == [True]
    assert not any(probe_nchw.weights_nhwc)  # the default leaves the layout alone
    start = _module(False).state_dict()
    for (name, a), b in zip(nchw.state_dict().items(), nhwc.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")
    assert any(not torch.equal(start[name], a) for name, a in nchw.state_dict().items())  # the step trained

    # An NHWC checkpoint loads into a fresh NCHW module and gives the same outputs.
    fresh = _module(False)
    fresh.load_state_dict(nhwc.state_dict())
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(fresh.eval()(x), nhwc.eval()(x), rtol=1e-4, atol=1e-5)


def test_channels_last_survives_a_pruning_step() -> None:
    module = _module(True)
    callback = PruningCallback(
        PruningConfig(method="l1", ratio=0.5, schedule={"steps": 1, "at_epochs": [1]}, finetune={"lr": 0.01})
    )
    probe = LayoutProbe()
    params_before = sum(p.numel() for p in module.parameters())
    _fit(module, 3, [callback, probe])
    assert sum(p.numel() for p in module.parameters()) < params_before  # the step pruned
    assert probe.weights_nhwc == [True] * 6  # before and after the step
    assert module.pruning_record


def test_every_later_path_takes_either_layout(tmp_path) -> None:
    """After an NHWC fit (weights channels-last): evaluation, CAMs and export give what the same weights give in
    NCHW, with NCHW or NHWC images."""
    nhwc = _module(True)
    _fit(nhwc, 1, [], samples=8)
    assert all(
        m.weight.is_contiguous(memory_format=CHANNELS_LAST)
        for m in nhwc.net.modules()
        if isinstance(m, nn.Conv2d)
    )
    nchw = _module(False)
    nchw.load_state_dict(nhwc.state_dict())
    assert all(m.weight.is_contiguous() for m in nchw.net.modules() if isinstance(m, nn.Conv2d))
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    labels = torch.arange(4)
    for x in (images, images.contiguous(memory_format=CHANNELS_LAST)):
        torch.testing.assert_close(nhwc.eval()(x), nchw.eval()(images), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(nhwc.net.eval()(x), nchw.net.eval()(images), rtol=1e-4, atol=1e-5)
        got, expected = (
            cam_pairs(nhwc.net, nhwc.net, x, labels),
            cam_pairs(nchw.net, nchw.net, images, labels),
        )
        torch.testing.assert_close(got.h0, expected.h0, rtol=1e-3, atol=1e-4)
        torch.testing.assert_close(got.h1, expected.h1, rtol=1e-3, atol=1e-4)
    exported = export_network(nhwc.net, [1, 3, 32, 32], tmp_path / "nhwc.onnx")
    assert exported.max_relative_error <= 1e-4
    with torch.no_grad():
        expected_logits = nchw.net.eval()(images).numpy()
    onnx_logits = run_onnx(onnx_session(exported.path), images)
    assert abs(onnx_logits - expected_logits).max() <= 1e-4 * abs(expected_logits).max()
