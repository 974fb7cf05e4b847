"""The before-fine-tune stage of a pruning run: quality and Sp2PS of the pruned model before any fine-tuning.

The model measured is the run's final pruning record (U-Net levels and every filter step) replayed on a copy of
the baseline, with no training at all. Pruning only slices weights, so for a one-shot schedule at epoch 0 (the
default) this is exactly the model the fine-tune starts from. For an iterative schedule it is the final plan applied
at once to the baseline (our reading of "right after all pruning, no training between"; the later steps chose their
filters on a partly fine-tuned model, but the weights measured here saw no training). Replaying a record needs no
scores and no calibration: the stage costs one test pass, with Sp2PS scored by a callback built from the same
``cam`` options as the final one (same method, target, layer and ``max_batches``), without the CAM grid.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.utils import instantiate

from prunescope.cam.callback import Sp2PSCallback
from prunescope.instantiate import build_trainer
from prunescope.modules import TaskModule
from prunescope.pipeline.parts import RunParts
from prunescope.pipeline.testing import test_module
from prunescope.pruning import replay

BEFORE_FINETUNE_DIR = "before_finetune"
"""Folder of the run dir that holds the before-fine-tune ``sp2ps_pairs.csv``."""


@dataclass
class BeforeFinetuneResult:
    """What the before-fine-tune stage measured.

    Attributes:
        quality: the run's quality metric (``miou`` or ``acc``) on the test set, or ``None`` when ``test: false``.
        sp2ps: Sp2PS against the baseline, or ``None`` when Sp2PS is off (``sp2ps: false``, no ``cam``) or not tested.
        seconds: the stage's time (replay, test pass and Sp2PS).
    """

    quality: float | None = None
    sp2ps: float | None = None
    seconds: float = 0.0


def unfinetuned_module(baseline: TaskModule, record: list[dict[str, Any]]) -> TaskModule:
    """A copy of ``baseline`` with the pruning ``record`` (a pruned module's ``pruning_record``) replayed on it.

    Raises:
        ValueError: ``baseline`` carries a pruning record that does not start ``record``.
    """
    module = copy.deepcopy(baseline)  # LightningModule.__getstate__ leaves the trainer out
    done = list(module.pruning_record)
    if list(record[: len(done)]) != done:
        raise ValueError("the baseline's pruning record is not a prefix of the pruned model's record")
    replay(module.net, list(record[len(done) :]))
    module.pruning_record = copy.deepcopy(list(record))
    module.set_teacher(None, 0.0)
    return module


def before_finetune_stage(
    parts: RunParts, record: list[dict[str, Any]], baseline: TaskModule, sp2ps: bool
) -> BeforeFinetuneResult:
    """Test ``baseline`` pruned by ``record`` without fine-tuning: the test metric and, with ``sp2ps``, Sp2PS.

    Tests on one device with the run's trainer settings (precision, ``fast_dev_run``, ``limit_test_batches``), so
    the figures are comparable with the final ``pruned.<metric>`` and ``sp2ps.score``; no loggers, no checkpoints.
    Nothing is measured when ``test: false``. The pairs CSV goes to ``<run dir>/before_finetune/``.
    """
    cfg = parts.cfg
    if not cfg.get("test"):
        return BeforeFinetuneResult()
    start = time.perf_counter()
    module = unfinetuned_module(baseline, record)
    scorer: Sp2PSCallback | None = None
    if sp2ps:
        output_dir = Path(cfg.paths.output_dir) / BEFORE_FINETUNE_DIR
        scorer = instantiate(cfg.cam, grid=False, output_dir=str(output_dir))
        scorer.set_baseline(baseline.net)
    trainer = build_trainer(
        cfg,
        callbacks=[scorer] if scorer is not None else [],
        loggers=False,
        devices=1,
        num_nodes=1,
        strategy="auto",
        sync_batchnorm=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    quality = test_module(trainer, module, parts.datamodule).get(module.quality_metric)
    score = scorer.result.score if scorer is not None and scorer.result is not None else None
    return BeforeFinetuneResult(quality, score, time.perf_counter() - start)
