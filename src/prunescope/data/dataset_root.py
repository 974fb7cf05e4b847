"""Validation of on-disk dataset roots, failing early with one message that says how to fix it."""

from __future__ import annotations

from pathlib import Path


class DatasetNotFoundError(FileNotFoundError):
    """A dataset root (or a required part of it) does not exist."""


def require_paths(root: str | Path, required: list[str], *, dataset: str, layout: str, source: str) -> Path:
    """Return ``root`` as a ``Path`` after checking that it and every ``required`` entry exist.

    Args:
        root: dataset root folder.
        required: paths relative to ``root`` that must exist (files or folders).
        dataset: dataset name used in the message.
        layout: expected layout, in words.
        source: where the data comes from / how to obtain it.

    Raises:
        DatasetNotFoundError: ``root`` or one of ``required`` is missing; the message names the path,
            the expected layout and the source.
    """
    root = Path(root).expanduser()
    missing = (
        [root] if not root.is_dir() else [root / name for name in required if not (root / name).exists()]
    )
    if missing:
        raise DatasetNotFoundError(
            f"{dataset} data not found: missing {', '.join(str(p) for p in missing)}; "
            f"expected layout: {layout}; source: {source}"
        )
    return root
