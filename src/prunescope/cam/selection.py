"""Which CAM pairs a run's grid shows: the spread of this run's Sp2PS, then fixed samples, one per class.

The grid has two blocks, chosen from the run's ``PairRecord`` list:

1. **Spread** (this run): the scored pairs with the lowest, the median and the highest Sp2PS, so the grid shows
   what the score is made of. These rows differ between runs by design.
2. **Fixed** (every run of the sweep): one pair per class, in class-id order, up to ``classes`` classes. A class's
   pair is picked from properties that do not depend on the pruned model, so every run that shares the test set
   and the baseline (all methods and ratios of one seed of a sweep) shows the same images, side by side:
   prefer a pair whose baseline CAM is not constant, then the sample where the class covers the most
   ground-truth pixels (segmentation; where the class is easiest to see), then the lowest test-set index. Where
   the test set does not depend on the seed (CamVid, CIFAR-10) and targets come from the ground truth (the
   segmentation default), other seeds mostly pick the same pairs too. The alternative, choosing from a reference
   run's scores, would need the runs of a sweep to wait for each other; a selection that reads only the test set
   and the baseline needs no coordination.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prunescope.cam.pair_records import PairRecord

SPREAD_ROLES = ("lowest", "median", "highest")


@dataclass(frozen=True)
class GridRow:
    """One row of the grid: the index of its pair in the run's records and why it is shown.

    Attributes:
        record: index into the run's ``PairRecord`` list.
        role: ``"lowest"``, ``"median"``, ``"highest"`` (spread block) or ``"class"`` (fixed block).
    """

    record: int
    role: str


def spread_rows(records: Sequence[PairRecord]) -> list[GridRow]:
    """Lowest, median (lower median for an even count) and highest Sp2PS among the scored pairs.

    Ties go to the lowest index, so the choice is deterministic. Empty when no pair was scored.
    """
    scored = sorted(
        (index for index, record in enumerate(records) if not record.skipped),
        key=lambda index: (records[index].score, index),
    )
    if not scored:
        return []
    picks = (scored[0], scored[(len(scored) - 1) // 2], scored[-1])
    return [GridRow(index, role) for index, role in zip(picks, SPREAD_ROLES, strict=True)]


def fixed_class_rows(records: Sequence[PairRecord], classes: int) -> list[GridRow]:
    """One pair per class (class-id order, at most ``classes``), chosen without the pruned model's CAMs.

    Preference: the baseline CAM is not constant, then the most ground-truth pixels, then the lowest sample.
    """
    if classes < 0:
        raise ValueError(f"fixed_class_rows needs classes >= 0; got {classes}")
    best: dict[int, int] = {}
    for index, record in enumerate(records):
        current = best.get(record.class_id)
        if current is None or _fixed_key(record) < _fixed_key(records[current]):
            best[record.class_id] = index
    return [GridRow(best[class_id], "class") for class_id in sorted(best)[:classes]]


def _fixed_key(record: PairRecord) -> tuple[bool, int, int]:
    return (not record.baseline_informative, -record.pixels, record.sample)


def grid_rows(records: Sequence[PairRecord], classes: int) -> list[GridRow]:
    """The spread block, then the fixed per-class block (see the module docstring)."""
    return spread_rows(records) + fixed_class_rows(records, classes)
