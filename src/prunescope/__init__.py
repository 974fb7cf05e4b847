"""PruneScope."""

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"
"""The checkout's ``conf/`` (Hydra config groups); the entry points need an editable install."""
