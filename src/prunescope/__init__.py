"""PruneScope."""
