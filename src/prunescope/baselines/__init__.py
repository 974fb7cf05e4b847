"""Trained-once baselines shared by the jobs of a sweep."""

from prunescope.baselines.cache import BaselineCache, CachedBaseline, baseline_key, canonical_json

__all__ = ["BaselineCache", "CachedBaseline", "baseline_key", "canonical_json"]
