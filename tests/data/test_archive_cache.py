"""unpack_once: extracts once, waits for a concurrent unpack, redoes an unfinished one."""

from __future__ import annotations

import tarfile
import threading
import time
from pathlib import Path

from filelock import FileLock

from prunescope.data.archive_cache import LOCK_NAME, MARKER_NAME, is_unpacked, unpack_once


def make_archive(tmp_path: Path) -> Path:
    source = tmp_path / "src" / "set" / "train"
    source.mkdir(parents=True)
    for index in range(5):
        (source / f"{index}.txt").write_text(f"sample {index}")
    archive = tmp_path / "train.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(tmp_path / "src" / "set", arcname="set")
    return archive


def test_unpacks_once_then_reuses_the_cache(tmp_path: Path) -> None:
    archive, cache = make_archive(tmp_path), tmp_path / "cache"
    assert not is_unpacked([archive], cache)
    assert unpack_once([archive], cache) == cache
    extracted = cache / "set" / "train" / "3.txt"
    assert extracted.read_text() == "sample 3" and is_unpacked([archive], cache)
    extracted.write_text("edited")
    unpack_once([archive], cache)
    assert extracted.read_text() == "edited"  # marker present: nothing extracted again


def test_unfinished_unpack_without_marker_is_redone(tmp_path: Path) -> None:
    archive, cache = make_archive(tmp_path), tmp_path / "cache"
    unpack_once([archive], cache)
    (cache / MARKER_NAME).unlink()  # as if a job died before finishing
    (cache / "set" / "train" / "0.txt").unlink()
    unpack_once([archive], cache)
    assert (cache / "set" / "train" / "0.txt").read_text() == "sample 0"


def test_waits_while_another_job_holds_the_lock(tmp_path: Path) -> None:
    archive, cache = make_archive(tmp_path), tmp_path / "cache"
    cache.mkdir()
    lock = FileLock(str(cache / LOCK_NAME))
    lock.acquire()
    worker = threading.Thread(target=unpack_once, args=([archive], cache))
    try:
        worker.start()
        time.sleep(0.5)
        assert worker.is_alive() and not (cache / "set").exists()
    finally:
        lock.release()
    worker.join(timeout=30)
    assert not worker.is_alive() and is_unpacked([archive], cache)
