"""The stages of one ``prunescope-train`` run, each a function that returns what it measured.

``build_parts`` → ``baseline_stage`` → ``layer_stage`` → ``prune_finetune_stage`` → ``test_stage`` (quality and
Sp2PS in one test loop) → ``before_finetune_stage`` (the same test of the pruned model before fine-tuning) →
``validation_stage`` (baseline and final model on the validation split);
:class:`~prunescope.pipeline.metrics_file.RunReport` turns the results into
``metrics.json``.
"""

from prunescope.pipeline.baseline import BaselineResult, baseline_stage
from prunescope.pipeline.before_finetune import BeforeFinetuneResult, before_finetune_stage
from prunescope.pipeline.finetune import PrunedResult, prune_finetune_stage
from prunescope.pipeline.layers import LayerResult, layer_stage
from prunescope.pipeline.metrics_file import RunReport, run_identity
from prunescope.pipeline.parts import RunParts, build_parts
from prunescope.pipeline.testing import TestResult, single_process_trainer, test_stage
from prunescope.pipeline.validation import ValidationResult, validation_stage

__all__ = [
    "BaselineResult",
    "BeforeFinetuneResult",
    "LayerResult",
    "PrunedResult",
    "RunParts",
    "RunReport",
    "TestResult",
    "ValidationResult",
    "baseline_stage",
    "before_finetune_stage",
    "build_parts",
    "layer_stage",
    "prune_finetune_stage",
    "run_identity",
    "single_process_trainer",
    "test_stage",
    "validation_stage",
]
