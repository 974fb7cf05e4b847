"""How every console script ends on an error: one table, exception → exit status → message prefix.

Each Hydra command (``prunescope-train``, ``-eval``, ``-sp2ps``, ``-export``, ``-bench``) is two functions: the
``@hydra.main`` task calls :func:`run_task`, and the console script's ``main()`` calls :func:`run_command` around
the Hydra entry point. An error of a kind in :data:`OUTCOMES` ends the process with that exit status and one line on
stderr, ``<prefix><message>``; any other error keeps its traceback (exit status 1). Bad input is recognised wherever
it is raised:

- in the task (:func:`run_task`, the run's config is known: paths in messages name the option that sets them);
- by Hydra before the task (:func:`run_command`): an unknown config group option, a misspelled key, an override
  that does not parse, a run dir that cannot be created;
- wrapped by ``hydra.utils.instantiate`` (``InstantiationException``): a ``ValueError``/``TypeError`` raised by
  PruneScope's own validation is unwrapped to its one line, a keyword the target does not take is named with the
  keys it does take (:func:`prunescope.config_checks.instantiation_error`).

In a multirun a failed job is logged (its ``metrics.json`` records it) and the sweep goes on; an interruption ends
the sweep.
"""

from __future__ import annotations

import difflib
import errno
import logging
import os
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from hydra.core.hydra_config import HydraConfig
from hydra.errors import (
    ConfigCompositionException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
)
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from prunescope.baselines.entries import CacheEntryError
from prunescope.checkpoints import CheckpointError
from prunescope.config_checks import ConfigError, instantiation_error, one_line
from prunescope.data import DataFileError, DatasetNotFoundError
from prunescope.models.contract import NetworkContractError
from prunescope.modules.divergence import DivergenceError
from prunescope.pruning.target import UnreachableRatio
from prunescope.run_dirs import RunDirInUse
from prunescope.signals import RunInterrupted

log = logging.getLogger(__name__)
T = TypeVar("T")

INTERRUPTED = "interrupted: "
ERROR = "error: "
BAD_INPUT: tuple[type[BaseException], ...] = (
    ConfigError,
    CheckpointError,
    DataFileError,
    DatasetNotFoundError,
    RunDirInUse,
    UnreachableRatio,
    CacheEntryError,
    NetworkContractError,
    FileNotFoundError,
)
"""Errors one line explains (a config, a file or a directory the user chose): exit status 2, no traceback."""


@dataclass(frozen=True)
class Outcome:
    """One row of :data:`OUTCOMES`.

    Attributes:
        errors: the exception classes of the row.
        exit_code: the process's exit status; ``None``: 128 + the signal number (:class:`RunInterrupted`).
        prefix: what the message line starts with.
        suffix: what follows the exception's text.
    """

    errors: tuple[type[BaseException], ...]
    exit_code: int | None
    prefix: str
    suffix: str = ""

    def exit_status(self, error: BaseException) -> int:
        if self.exit_code is not None:
            return self.exit_code
        return error.exit_code if isinstance(error, RunInterrupted) else 1

    def message(self, error: BaseException) -> str:
        text = str(error) or (
            f"received {signal.SIGINT.name}" if isinstance(error, KeyboardInterrupt) else ""
        )
        return one_line(f"{self.prefix}{text}{self.suffix}")


OUTCOMES: tuple[Outcome, ...] = (
    Outcome(
        (RunInterrupted,),
        None,
        INTERRUPTED,
        "; resume by running the same command in the same run dir",
    ),
    Outcome((KeyboardInterrupt,), 128 + signal.SIGINT, INTERRUPTED),
    Outcome((DivergenceError,), 1, ERROR),
    Outcome(BAD_INPUT, 2, ERROR),
)
"""Exception → exit status → message prefix, first match wins. README's "Bad input" table lists the cases."""


def outcome_of(error: BaseException) -> Outcome | None:
    """The first row of :data:`OUTCOMES` whose classes include ``error``'s, else ``None``."""
    return next((row for row in OUTCOMES if isinstance(error, row.errors)), None)


