"""Training order that depends only on (seed, epoch), so a run resumed from a checkpoint sees the same batches as
an uninterrupted one."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

SEED_STRIDE = 1_000_003
"""Seeds of consecutive epochs are ``seed * SEED_STRIDE + epoch``: distinct for every (seed, epoch) in practice."""


class EpochShuffleSampler(Sampler[int]):
    """A permutation of ``range(length)`` drawn from a generator seeded with ``seed * 1_000_003 + epoch``.

    Lightning calls :meth:`set_epoch` at the start of every training epoch (as for ``DistributedSampler``), so
    epoch ``e`` has the same order whether the fit started at epoch 0 or resumed at ``e``.
    """

    def __init__(self, length: int, seed: int) -> None:
        self.length = int(length)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch``."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * SEED_STRIDE + self.epoch)
        return iter(torch.randperm(self.length, generator=generator).tolist())

    def __len__(self) -> int:
        return self.length
