"""Dataset files checked before use: errors that name the file and split, cheap up-front checks, full validation.

Three levels, from cheap to thorough:

- :func:`check_files` (every setup): each file is non-empty and, for PNG and JPEG, starts with the format's
  signature and ends with its end marker (PNG ``IEND`` chunk, JPEG ``FFD9``); reads 8 + 16 bytes per file, so
  a truncated or foreign file fails before training instead of in the test stage hours later.
- :func:`read_bytes` and the datasets' decoders (every sample): a read, decode or value error is a
  :class:`DataFileError` naming dataset, split, kind and path, also when raised in a DataLoader worker.
- :func:`validate_split` (``data.validate=true``): decodes every file of a split once at setup, logs one line
  per split and fails with the list of bad files.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

SHOWN_FILES = 5
"""Bad files listed by name in one error message; the rest are counted."""
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8"
_TAIL_BYTES = 16


class DataFileError(ValueError):
    """A data file that cannot be read or decoded, or holds invalid values; the message is one line naming it.

    A DataLoader worker re-raises an exception in the main process as ``type(error)(text)``, where ``text`` is
    ``"Caught DataFileError in DataLoader worker process N.\\nOriginal Traceback ..."`` ending with the original
    message. This class keeps only that original message, so ``str(error)`` is the same one line in the worker
    and in the main process; the worker's traceback stays available as ``worker_traceback``.

    Args:
        message: one line such as ``"camvid test image /data/x.png cannot be decoded (...): ..."``.
    """

    def __init__(self, message: str) -> None:
        self.worker_traceback: str | None = None
        original = _original_message(message, type(self))
        if original is not None:
            self.worker_traceback, message = message, original
        super().__init__(message)


def _original_message(text: str, error_type: type[BaseException]) -> str | None:
    """The message of ``error_type`` at the end of a DataLoader worker's re-raise text, or ``None``."""
    if not text.startswith(f"Caught {error_type.__name__} ") or "\nOriginal Traceback" not in text:
        return None
    prefix = f"{error_type.__module__}.{error_type.__qualname__}: "
    for line in reversed(text.splitlines()):
        if line.startswith(prefix):
            return line[len(prefix) :]
    return None


def one_line(text: object) -> str:
    """``text`` as a string on one line (newlines of library messages become spaces)."""
    return " ".join(str(text).split())