def run_task(task: Callable[[DictConfig], T], cfg: DictConfig) -> T | None:
    """Run a Hydra task; an error of :data:`OUTCOMES` ends the process with its line and exit status.

    In a multirun a failed job returns ``None`` instead (logged; the sweep goes on), except an interruption.
    """
    try:
        return task(cfg)
    except BaseException as raised:
        error = translate(raised, cfg)
        outcome = outcome_of(error)
        if _multirun() and isinstance(raised, Exception):
            if outcome is not None:
                log.error("job failed: %s", outcome.message(error).removeprefix(outcome.prefix))
            else:
                log.exception("job failed; recorded in metrics.json, the sweep goes on")
            return None
        if outcome is None:
            raise
        _exit(outcome, error)


def run_command(hydra_main: Callable[[], T]) -> T:
    """Call a ``@hydra.main`` entry point; errors Hydra raises before the task runs (composition, run dir) end
    the process as :data:`OUTCOMES` says, too. Other errors keep their (full) traceback."""
    previous = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises what it would print (and exit 1 on), for the table
    try:
        return hydra_main()
    except BaseException as raised:
        error = translate(raised, None)
        outcome = outcome_of(error)
        if outcome is None:
            raise
        _exit(outcome, error)
    finally:
        if previous is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = previous


def run_plain(func: Callable[[], T], path_option: tuple[str, str]) -> T:
    """Call a command without Hydra (``prunescope-report``); ``path_option``: (the option, what it names) that sets
    where it writes, named when a path there is not writable."""
    try:
        return func()
    except BaseException as raised:
        error = translate(raised, None, path_option)
        outcome = outcome_of(error)
        if outcome is None:
            raise
        _exit(outcome, error)


def _exit(outcome: Outcome, error: BaseException) -> None:
    print(outcome.message(error), file=sys.stderr)
    sys.exit(outcome.exit_status(error))


def _multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


# ----------------------------------------------------------------------------------------------- translation
def translate(
    error: BaseException, cfg: DictConfig | None, path_option: tuple[str, str] | None = None
) -> BaseException:
    """``error`` as the exception the table knows, when it is bad input in another form; else ``error``.

    ``cfg``: the run's config (``None`` for errors Hydra raised before the task), used to name the option that sets
    a path in a message; ``path_option``: (option, what it names) for a path outside the config's (default: the
    run or sweep dir, which Hydra creates before the task).
    """
    if isinstance(error, InstantiationException):
        unwrapped = instantiation_error(error, cfg)
        return error if unwrapped is error else translate(unwrapped, cfg, path_option)
    if isinstance(error, MissingConfigException):
        return ConfigError(_missing_option(str(error)))
    if isinstance(error, OverrideParseException):
        return ConfigError(f"cannot parse the override: {one_line(error)}")
    if isinstance(error, ConfigCompositionException):
        return ConfigError(_composition_problem(error))
    if isinstance(error, MissingMandatoryValue):
        key = error.full_key or "a value"
        return ConfigError(f"{key} is not set (???); pass {key}=<value>")
    if isinstance(error, OSError) and not isinstance(error, FileNotFoundError):
        return path_error(error, cfg, path_option) or error
    return error


def _missing_option(message: str) -> str:
    """``Could not find 'model/foo'`` + ``Available options in 'model'`` → ``model=foo is not ...; valid: ...``."""
    found = re.search(r"Could not find '([^']+)/([^'/]+)'", message)
    options = re.search(r"Available options in '[^']+':\n((?:\t.*\n?)+)", message)
    if found is None:
        return one_line(message.split("Config search path:")[0])
    group, name = found.groups()
    valid = ", ".join(line.strip() for line in options.group(1).splitlines()) if options else "(none)"
    return f"{group}={name} is not a {group} option; valid: {valid}"


def _composition_problem(error: ConfigCompositionException) -> str:
    """A misspelled key (``Could not override 'pruning.ratoi'``) as ``... is not a key of pruning; valid: ...``."""
    cause = error.__cause__
    parent = getattr(cause, "parent_node", None)
    full_key = getattr(cause, "full_key", None)
    if full_key and isinstance(parent, DictConfig) and "not in struct" in str(cause):
        group, _, key = full_key.rpartition(".")
        valid = [str(k) for k in parent if not str(k).startswith("_")]
        where = f"a key of {group}" if group else "a top-level key"
        close = difflib.get_close_matches(key, valid, n=1)
        guess = f" (did you mean {_joined(group, close[0])}?)" if close else ""
        append = re.search(r"To append to your config use (\S.*)", str(error))
        if not valid:
            add = f"add it with {append.group(1).strip()}" if append else f"add it with +{full_key}=<value>"
            return f"{full_key} is not {where}, which has none yet; {add}"
        return f"{full_key} is not {where}{guess}; valid: {', '.join(valid)}"
    return one_line(str(error).split("Config search path:")[0] + (f"\n{cause}" if cause else ""))


