"""Splits held on the training device (``data.on_device=true``): decoded once into ``uint8`` tensors, served as
whole batches that are gathered, augmented and normalised where they live, so that an epoch reads no file, runs no
loader worker and, on a GPU, copies nothing from the host.

The training order is :class:`~prunescope.data.epoch_sampler.EpochShuffleSampler`'s, and the augmentation of epoch
``e`` is drawn from a generator seeded by ``(seed, e)`` alone, one row of uniforms per sample of the split: a
resumed run, or a second loader over the same split (pruning calibration), sees the same batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, SequentialSampler
from torchvision.transforms.v2 import functional as tvf

from prunescope.config_checks import ConfigError
from prunescope.data.epoch_sampler import SEED_STRIDE, EpochShuffleSampler

AUGMENT_STREAM = 1 << 40
"""Offset of the augmentation generator's seed from the order generator's (``seed * SEED_STRIDE + epoch``)."""
MEMORY_SHARE = 0.5
"""The resident splits may take at most this share of the device's free memory (the rest is the model's)."""
BatchAugment = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""``(uint8 images, targets, uniforms (B, draws)) -> (images, targets)``, with a ``draws`` attribute."""


class ResidentSplit(Dataset):
    """One split as ``uint8`` images and their targets on one device.

    ``split[i]`` is sample ``i`` normalised and not augmented; a DataLoader batch reads ``__getitems__`` (PyTorch's
    batched fetch), which gathers the batch in one indexing operation. Keys drawn by :class:`ResidentSampler`
    carry ``(seed, epoch)`` and get the training augmentation of that epoch; plain indices do not.

    Args:
        name: dataset and split for log lines, e.g. ``"camvid train"``.
        images: ``uint8 (N, 3, H, W)``.
        targets: class indices ``(N,)`` or masks ``uint8 (N, H, W)``; batches give them as int64.
        mean: per-channel normalisation mean (pixels scaled to [0, 1]).
        std: per-channel normalisation std.
        augment: training augmentation of a batch, or ``None``.
    """

    def __init__(
        self,
        name: str,
        images: torch.Tensor,
        targets: torch.Tensor,
        mean: Sequence[float],
        std: Sequence[float],
        augment: BatchAugment | None = None,
    ) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4 or len(images) != len(targets):
            raise ValueError(f"{name}: expected uint8 images (N, C, H, W) and N targets, got {images.shape}")
        self.name = name
        self.images = images
        self.targets = targets
        self.mean = list(mean)
        self.std = list(std)
        self.augment = augment
        self._uniforms: tuple[tuple[int, int], torch.Tensor] | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def device(self) -> torch.device:
        return self.images.device

    @property
    def nbytes(self) -> int:
        return self.images.nbytes + self.targets.nbytes

    def to(self, device: torch.device | str) -> ResidentSplit:
        """This split on ``device`` (itself when it is there already)."""
        device = torch.device(device)
        if self.device == device:
            return self
        images, targets = self.images.to(device), self.targets.to(device)
        return ResidentSplit(self.name, images, targets, self.mean, self.std, self.augment)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, targets = self._batch(torch.tensor([index], device=self.device), None)
        return images[0], targets[0]

    def __getitems__(self, keys: list[int] | list[tuple[int, int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of ``keys``: ``(float32 (B, 3, H, W), int64 (B,) or (B, H, W))`` on the split's device."""
        epoch = None
        if keys and isinstance(keys[0], tuple):
            epoch = (keys[0][1], keys[0][2])
            keys = [key[0] for key in keys]  # type: ignore[index]
        return self._batch(torch.tensor(keys, device=self.device), epoch)

    def _batch(
        self, indices: torch.Tensor, epoch: tuple[int, int] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        images, targets = self.images[indices], self.targets[indices]
        if epoch is not None and self.augment is not None:
            images, targets = self.augment(images, targets, self.uniforms(*epoch)[indices.cpu()])
        images = tvf.normalize_image(
            tvf.to_dtype_image(images, torch.float32, scale=True), self.mean, self.std
        )
        return images, targets.long()

    def uniforms(self, seed: int, epoch: int) -> torch.Tensor:
        """The augmentation draws of ``(seed, epoch)``: ``(N, augment.draws)`` uniforms in [0, 1) on the CPU."""
        key = (int(seed), int(epoch))
        if self._uniforms is None or self._uniforms[0] != key:
            generator = torch.Generator().manual_seed(key[0] * SEED_STRIDE + key[1] + AUGMENT_STREAM)
            draws = getattr(self.augment, "draws", 0)
            self._uniforms = (key, torch.rand(len(self), draws, generator=generator))
        return self._uniforms[1]


class ResidentSampler(EpochShuffleSampler):
    """:class:`EpochShuffleSampler`'s order, each index as ``(index, seed, epoch)`` so the batch is augmented with
    the draws of that epoch."""

    def __iter__(self) -> Iterator[tuple[int, int, int]]:  # type: ignore[override]
        seed, epoch = self.seed, self.epoch
        return ((index, seed, epoch) for index in super().__iter__())


def _collated(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The DataLoader's collate step: ``ResidentSplit.__getitems__`` already gives the batch."""
    return batch


def resident_loader(split: ResidentSplit, batch_size: int, seed: int, train: bool) -> DataLoader:
    """Batches of ``split`` on its device: shuffled by (seed, epoch) and augmented for training (dropping the last
    incomplete batch when there is more than one), in order and not augmented otherwise; no worker processes."""
    sampler = ResidentSampler(len(split), seed) if train else SequentialSampler(split)
    return DataLoader(
        split,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=train and len(split) > batch_size,
        num_workers=0,
        collate_fn=_collated,
    )


def available_bytes(device: torch.device) -> int | None:
    """Free memory of ``device``: CUDA's free memory, or the host's ``MemAvailable`` for the CPU; ``None`` when
    unknown."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type == "cpu":
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
    return None


def require_room(dataset: str, needed: int, device: torch.device, contents: str) -> None:
    """Refuse ``data.on_device`` when the decoded splits would take more than half the device's free memory.

    Args:
        dataset: ``"cifar10"`` or ``"camvid"``.
        needed: bytes of every split the run will hold.
        device: where they would be held.
        contents: the splits in words, e.g. ``"train 45000 + val 5000 + test 10000 images of 3x32x32"``.

    Raises:
        ConfigError: one line with the estimate, the free memory and the fix.
    """
    free = available_bytes(device)
    if free is not None and needed > MEMORY_SHARE * free:
        raise ConfigError(
            f"data.on_device=true: {dataset} needs about {_mb(needed)} on {device} ({contents}, uint8) but {device} "
            f"has {_mb(free)} free (at most {MEMORY_SHARE:.0%} of it is used for data); set data.on_device=false "
            "or use fewer images (data.limit_train / limit_val / limit_test)"
        )


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


def resident_device(trainer: object | None) -> torch.device:
    """Where resident splits go: the attached trainer's root device (under DDP, each process's own), else the CPU
    (set-up outside a fit). Under DDP every process holds whole splits and Lightning gives each its share of the
    batches, as it does for the DataLoader path (its distributed sampler wraps the loaders' samplers)."""
    if trainer is None:
        return torch.device("cpu")
    return trainer.strategy.root_device  # type: ignore[attr-defined]
