"""Per-pair Sp2PS values of a test run and their file, ``sp2ps_pairs.csv``.

The ``Sp2PS`` metric keeps sums only; the per-pair values live here, as plain floats, so that the CAM grid can be
chosen from them and others can plot their own distributions. One row per CAM pair in test-loader order:

``sample, class, class_name, pixels, spatial, spectral, score, skipped, grid``

``sample`` is the index in the test set, ``class`` the target class, ``pixels`` the class's area in the sample's
ground-truth mask (segmentation; 0 for classification), ``skipped`` 1 for pairs left out of Sp2PS (both CAMs
constant), whose three terms are empty, and ``grid`` names the pair's rows in ``sp2ps_cams.png`` (``lowest``,
``median``, ``highest``, ``class``; several joined by ``;``) or is empty. The mean of ``score`` over the rows not skipped is the run's
``sp2ps.score``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor

from prunescope.metrics.sp2ps import CONSTANT_MAP_TOLERANCE, Sp2PSTerms

if TYPE_CHECKING:
    from prunescope.cam.selection import GridRow

PAIRS_FILENAME = "sp2ps_pairs.csv"
PAIRS_COLUMNS = ("sample", "class", "class_name", "pixels", "spatial", "spectral", "score", "skipped", "grid")


@dataclass(frozen=True)
class PairRecord:
    """One CAM pair: where it comes from, how large its target is, and its Sp2PS terms.

    Attributes:
        sample: index of the sample in the test set (test-loader order).
        class_id: target class of the pair.
        pixels: pixels of ``class_id`` in the sample's ground-truth mask (0 for classification).
        baseline_informative: the baseline CAM is not constant (a property of the baseline alone).
        spatial: S_sp of the pair (0 when skipped).
        spectral: S_sf of the pair (0 when skipped).
        score: Sp2PS of the pair (0 when skipped).
        skipped: both CAMs constant: the pair is not part of Sp2PS.
    """

    sample: int
    class_id: int
    pixels: int
    baseline_informative: bool
    spatial: float
    spectral: float
    score: float
    skipped: bool


def batch_records(
    terms: Sp2PSTerms,
    h0: Tensor,
    class_ids: Tensor,
    sample_ids: Tensor,
    labels: Tensor,
    first_sample: int,
) -> list[PairRecord]:
    """The records of one batch of pairs.

    Args:
        terms: ``sp2ps_terms(h0, h1)`` of the batch's pairs.
        h0: (P, H, W) baseline CAMs of the pairs.
        class_ids: (P,) target class of each pair.
        sample_ids: (P,) index of each pair's sample in the batch.
        labels: (B, H, W) masks or (B,) class labels of the batch.
        first_sample: test-set index of the batch's first sample.
    """
    sample_ids = sample_ids.detach().cpu()
    class_ids = class_ids.detach().cpu()
    if labels.ndim == 3:
        masks = labels.detach().cpu()[sample_ids]
        pixels = (masks == class_ids.view(-1, 1, 1)).flatten(1).sum(dim=1).tolist()
    else:
        pixels = [0] * len(class_ids)
    spread = (h0.detach().amax(dim=(-2, -1)) - h0.detach().amin(dim=(-2, -1))).cpu()
    informative = (spread > CONSTANT_MAP_TOLERANCE).tolist()
    return [
        PairRecord(
            sample=first_sample + int(sample),
            class_id=int(class_id),
            pixels=int(count),
            baseline_informative=bool(flag),
            spatial=float(spatial),
            spectral=float(spectral),
            score=float(score),
            skipped=not bool(valid),
        )
        for sample, class_id, count, flag, spatial, spectral, score, valid in zip(
            sample_ids.tolist(),
            class_ids.tolist(),
            pixels,
            informative,
            terms.spatial.tolist(),
            terms.spectral.tolist(),
            terms.score.tolist(),
            terms.valid.tolist(),
            strict=True,
        )
    ]


def class_label(class_id: int, class_names: Sequence[str] | None) -> str:
    """The name of ``class_id`` in ``class_names``, else the id as text."""
    if class_names is not None and 0 <= class_id < len(class_names):
        return str(class_names[class_id])
    return str(class_id)


def pair_rows(
    records: Sequence[PairRecord],
    class_names: Sequence[str] | None = None,
    grid_rows: Sequence[GridRow] = (),
) -> list[list[Any]]:
    """The records as rows of ``PAIRS_COLUMNS`` (skipped pairs' terms as None), for the CSV and W&B tables.

    Args:
        records: every pair of the run, in test-loader order.
        class_names: names indexed by class id (default: the id).
        grid_rows: the rows of the run's CAM grid, named in the ``grid`` column.
    """
    roles: dict[int, list[str]] = {}
    for row in grid_rows:
        roles.setdefault(row.record, []).append(row.role)
    return [
        [
            record.sample,
            record.class_id,
            class_label(record.class_id, class_names),
            record.pixels,
            *((None, None, None) if record.skipped else (record.spatial, record.spectral, record.score)),
            int(record.skipped),
            ";".join(roles.get(index, [])),
        ]
        for index, record in enumerate(records)
    ]


def write_pairs_csv(
    path: str | Path,
    records: Sequence[PairRecord],
    class_names: Sequence[str] | None = None,
    grid_rows: Sequence[GridRow] = (),
) -> Path:
    """Write ``records`` as ``sp2ps_pairs.csv`` (columns ``PAIRS_COLUMNS``, see :func:`pair_rows`); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(PAIRS_COLUMNS)
        writer.writerows(pair_rows(records, class_names, grid_rows))
    return path