def _joined(group: str, key: str) -> str:
    return f"{group}.{key}" if group else key


# ----------------------------------------------------------------------------------------------- paths
WRITE_PROBLEMS = {errno.EACCES, errno.EPERM, errno.EROFS}
NO_SPACE = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
NOT_A_FOLDER = {errno.ENOTDIR, errno.EEXIST}
PATH_OPTIONS = (
    ("hydra.run.dir", "run dir", "paths.output_dir"),
    ("paths.baselines_dir", "baseline cache", "paths.baselines_dir"),
    ("paths.cache_dir", "data cache", "paths.cache_dir"),
    ("paths.log_dir", "output folder", "paths.log_dir"),
    ("paths.data_dir", "data folder", "paths.data_dir"),
)
"""(option a user sets, what it is, the config key holding its value), most specific first."""


class PathError(ConfigError):
    """A directory or file of the run that cannot be written: not writable, a name too long, no space left."""


def path_error(
    error: OSError, cfg: DictConfig | None, path_option: tuple[str, str] | None = None
) -> PathError | None:
    """One line for an ``OSError`` that a writable, shorter or emptier path fixes, naming the option to change;
    ``None`` for other errors."""
    filename = error.filename
    if filename is None or error.errno not in WRITE_PROBLEMS | NO_SPACE | NOT_A_FOLDER | {errno.ENAMETOOLONG}:
        return None
    path = Path(os.fsdecode(filename))
    option, what, folder = _path_option(path, cfg, path_option)
    if error.errno == errno.ENAMETOOLONG:
        return PathError(_too_long(path, option))
    if error.errno in NOT_A_FOLDER:
        return PathError(
            f"{what} {folder or path} cannot be created: {path} or a folder above it is a file "
            f"({error.strerror}); choose another {option}"
        )
    if error.errno in NO_SPACE:
        return PathError(
            f"no space left on device writing {path} ({error.strerror}); free space there or choose another "
            f"{option}"
        )
    return PathError(
        f"{what} {folder} is not writable ({error.strerror}: {path}); choose a writable {option}"
        if folder is not None
        else f"{path} is not writable ({error.strerror})"
    )


def _path_option(
    path: Path, cfg: DictConfig | None, path_option: tuple[str, str] | None
) -> tuple[str, str, Path | None]:
    """The option whose directory holds ``path`` (or lies below it: a parent that could not be created)."""
    configured = []
    for option, what, key in PATH_OPTIONS:
        try:
            value = OmegaConf.select(cfg, key, throw_on_resolution_failure=False) if cfg is not None else None
        except Exception:  # a path that does not resolve names nothing
            value = None
        if value:
            configured.append((option, what, Path(os.path.abspath(str(value)))))
    path = Path(os.path.abspath(path))
    holding = [c for c in configured if path == c[2] or c[2] in path.parents]
    if holding:
        return max(holding, key=lambda c: len(c[2].parts))
    below = [c for c in configured if path in c[2].parents]
    if below:
        return below[0]
    if path_option is not None:
        return (*path_option, path)
    if cfg is None:  # Hydra creating the run (or sweep) dir before the task
        multirun = any(arg in ("-m", "--multirun") for arg in sys.argv[1:])
        return ("hydra.sweep.dir", "sweep dir", path) if multirun else ("hydra.run.dir", "run dir", path)
    return ("path", "path", None)


def _too_long(path: Path, option: str) -> str:
    limit = _name_max(path)
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > limit:
            shown = part if len(part) <= 24 else f"{part[:12]}...{part[-8:]}"
            return (
                f"the path component {shown!r} of {option} is too long ({size} > {limit} characters); "
                f"choose a shorter {option}"
            )
    return (
        f"the path {path} is too long ({len(os.fsencode(str(path)))} characters); choose a shorter {option}"
    )


def _name_max(path: Path) -> int:
    for folder in (path, *path.parents):
        try:
            return int(os.pathconf(folder, "PC_NAME_MAX"))
        except (OSError, ValueError):
            continue
    return 255
