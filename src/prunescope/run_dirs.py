"""Run directories: unique names even for runs started in the same second, and one live run per directory.

``conf/hydra/default.yaml`` names run and sweep dirs ``<time>_${run_suffix:}``; the resolver gives every process
its own 6-hex-digit suffix (the same value for all resolutions in one process, so a sweep's jobs share their
sweep dir). :func:`claim_run_dir` holds an exclusive lock on ``<run dir>/.run.lock`` for the life of the run; the
operating system releases it when the process ends, however it ends.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from filelock import FileLock, Timeout
from omegaconf import OmegaConf

from prunescope import CONFIG_DIR

LOCK_NAME = ".run.lock"


class RunDirInUse(RuntimeError):
    """Another live process is writing into this run directory."""


def register_resolvers() -> None:
    """Register the ``run_suffix`` and ``project_root`` OmegaConf resolvers (idempotent).

    ``project_root`` is the checkout holding ``conf/`` (the editable install's), so data, cache and output roots
    resolve the same way from any working directory.
    """
    if not OmegaConf.has_resolver("run_suffix"):
        OmegaConf.register_new_resolver("run_suffix", lambda: secrets.token_hex(3), use_cache=True)
    if not OmegaConf.has_resolver("project_root"):
        OmegaConf.register_new_resolver("project_root", lambda: str(CONFIG_DIR.parent))


def claim_run_dir(run_dir: str | os.PathLike[str]) -> FileLock:
    """Lock ``run_dir`` for this process; the caller releases the returned lock when the run ends.

    Raises:
        RunDirInUse: another live run holds the directory.
    """
    path = Path(run_dir)
    path.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path / LOCK_NAME), timeout=0)
    try:
        lock.acquire()
    except Timeout as error:
        raise RunDirInUse(
            f"run dir {path} is in use by another live run; wait for it to end or choose another hydra.run.dir"
        ) from error
    return lock
