"""Trained-once baselines shared by the jobs of a sweep."""

from prunescope.baselines.cache import BaselineCache, CachedBaseline, baseline_key, canonical_json
from prunescope.baselines.locks import LOCK_KINDS, check_lock_options

__all__ = [
    "LOCK_KINDS",
    "BaselineCache",
    "CachedBaseline",
    "baseline_key",
    "canonical_json",
    "check_lock_options",
]
