"""Lightning callback that scores Sp2PS of the tested (pruned) model against a frozen baseline."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger
from torch import Tensor, nn

from prunescope.cam.grid import first_pairs_per_sample, render_cam_grid, save_cam_grid
from prunescope.cam.methods import cam_method
from prunescope.cam.pairs import cam_pairs
from prunescope.metrics.sp2ps import Sp2PS, sp2ps_pair

GRID_FILENAME = "sp2ps_cams.png"


@dataclass
class Sp2PSResult:
    """Sp2PS of one test pass.

    Attributes:
        values: :meth:`prunescope.metrics.sp2ps.Sp2PS.compute` (``sp2ps``, ``spatial``, ``spectral``, ``pairs``,
            ``skipped``, ``per_class``).
        seconds: time spent computing CAMs and scoring them.
        grid_path: the CAM grid PNG, when one was written.
    """

    values: dict[str, Any]
    seconds: float
    grid_path: Path | None = None

    @property
    def score(self) -> float:
        """The Sp2PS score."""
        return float(self.values["sp2ps"])


def frozen_copy(net: nn.Module) -> nn.Module:
    """A deep copy in eval mode with no parameter requiring grad."""
    frozen = copy.deepcopy(net).eval()
    for parameter in frozen.parameters():
        parameter.requires_grad_(False)
    return frozen


class Sp2PSCallback(pl.Callback):
    """Sp2PS of ``pl_module.net`` against a baseline over the test set, batch by batch in the test loop.

    Active only when ``enabled`` and a baseline is set (constructor or ``set_baseline``); testing the baseline
    itself with no baseline set is a no-op. For each test batch (dataloader 0, the first ``max_batches``) it
    computes the CAM pairs (``prunescope.cam.pairs.cam_pairs``) and updates an ``Sp2PS`` metric; at the end
    of the test epoch it stores the :class:`Sp2PSResult` on ``self.result``,
    logs ``sp2ps/score``, ``sp2ps/spatial``, ``sp2ps/spectral``, ``sp2ps/pairs``, ``sp2ps/skipped`` through
    ``pl_module.log`` (all loggers, and ``trainer.callback_metrics``), and writes a PNG of CAM overlays for the
    first ``grid_samples`` test samples (each sample's highest class) to ``output_dir`` (default
    ``trainer.default_root_dir``) as ``sp2ps_cams.png``, also to TensorBoard / W&B loggers.

    The task comes from ``pl_module.net.task``, the ignore index and class count from ``trainer.datamodule``.

    Args:
        baseline: the unpruned network (a frozen copy is kept).
        method: CAM method, a key of ``prunescope.cam.methods.CAM_METHODS``.
        target_layer: dotted module path; default the baseline's ``cam_target_layer``.
        target: ``"auto"`` (definition default), ``"gt"`` or ``"baseline_pred"``.
        max_batches: score at most this many test batches (None: all).
        grid_samples: samples in the overlay grid (0: no grid).
        enabled: switch the callback off without removing it.
        output_dir: folder of the PNG (default ``trainer.default_root_dir``).
    """

    def __init__(
        self,
        baseline: nn.Module | None = None,
        method: str = "gradcam",
        target_layer: str | None = None,
        target: str = "auto",
        max_batches: int | None = None,
        grid_samples: int = 4,
        enabled: bool = True,
        output_dir: str | Path | None = None,
    ) -> None:
        super().__init__()
        cam_method(method)
        if max_batches is not None and max_batches < 1:
            raise ValueError(f"Sp2PSCallback max_batches must be >= 1 or None; got {max_batches}")
        if grid_samples < 0:
            raise ValueError(f"Sp2PSCallback grid_samples must be >= 0; got {grid_samples}")
        self.method = method
        self.target_layer = target_layer
        self.target = target
        self.max_batches = max_batches
        self.grid_samples = grid_samples
        self.enabled = enabled
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.baseline: nn.Module | None = None
        self.result: Sp2PSResult | None = None
        self._metric: Sp2PS | None = None
        self._grid: dict[str, list[Tensor]] = {}
        self._seconds = 0.0
        if baseline is not None:
            self.set_baseline(baseline)

    def set_baseline(self, net: nn.Module) -> None:
        """Keep a frozen copy of ``net`` as the baseline."""
        self.baseline = frozen_copy(net)

    @property
    def active(self) -> bool:
        """True when enabled and a baseline is set."""
        return self.enabled and self.baseline is not None

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Reset the metric and the grid samples; move the baseline to the module's device."""
        if not self.active:
            return
        assert self.baseline is not None
        datamodule = trainer.datamodule
        num_classes = getattr(datamodule, "num_classes", None) if datamodule is not None else None
        with torch.inference_mode(False):  # the test loop runs in inference mode; keep these normal tensors
            self.baseline.to(pl_module.device)
            self._metric = Sp2PS(num_classes=num_classes).to(pl_module.device)
        self._grid = {key: [] for key in ("images", "h0", "h1", "class_ids")}
        self._seconds = 0.0
        self.result = None

    def on_test_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Score the CAM pairs of one test batch."""
        if not self.active or self._metric is None or dataloader_idx != 0:
            return
        if self.max_batches is not None and batch_idx >= self.max_batches:
            return
        start = time.perf_counter()
        images, labels = batch[0], batch[1]
        ignore_index = (
            getattr(trainer.datamodule, "ignore_index", None) if trainer.datamodule is not None else None
        )
        pairs = cam_pairs(
            self.baseline,
            pl_module.net,
            images,
            labels,
            task=pl_module.net.task,
            method=self.method,
            target_layer=self.target_layer,
            target=self.target,
            ignore_index=ignore_index,
        )
        class_ids = pairs.class_ids if self._metric.num_classes is not None else None
        with torch.inference_mode(False):
            self._metric.update(pairs.h0, pairs.h1, class_ids)
        self._keep_grid_samples(images, pairs.h0, pairs.h1, pairs.class_ids, pairs.sample_ids)
        self._seconds += time.perf_counter() - start

    def _keep_grid_samples(
        self, images: Tensor, h0: Tensor, h1: Tensor, class_ids: Tensor, sample_ids: Tensor
    ) -> None:
        missing = self.grid_samples - sum(len(chunk) for chunk in self._grid.get("images", []))
        if missing <= 0 or len(sample_ids) == 0:
            return
        chosen = first_pairs_per_sample(sample_ids.cpu(), missing)
        self._grid["images"].append(images[sample_ids.cpu()[chosen]].detach().cpu().clone())
        self._grid["h0"].append(h0[chosen].detach().cpu())
        self._grid["h1"].append(h1[chosen].detach().cpu())
        self._grid["class_ids"].append(class_ids[chosen].detach().cpu())

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Compute and log Sp2PS, keep it on ``self.result``, write the CAM grid."""
        if not self.active or self._metric is None:
            return
        with torch.inference_mode(False):
            values = self._metric.compute()
        for name, key in (("score", "sp2ps"), ("spatial", "spatial"), ("spectral", "spectral")):
            pl_module.log(f"sp2ps/{name}", float(values[key]))
        pl_module.log("sp2ps/pairs", float(values["pairs"]))
        pl_module.log("sp2ps/skipped", float(values["skipped"]))
        grid_path = self._write_grid(trainer) if self.grid_samples and self._grid["images"] else None
        self.result = Sp2PSResult(values=values, seconds=self._seconds, grid_path=grid_path)

    def _write_grid(self, trainer: pl.Trainer) -> Path:
        images = torch.cat(self._grid["images"])
        h0, h1 = torch.cat(self._grid["h0"]), torch.cat(self._grid["h1"])
        class_ids = torch.cat(self._grid["class_ids"])
        _, _, scores = sp2ps_pair(h0, h1)
        class_names = (
            getattr(trainer.datamodule, "class_names", None) if trainer.datamodule is not None else None
        )
        grid = render_cam_grid(images, h0, h1, scores, class_ids, class_names)
        folder = self.output_dir if self.output_dir is not None else Path(trainer.default_root_dir)
        grid_path = save_cam_grid(folder / GRID_FILENAME, grid)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image("sp2ps/cams", grid, trainer.global_step, dataformats="HWC")
            elif isinstance(logger, WandbLogger):
                logger.log_image(key="sp2ps/cams", images=[str(grid_path)])
        return grid_path
