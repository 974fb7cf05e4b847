"""Which process of a multi-process (DDP) run this one is.

With ``trainer=ddp`` Lightning starts the command again for every further rank (same arguments, same run dir); those
*follower* processes run the same stages, so that every fit and test has all its ranks, but leave the run's files
(run dir claim, metrics.json, baseline cache entries) to rank 0.
"""

from __future__ import annotations

from pytorch_lightning.utilities.rank_zero import rank_zero_only


def is_follower() -> bool:
    """True in a process started for a rank other than 0 (rank from ``RANK`` / ``LOCAL_RANK`` / ``SLURM_PROCID``)."""
    return int(getattr(rank_zero_only, "rank", 0) or 0) != 0
