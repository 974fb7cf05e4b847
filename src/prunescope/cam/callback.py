"""Lightning callback that scores Sp2PS of the tested (pruned) model against a frozen baseline."""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger
from torch import nn
from torch.utils.data import DataLoader, SequentialSampler, default_collate

from prunescope.cam.grid import GRID_FILENAME, grid_labels, render_cam_grid, save_cam_grid
from prunescope.cam.methods import cam_method
from prunescope.cam.pair_records import (
    PAIRS_COLUMNS,
    PAIRS_FILENAME,
    PairRecord,
    batch_records,
    pair_rows,
    write_pairs_csv,
)
from prunescope.cam.pairs import cam_pairs
from prunescope.cam.selection import GridRow, grid_rows
from prunescope.metrics.sp2ps import Sp2PS, sp2ps_terms


@dataclass
class Sp2PSResult:
    """Sp2PS of one test pass.

    Attributes:
        values: :meth:`prunescope.metrics.sp2ps.Sp2PS.compute` (``sp2ps``, ``spatial``, ``spectral``, ``pairs``,
            ``skipped``, ``per_class``).
        seconds: time spent computing CAMs and scoring them.
        grid_path: the CAM grid PNG, when one was written.
        pairs_path: ``sp2ps_pairs.csv``, every pair's terms.
    """

    values: dict[str, Any]
    seconds: float
    grid_path: Path | None = None
    pairs_path: Path | None = None

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
    ``pl_module.log`` (all loggers, and ``trainer.callback_metrics``), writes every pair's terms to
    ``output_dir/sp2ps_pairs.csv`` (``prunescope.cam.pair_records``; default folder ``trainer.default_root_dir``)
    and draws ``sp2ps_cams.png``: this run's lowest, median and highest Sp2PS pairs, then one fixed pair per class
    that every run of a sweep shares (``prunescope.cam.selection``). The grid's CAMs are extracted again for its
    few samples, read from the test loader's dataset (a sequential, map-style loader; otherwise no grid). The grid
    goes to TensorBoard / W&B loggers as an image, the pairs to W&B as a table.

    The task comes from ``pl_module.net.task``, the ignore index and class count from ``trainer.datamodule``.

    Args:
        baseline: the unpruned network (a frozen copy is kept).
        method: CAM method, a key of ``prunescope.cam.methods.CAM_METHODS``.
        target_layer: dotted module path; default the baseline's ``cam_target_layer``.
        target: ``"auto"`` (definition default), ``"gt"`` or ``"baseline_pred"``.
        max_batches: score at most this many test batches (None: all).
        grid: draw the CAM grid.
        grid_classes: classes in the grid's fixed block, one pair each, in class-id order (0: spread rows only).
        enabled: switch the callback off without removing it.
        output_dir: folder of the PNG and the pairs CSV (default ``trainer.default_root_dir``).
    """

    def __init__(
        self,
        baseline: nn.Module | None = None,
        method: str = "gradcam",
        target_layer: str | None = None,
        target: str = "auto",
        max_batches: int | None = None,
        grid: bool = True,
        grid_classes: int = 12,
        enabled: bool = True,
        output_dir: str | Path | None = None,
    ) -> None:
        super().__init__()
        cam_method(method)
        if max_batches is not None and max_batches < 1:
            raise ValueError(f"Sp2PSCallback max_batches must be >= 1 or None; got {max_batches}")
        if grid_classes < 0:
            raise ValueError(f"Sp2PSCallback grid_classes must be >= 0; got {grid_classes}")
        self.method = method
        self.target_layer = target_layer
        self.target = target
        self.max_batches = max_batches
        self.grid = grid
        self.grid_classes = grid_classes
        self.enabled = enabled
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.baseline: nn.Module | None = None
        self.result: Sp2PSResult | None = None
        self._metric: Sp2PS | None = None
        self._records: list[PairRecord] = []
        self._samples_seen = 0
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
        self._records = []
        self._samples_seen = 0
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
        terms = sp2ps_terms(pairs.h0, pairs.h1)
        with torch.inference_mode(False):
            self._metric.update(pairs.h0, pairs.h1, class_ids, terms=terms)
        self._records += batch_records(
            terms, pairs.h0, pairs.class_ids, pairs.sample_ids, labels, self._samples_seen
        )
        self._samples_seen += len(images)
        self._seconds += time.perf_counter() - start

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
        class_names = (
            getattr(trainer.datamodule, "class_names", None) if trainer.datamodule is not None else None
        )
        folder = self.output_dir if self.output_dir is not None else Path(trainer.default_root_dir)
        rows = grid_rows(self._records, self.grid_classes) if self.grid else []
        pairs_path = write_pairs_csv(folder / PAIRS_FILENAME, self._records, class_names, rows)
        self._log_pairs_table(trainer, class_names, rows)
        grid_path = self._write_grid(trainer, pl_module, folder, rows, class_names) if rows else None
        self.result = Sp2PSResult(values, self._seconds, grid_path=grid_path, pairs_path=pairs_path)

    def _log_pairs_table(
        self, trainer: pl.Trainer, class_names: Sequence[str] | None, rows: list[GridRow]
    ) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                data = pair_rows(self._records, class_names, rows)
                logger.log_table(key="sp2ps_pairs", columns=list(PAIRS_COLUMNS), data=data)

    def _write_grid(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        folder: Path,
        rows: list[GridRow],
        class_names: Sequence[str] | None,
    ) -> Path | None:
        dataset = _sequential_dataset(trainer.test_dataloaders)
        if dataset is None:
            warnings.warn(
                "Sp2PSCallback draws no CAM grid: the test loader is not a sequential map-style loader",
                stacklevel=2,
            )
            return None
        chosen = [self._records[row.record] for row in rows]
        samples = sorted({record.sample for record in chosen})
        images, labels = default_collate([dataset[index] for index in samples])[:2]
        ignore_index = getattr(trainer.datamodule, "ignore_index", None)
        pairs = cam_pairs(
            self.baseline,
            pl_module.net,
            images.to(pl_module.device),
            labels.to(pl_module.device),
            task=pl_module.net.task,
            method=self.method,
            target_layer=self.target_layer,
            target=self.target,
            ignore_index=ignore_index,
        )
        position = {
            (samples[int(s)], int(c)): p
            for p, (s, c) in enumerate(zip(pairs.sample_ids.tolist(), pairs.class_ids.tolist(), strict=True))
        }
        found = [(row, position.get((r.sample, r.class_id))) for row, r in zip(rows, chosen, strict=True)]
        if any(index is None for _, index in found):  # baseline_pred targets can flip on a lone sample
            warnings.warn(
                "Sp2PSCallback: some grid pairs have no target on a second pass; left out", stacklevel=2
            )
            found = [(row, index) for row, index in found if index is not None]
        if not found:
            return None
        picks = torch.tensor([index for _, index in found], dtype=torch.long)
        grid = render_cam_grid(
            images[pairs.sample_ids.cpu()[picks]],
            pairs.h0.detach().cpu()[picks],
            pairs.h1.detach().cpu()[picks],
            grid_labels([row for row, _ in found], self._records, class_names),
        )
        grid_path = save_cam_grid(folder / GRID_FILENAME, grid)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image("sp2ps/cams", grid, trainer.global_step, dataformats="HWC")
            elif isinstance(logger, WandbLogger):
                logger.log_image(key="sp2ps/cams", images=[str(grid_path)])
        return grid_path


def _sequential_dataset(loaders: Any) -> Any:
    """The dataset of the first test loader when it reads a map-style dataset in order, else None."""
    loader = loaders[0] if isinstance(loaders, list | tuple) else loaders
    if not isinstance(loader, DataLoader) or not isinstance(loader.sampler, SequentialSampler):
        return None
    return loader.dataset
