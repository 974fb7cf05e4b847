"""Loader workers start inside a joblib/loky sweep job (``hydra/launcher=joblib``), as they do in a plain run."""

from __future__ import annotations

import multiprocessing
import sys

import pytest
from joblib import Parallel, delayed

from prunescope.data.digits import DigitsDataModule


def first_batch_shape(num_workers: int, start_method: str | None = None) -> tuple[int, ...]:
    if start_method is not None:  # what a hydra/launcher=joblib job runs under
        multiprocessing.set_start_method(start_method, force=True)
    datamodule = DigitsDataModule(
        batch_size=8, num_workers=num_workers, limit_train=32, limit_val=8, limit_test=8
    )
    datamodule.setup("fit")
    images, _ = next(iter(datamodule.train_dataloader()))
    return tuple(images.shape)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
def test_loader_workers_inside_a_loky_job() -> None:
    shapes = Parallel(n_jobs=1, backend="loky")(delayed(first_batch_shape)(2, "loky") for _ in range(1))
    assert shapes == [first_batch_shape(0)]
