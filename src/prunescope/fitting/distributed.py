"""Pruning steps under multi-process data parallelism (``trainer=ddp``): one rank decides, every rank replays.

Each process holds a replica of the network with the same weights (DDP keeps them equal), but its own batches, so
scores computed on every rank could differ and the replicas would lose different channels. Instead rank 0 runs
the whole pruning step (statistics on its calibration batches, scores, removal) and broadcasts the resulting
:class:`~prunescope.pruning.api.PruningResult`; every other rank applies its ``record`` with
:func:`~prunescope.pruning.api.replay`, which removes exactly the same channels. A digest of the parameters is then
compared across ranks. The ``DistributedDataParallel`` wrapper holds the removed parameters (its gradient buckets
are built for them), so it is rebuilt around the pruned module; the caller rebuilds the optimizers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from pytorch_lightning.strategies import DDPStrategy
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from prunescope.pruning.api import PruningResult, replay


class RankMismatchError(RuntimeError):
    """The ranks hold different parameters after a pruning step."""


def check_strategy(trainer: pl.Trainer) -> None:
    """Raise ``ValueError`` unless a multi-process fit uses a DDP strategy (the one the pruning step rebuilds)."""
    if trainer.world_size > 1 and not isinstance(trainer.strategy, DDPStrategy):
        raise ValueError(
            f"PruningCallback with world_size={trainer.world_size} needs trainer.strategy=ddp "
            f"(got {type(trainer.strategy).__name__}); valid: ddp, or a single device"
        )


def parameter_digest(net: nn.Module) -> str:
    """SHA-256 over every parameter's name, shape and bytes (CPU copies), in ``named_parameters`` order."""
    digest = hashlib.sha256()
    for name, parameter in net.named_parameters():
        tensor = parameter.detach().to("cpu").contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def prune_on_rank_zero(net: nn.Module, decide: Callable[[], PruningResult]) -> PruningResult:
    """One pruning step of a process group: ``decide()`` on rank 0 (it prunes ``net`` there), replay elsewhere.

    Args:
        net: this rank's replica (identical on every rank before the call).
        decide: runs the step on rank 0 (e.g. ``lambda: prune(net, options, example, calibration)``).

    Returns:
        Rank 0's result, on every rank.

    Raises:
        RuntimeError: ``decide`` failed on rank 0 (the error is re-raised on every rank with its text, so that no
            rank waits for the others forever).
        RankMismatchError: the ranks' parameters differ after the step.
    """
    payload: list[object] = [None, None]
    failure: Exception | None = None
    if dist.get_rank() == 0:
        try:
            payload[0] = decide()
        except Exception as error:  # broadcast, then raise on every rank
            payload[1] = f"{type(error).__name__}: {error}"
            failure = error
    dist.broadcast_object_list(payload, src=0, device=_object_device(net))
    result, error_text = payload
    if error_text is not None:
        if failure is not None:
            raise failure
        raise RuntimeError(f"pruning step failed on rank 0: {error_text}")
    assert isinstance(result, PruningResult)
    if dist.get_rank() != 0:
        replay(net, result.record)
    digests: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(digests, parameter_digest(net))
    if len(set(digests)) != 1:
        differing = [rank for rank, digest in enumerate(digests) if digest != digests[0]]
        raise RankMismatchError(f"after the pruning step ranks {differing} hold other parameters than rank 0")
    return result


def rewrap_ddp(trainer: pl.Trainer) -> None:
    """Wrap the (pruned) LightningModule in a new ``DistributedDataParallel`` with the strategy's settings.

    The parameters are equal on every rank already (checked by :func:`prune_on_rank_zero`), so the new wrapper
    skips its initial broadcast (``init_sync=False``): a divergence would show, not be papered over.
    """
    strategy = trainer.strategy
    assert isinstance(strategy, DDPStrategy)
    strategy.model = DistributedDataParallel(
        module=strategy.lightning_module,
        device_ids=strategy.determine_ddp_device_ids(),
        init_sync=False,
        **strategy._ddp_kwargs,  # the strategy's own DDP options (find_unused_parameters, ...)
    )
    strategy._register_ddp_hooks()


def _object_device(net: nn.Module) -> torch.device | None:
    """Device for the pickled-object tensors of ``broadcast_object_list``: the current GPU for NCCL, else CPU."""
    device = next(net.parameters()).device
    return device if device.type == "cuda" else None
