"""One process of the DDP pruning test (run by tests/pruning/test_distributed.py, not collected by pytest).

Usage: python ddp_worker.py OUT_DIR MODE PHASE
  MODE  single | ddp   (ddp: LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT in the environment; gloo backend)
  PHASE full | first | resume   (first: stop after epoch 1 with last.ckpt; resume: continue from it)
Writes OUT_DIR/<mode>_<phase>_rank<r>.json: per pruning step the gathered parameter digests, the pruning record and
the conv widths; at the end of training the gathered digests again; and (ddp) the Sp2PS of rank-specific CAM pairs.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.strategies import DDPStrategy

from prunescope.data.digit_scenes import DigitScenesDataModule
from prunescope.fitting.callback import PruningCallback
from prunescope.fitting.distributed import parameter_digest
from prunescope.metrics.sp2ps import Sp2PS
from prunescope.models.unet import UNet
from prunescope.modules import SegmentationModule
from prunescope.pruning import PruningConfig

NUM_CLASSES = 11
MAX_EPOCHS = 4
STOP_AFTER_EPOCH = 1
FINETUNE_LR = (
    1e-6  # small enough that the two fine-tunes keep the step-2 decision; large enough to move float32
)


def gather(value: object) -> list[object]:
    if not dist.is_initialized():
        return [value]
    out: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def widths(net: torch.nn.Module) -> dict[str, int]:
    return {name: m.out_channels for name, m in net.named_modules() if isinstance(m, torch.nn.Conv2d)}


class Recorder(pl.Callback):
    """After each pruning step (runs after PruningCallback in the same hook) and at the end: what each rank holds."""

    def __init__(self, pruning: PruningCallback) -> None:
        self.pruning = pruning
        self.seen = 0
        self.steps: list[dict] = []
        self.final: list[object] = []

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.seen = self.pruning.progress.steps_done

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.pruning.progress.steps_done != self.seen:
            self.seen = self.pruning.progress.steps_done
            self.steps.append(
                {
                    "epoch": trainer.current_epoch,
                    "steps_done": self.seen,
                    "digests": gather(parameter_digest(pl_module.net)),
                    "record": copy.deepcopy(pl_module.pruning_record),
                    "widths": widths(pl_module.net),
                }
            )

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.final = gather(parameter_digest(pl_module.net))


class StopAfter(pl.Callback):
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == STOP_AFTER_EPOCH:
            trainer.should_stop = True


def main() -> None:
    out_dir, mode, phase = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    torch.set_num_threads(1)
    rank = int(os.environ.get("LOCAL_RANK", 0))
    torch.manual_seed(0)
    net = UNet(num_classes=NUM_CLASSES, depth=3, base_channels=4)
    for layer in net.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.momentum = 0.0
    module = SegmentationModule(
        net, optimizer=functools.partial(torch.optim.Adam, lr=0.01), num_classes=NUM_CLASSES
    )
    data = DigitScenesDataModule(
        batch_size=4,
        image_size=16,
        num_train=16,
        num_val=4,
        num_test=4,
        digit_size=(6, 12),
        min_digits=1,
        max_digits=3,
        seed=0,
    )
    config = PruningConfig(
        method="pca_nci",
        ratio=0.5,
        calibration_batches=2,
        schedule={"steps": 2, "kind": "linear", "at_epochs": [0, 2]},
        finetune={"lr": FINETUNE_LR, "schedule": "constant"},
    )
    pruning = PruningCallback(config)
    recorder = Recorder(pruning)
    callbacks: list[pl.Callback] = [pruning, recorder]
    ckpt_dir = out_dir / f"{mode}_ckpt"
    callbacks.append(ModelCheckpoint(dirpath=ckpt_dir, save_last=True, save_top_k=0, every_n_epochs=1))
    if phase == "first":
        callbacks.append(StopAfter())
    ddp = mode == "ddp"
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2 if ddp else 1,
        strategy=DDPStrategy(process_group_backend="gloo") if ddp else "auto",
        sync_batchnorm=False,  # SyncBatchNorm needs CUDA
        max_epochs=MAX_EPOCHS,
        limit_train_batches=2,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )
    trainer.fit(module, datamodule=data, ckpt_path=str(ckpt_dir / "last.ckpt") if phase == "resume" else None)
    result = {
        "rank": trainer.global_rank,
        "world_size": trainer.world_size,
        "epochs_run": trainer.current_epoch,
        "steps": recorder.steps,
        "final_digests": recorder.final,
        "record": module.pruning_record,
        "widths": widths(module.net),
    }
    if ddp:  # Sp2PS states are sums: synced over the ranks, the score equals one process scoring every pair
        generator = torch.Generator().manual_seed(100 + trainer.global_rank)
        metric = Sp2PS(num_classes=3)
        h0, h1 = torch.rand(3, 8, 8, generator=generator), torch.rand(3, 8, 8, generator=generator)
        metric.update(h0, h1, class_ids=torch.tensor([0, 1, trainer.global_rank + 1]))
        result["sp2ps"] = {k: (v.tolist() if torch.is_tensor(v) else v) for k, v in metric.compute().items()}
    (out_dir / f"{mode}_{phase}_rank{rank}.json").write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
