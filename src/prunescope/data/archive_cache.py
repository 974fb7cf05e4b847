"""Unpack tar archives once into a cache folder, safely across concurrent jobs, after checking that they are whole."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from prunescope.atomic_write import write_text_atomic
from prunescope.data.file_checks import DataFileError, one_line

MARKER_NAME = ".unpacked.json"
LOCK_NAME = ".unpack.lock"
MARKER_VERSION = 2
"""Bumped when the checks done before an unpack change: a marker of an older version is not trusted (version 1,
without a version field, marked tars complete without checking them)."""
_END_OF_ARCHIVE = bytes(2 * tarfile.BLOCKSIZE)
"""Two zero blocks end every tar (POSIX); a tar cut at a member boundary lacks them."""


@dataclass(frozen=True)
class ArchiveListing:
    """The members of one tar, read through to its end.

    Attributes:
        path: the archive.
        what: the archive in words for messages, e.g. ``"cifar10 train archive"``.
        members: every member, in archive order.
        has_end_marker: the two zero blocks that end a tar follow the last member.
    """

    path: Path
    what: str
    members: list[tarfile.TarInfo]
    has_end_marker: bool


def list_archive(path: Path, what: str) -> ArchiveListing:
    """Read every member header of ``path`` (seeking over the data) and whether the end-of-archive blocks follow.

    Raises:
        DataFileError: the archive cannot be read, or is not a tar or ends inside a member (``tarfile`` reports
            "unexpected end of data"): ``"<what> <path> is truncated or corrupt (<reason>), so nothing was unpacked;
            ..."``.
    """
    try:
        with tarfile.open(path) as archive:
            members = archive.getmembers()
            end = archive.offset
    except OSError as error:
        raise DataFileError(f"{what} {path} cannot be read: {one_line(error)}") from error
    except (tarfile.TarError, EOFError) as error:
        raise DataFileError(
            f"{what} {path} is truncated or corrupt ({one_line(error)}), so nothing was unpacked; "
            "replace it with a complete copy"
        ) from error
    with path.open("rb") as handle:
        handle.seek(end)
        tail = handle.read(len(_END_OF_ARCHIVE))
    return ArchiveListing(path, what, members, tail == _END_OF_ARCHIVE)


def require_end_marker(listing: ArchiveListing) -> None:
    """The default check: the archive ends with the end-of-archive blocks, so it was not cut between two members.

    Raises:
        DataFileError: ``"<what> <path> is truncated: it ends after member <name> without the end-of-archive
            blocks, ..."``.
    """
    if not listing.has_end_marker:
        last = listing.members[-1].name if listing.members else "(none)"
        raise DataFileError(
            f"{listing.what} {listing.path} is truncated: it ends after member {last} without the end-of-archive "
            "blocks, so nothing was unpacked; replace it with a complete copy"
        )


def _signature(archives: Sequence[Path]) -> str:
    return json.dumps(
        {
            "version": MARKER_VERSION,
            "archives": [[archive.name, archive.stat().st_size] for archive in archives],
        }
    )


def is_unpacked(archives: Sequence[str | Path], cache_dir: str | Path) -> bool:
    """Whether ``cache_dir`` holds a checked, completed unpack of exactly these archives (by name and size)."""
    marker = Path(cache_dir).expanduser() / MARKER_NAME
    return marker.is_file() and marker.read_text() == _signature([Path(a) for a in archives])


def unpack_once(
    archives: Sequence[str | Path],
    cache_dir: str | Path,
    check: Callable[[ArchiveListing], None] = require_end_marker,
    describe: Callable[[Path], str] = lambda path: "archive",
) -> Path:
    """Check ``archives`` and extract them into ``cache_dir`` unless a previous run already completed it.

    Every archive is listed to its end and passed to ``check`` before anything is extracted, so a truncated or
    incomplete archive extracts nothing. Holds a ``filelock`` on ``cache_dir/.unpack.lock`` while checking and
    extracting and writes the completion marker ``cache_dir/.unpacked.json`` (marker version, archive names and
    sizes) last, atomically: a concurrent job waits for the lock and then sees the marker, and a job that fails or
    is killed mid-way leaves no marker, so the next run checks and extracts again. Members are extracted with
    tarfile's ``"data"`` filter (no absolute paths, links out of the folder, etc.).

    Args:
        archives: the tar files.
        cache_dir: where they are extracted.
        check: called with each archive's :class:`ArchiveListing`; raises :class:`DataFileError` for an archive
            that must not be used. Default: :func:`require_end_marker`.
        describe: an archive in words for messages (``"cifar10 train archive"``).

    Returns:
        ``cache_dir`` as an expanded ``Path``.

    Raises:
        FileNotFoundError: an archive does not exist.
        DataFileError: an archive is truncated, corrupt or refused by ``check`` (nothing is marked complete).
    """
    paths = [Path(a).expanduser() for a in archives]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"archives to unpack not found: {', '.join(missing)}")
    cache_dir = Path(cache_dir).expanduser()
    if is_unpacked(paths, cache_dir):
        return cache_dir
    cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_dir / LOCK_NAME)):
        if is_unpacked(paths, cache_dir):
            return cache_dir
        (cache_dir / MARKER_NAME).unlink(missing_ok=True)
        listings = [list_archive(path, describe(path)) for path in paths]
        for listing in listings:
            check(listing)
        for listing in listings:
            try:
                with tarfile.open(listing.path) as archive:
                    archive.extractall(cache_dir, filter="data")
            except (tarfile.TarError, EOFError) as error:
                raise DataFileError(
                    f"{listing.what} {listing.path} cannot be unpacked ({one_line(error)}); the unpack in "
                    f"{cache_dir} is not marked complete"
                ) from error
        write_text_atomic(cache_dir / MARKER_NAME, _signature(paths))
    return cache_dir