def read_bytes(path: Path, what: str) -> bytes:
    """The content of ``path``, which must be a readable, non-empty file.

    Args:
        path: the file.
        what: dataset, split and kind for the message, e.g. ``"camvid test image"``.

    Raises:
        DataFileError: ``"<what> <path> cannot be read: …"`` or ``"<what> <path> is empty (0 bytes)"``.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataFileError(f"{what} {path} cannot be read: {one_line(error)}") from error
    if not data:
        raise DataFileError(f"{what} {path} is empty (0 bytes)")
    return data


def file_problem(path: Path) -> str | None:
    """What is wrong with ``path`` that shows without decoding it, or ``None``.

    Checks that the file exists and is non-empty; PNG (``.png``) and JPEG (``.jpg``/``.jpeg``) files must start
    with their signature and end with their end marker (the ``IEND`` chunk; ``FFD9``, which the entropy-coded data
    of a JPEG cannot contain). Other formats get only the size check.
    """
    try:
        size = path.stat().st_size
        if size == 0:
            return "is empty (0 bytes)"
        suffix = path.suffix.lower()
        if suffix not in (".png", ".jpg", ".jpeg"):
            return None
        with path.open("rb") as handle:
            head = handle.read(len(_PNG_SIGNATURE))
            handle.seek(max(0, size - _TAIL_BYTES))
            tail = handle.read()
    except OSError as error:
        return f"cannot be read: {one_line(error)}"
    if suffix == ".png":
        if not head.startswith(_PNG_SIGNATURE):
            return "is not a PNG file (no PNG signature)"
        if b"IEND" not in tail:
            return "is truncated (no PNG end chunk IEND)"
        return None
    if not head.startswith(_JPEG_SIGNATURE):
        return "is not a JPEG file (no JPEG signature FFD8)"
    if b"\xff\xd9" not in tail:
        return "is truncated (no JPEG end marker FFD9)"
    return None


class PngHeader(NamedTuple):
    """The PNG ``IHDR`` fields that say what a file holds, read from its first 26 bytes."""

    height: int
    width: int
    bit_depth: int
    colour_type: int
    """0 grayscale, 2 RGB, 3 palette, 4 grayscale + alpha, 6 RGBA."""


PNG_COLOUR_TYPES = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale + alpha", 6: "RGBA"}
_PNG_HEADER_BYTES = 26


def png_header(data: bytes) -> PngHeader | None:
    """The ``IHDR`` fields of PNG content ``data`` (at least its first 26 bytes), or ``None`` if it is not a PNG."""
    if len(data) < _PNG_HEADER_BYTES or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return PngHeader(height, width, data[24], data[25])


def read_png_header(path: Path) -> PngHeader | None:
    """:func:`png_header` of the file at ``path`` (26 bytes read); ``None`` when it cannot be read or is no PNG."""
    try:
        with path.open("rb") as handle:
            return png_header(handle.read(_PNG_HEADER_BYTES))
    except OSError:
        return None


def listed(items: Sequence[str], shown: int = SHOWN_FILES) -> str:
    """The first ``shown`` of ``items`` joined by ``"; "``, then ``"; … and N more"``."""
    text = "; ".join(items[:shown])
    return text + (f"; … and {len(items) - shown} more" if len(items) > shown else "")


def check_files(paths: Sequence[Path], what: str) -> None:
    """Fail unless every file passes :func:`file_problem` (no decoding; 24 bytes read per file).

    Args:
        paths: the files a split will read.
        what: dataset, split and kind, e.g. ``"camvid test masks"``.

    Raises:
        DataFileError: one line listing the first few bad files and what is wrong with each.
    """
    bad = [f"{path} {problem}" for path in paths if (problem := file_problem(path)) is not None]
    if bad:
        raise DataFileError(f"{what}: {len(bad)} of {len(paths)} files unreadable: {listed(bad)}")


def validate_split(
    what: str, samples: Sequence[T], read: Callable[[T], object], contents: str
) -> list[DataFileError]:
    """Call ``read`` on every sample of a split (decoding its files) and log one line.

    Args:
        what: dataset and split, e.g. ``"camvid train"``.
        samples: the split's samples as ``read`` takes them (indices, paths).
        read: decodes and checks one sample, raising :class:`DataFileError` for a bad file.
        contents: the split's files in words for the log line, e.g. ``"367 images, 367 masks"``.

    Returns:
        The errors of the bad samples (empty when all are fine); the caller raises them together
        (:func:`raise_invalid`) after checking every split.
    """
    started = time.perf_counter()
    errors: list[DataFileError] = []
    for sample in samples:
        try:
            read(sample)
        except DataFileError as error:
            errors.append(error)
    verdict = "OK" if not errors else f"{len(errors)} bad"
    log.info("validated %s: %s %s (%.1f s)", what, contents, verdict, time.perf_counter() - started)
    return errors


def raise_invalid(dataset: str, errors: Sequence[DataFileError], found_by: str = "data.validate") -> None:
    """Raise one :class:`DataFileError` listing the first few of ``errors``; nothing when there are none.

    ``found_by`` names the setting that decoded the files (``data.validate``, ``data.in_memory``, ``data.on_device``).
    """
    if errors:
        raise DataFileError(
            f"{dataset}: {found_by} found {len(errors)} bad sample{'s' if len(errors) != 1 else ''}: "
            f"{listed([str(e) for e in errors])}"
        )
