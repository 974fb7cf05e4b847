"""Scores for pruned models: Sp2PS (where the model looks) and efficiency (params, MACs, size, latency)."""

from prunescope.metrics.sp2ps import Sp2PS, sp2ps_pair

__all__ = ["Sp2PS", "sp2ps_pair"]
