"""Stopping a run from outside: SIGTERM, SIGINT (Ctrl-C) and SIGUSR1 (Slurm's preemption warning) end the run as
``interrupted`` with exit status 128 + signal number (143, 130, 138), keeping the last epoch's checkpoint to resume
from."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


class RunInterrupted(BaseException):
    """The run received a stop signal (a ``BaseException``, like ``KeyboardInterrupt``, so no stage swallows it)."""

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        super().__init__(f"received {signal.Signals(self.signum).name}")

    @property
    def exit_code(self) -> int:
        """128 + the signal number, the shell's convention (SIGTERM 143, SIGINT 130)."""
        return 128 + self.signum


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise RunInterrupted(signum)


def interrupt_on_signals() -> dict[int, Any] | None:
    """Make the stop signals raise :class:`RunInterrupted`; returns the previous handlers (``None`` off the main
    thread, where signal handlers cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    for signum in SIGNALS:
        signal.signal(signum, _raise_interrupted)
    return previous


def restore_signal_handlers(previous: dict[int, Any] | None) -> None:
    """Put back the handlers :func:`interrupt_on_signals` replaced."""
    for signum, handler in (previous or {}).items():
        signal.signal(signum, handler)
