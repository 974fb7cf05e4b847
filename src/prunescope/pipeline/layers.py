"""The layer stage: U-Net level pruning (``pruning.layers``) before the filter pruning, with its own short fine-tunes."""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field

from prunescope.fitting.finetune_optimizer import install_finetune_optimizer
from prunescope.fitting.level_search import choose_unet_levels
from prunescope.metrics.efficiency import count_macs, count_params
from prunescope.modules import TaskModule
from prunescope.pipeline.baseline import BaselineResult
from prunescope.pipeline.parts import RunParts
from prunescope.progress import log_layer_stage
from prunescope.pruning.layers import remove_unet_levels, require_level_pruning
from prunescope.pruning.options import FinetuneOptions
from prunescope.seeding import seed_run


@dataclass
class LayerResult:
    """What the layer stage did.

    Attributes:
        levels: deepest levels removed (0: none).
        baseline_metric: ``auto``: validation metric of the unmodified model.
        candidate_metrics: ``auto``: validation metric after removing ``k`` levels and fine-tuning, per ``k``.
        seconds: time of the stage (the ``auto`` search's fine-tunes included).
    """

    levels: int = 0
    baseline_metric: float | None = None
    candidate_metrics: dict[int, float] = field(default_factory=dict)
    seconds: float = 0.0


def _candidate_preparer(finetune: FinetuneOptions):  # noqa: ANN202 - a small closure
    def prepare(candidate: TaskModule, epochs: int) -> None:
        """Fine-tune candidates at ``finetune.lr`` with the fine-tune schedule over their epochs (one LR per epoch,
        so without ``finetune.warmup_fraction``), without KD."""
        candidate.set_teacher(None, 0.0)
        candidate.scheduler_interval = "epoch"
        install_finetune_optimizer(candidate, dataclasses.replace(finetune, warmup_fraction=0.0), epochs)

    return prepare


def layer_stage(parts: RunParts, baseline: BaselineResult) -> LayerResult:
    """Copy the baseline's weights into ``parts.module`` and remove the configured U-Net levels from it.

    ``layers.levels = k`` removes ``k`` levels; ``"auto"`` picks the largest ``k`` whose validation drop after a
    short fine-tune stays within ``layers.tolerance`` (:func:`prunescope.fitting.level_search.choose_unet_levels`). The
    removal is appended to ``parts.module.pruning_record``; one progress line reports it.
    """
    assert parts.pruning is not None, "layer_stage runs only for pruning runs"
    seed_run(parts.cfg)  # same seed → same pruning and fine-tune, whether the baseline was cached or not
    module = parts.module
    module.net.load_state_dict(baseline.module.net.state_dict())
    options = parts.pruning.layers
    if not options.requested:
        return LayerResult()
    require_level_pruning(module.net)
    start = time.perf_counter()
    result = LayerResult()
    levels = options.levels
    if levels == "auto":
        device = "gpu" if module.device.type == "cuda" else "cpu"
        search = choose_unet_levels(
            copy.deepcopy(module),
            parts.datamodule,
            tolerance=options.tolerance,
            finetune_epochs=options.finetune_epochs,
            prepare=_candidate_preparer(parts.pruning.finetune),
            trainer_kwargs={
                "accelerator": device,
                "devices": 1,
                "precision": parts.cfg.trainer.get("precision", "32-true"),
                "default_root_dir": str(parts.cfg.paths.output_dir),
                "limit_train_batches": options.limit_train_batches,
                "limit_val_batches": options.limit_val_batches,
            },
        )
        levels = search.levels
        result.baseline_metric = search.baseline
        result.candidate_metrics = dict(search.scores)
    if levels > 0:
        module.pruning_record.append(remove_unet_levels(module.net, levels))
    result.levels = int(levels)
    result.seconds = time.perf_counter() - start
    log_layer_stage(
        result.levels,
        options.levels,
        (baseline.cost["params"], count_params(module.net)),  # the baseline's counts, on the same example
        (baseline.cost["macs"], count_macs(module.net, parts.example)),
        metric=f"val/{module.quality_metric}",
        baseline_metric=result.baseline_metric,
        candidate_metrics=result.candidate_metrics,
    )
    return result
