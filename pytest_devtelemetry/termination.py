"""A SIGTERM to pytest (a CI job's timeout, ``docker stop``): the run is stored as ``terminated``
with what is known (the finished tests' results, their counts, the end time), then the process
ends by SIGTERM, as it would have without telemetry (the same exit status for whoever waits).

Installed by the role that stores the run (the single process, the xdist controller) for the
session, in front of the handler that was there (the recorder's, which stores the buffered events
and ends the process; or one of the application's, which decides). A process that ignores
SIGTERM is left alone.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any


class TerminationWatch:
    """Calls ``finish(signum)`` once on SIGTERM, then what was there before."""

    def __init__(self, finish: Callable[[int], None]) -> None:
        self.finish = finish
        self.previous: Any = None
        self.installed = False
        self.done = False

    def install(self) -> None:
        if not hasattr(signal, "SIGTERM") or threading.current_thread() is not threading.main_thread():
            return
        try:
            previous = signal.getsignal(signal.SIGTERM)
            if previous is signal.SIG_IGN or previous is None:  # ignored, or set outside Python
                return
            signal.signal(signal.SIGTERM, self._handle)
        except (ValueError, OSError):
            return
        self.previous, self.installed = previous, True

    def uninstall(self) -> None:
        if not self.installed:
            return
        self.installed = False
        try:
            if signal.getsignal(signal.SIGTERM) == self._handle:  # nobody took over since
                signal.signal(signal.SIGTERM, self.previous)
        except (ValueError, OSError):
            pass

    def _handle(self, signum: int, frame: Any) -> None:
        if not self.done:
            self.done = True
            try:
                self.finish(signum)
            except BaseException:  # telemetry must not change how the process ends
                pass
        previous = self.previous
        if callable(previous):
            previous(signum, frame)
            return
        from dev_system.record.process import end_by_signal
        from dev_system.record.recorder import get_recorder

        try:
            get_recorder().close()  # what is buffered is stored, as at exit
        finally:
            end_by_signal(signum)
