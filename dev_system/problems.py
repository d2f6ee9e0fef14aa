"""Telemetry's own failures: one warning per kind, and a counter.

Nothing here raises: not even under ``-W error``, where a warning would become an exception in
the user's code.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections import Counter
from typing import Any


class TelemetryWarning(RuntimeWarning):
    """Telemetry could not do something (store an event, price a call, ...); the user's code went on."""


_lock = threading.Lock()
_counts: Counter[str] = Counter()


def _after_fork_in_child() -> None:
    # Another thread may have held the lock when the process forked: the child gets a fresh one.
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def report_problem(key: str, message: str) -> None:
    """Count a problem of kind ``key``; warn with ``message`` the first time this kind happens.

    The warning points at the user's line that led to it (the nearest caller outside this
    library, the standard library and installed packages); a problem with no such caller (found
    by the background writer) is attributed to no line: ``dev-system:0``."""
    with _lock:
        _counts[key] += 1
        first = _counts[key] == 1
    if first:
        try:
            frame = _users_frame()
            if frame is None:
                warnings.warn_explicit(f"dev-system telemetry: {message}", TelemetryWarning, "dev-system", 0,
                                       module="dev_system", registry={})
            else:
                globals_ = frame.f_globals
                warnings.warn_explicit(f"dev-system telemetry: {message}", TelemetryWarning,
                                       frame.f_code.co_filename, frame.f_lineno, module=globals_.get("__name__"),
                                       registry=globals_.setdefault("__warningregistry__", {}))
        except Exception:  # -W error turned it into an exception; the user's code must go on
            pass


#: Folders whose code is not the user's: this library's two packages, the standard library and
#: the site-packages folders (filled on first use).
_NOT_USERS: tuple[str, ...] = ()


def _not_users_folders() -> tuple[str, ...]:
    global _NOT_USERS
    if not _NOT_USERS:  # without importing anything: a problem may come when imports no longer can
        here = os.path.dirname(os.path.abspath(__file__))
        folders = {here, os.path.join(os.path.dirname(here), "pytest_devtelemetry"), os.path.dirname(os.__file__)}
        site = sys.modules.get("site")
        try:
            folders.update(site.getsitepackages())  # type: ignore[union-attr]
            folders.add(site.getusersitepackages())  # type: ignore[union-attr]
        except Exception:  # python -S, or an embedded interpreter's site module
            folders.update(path for path in sys.path if path.endswith(("site-packages", "dist-packages")))
        _NOT_USERS = tuple(os.path.join(os.path.realpath(folder), "") for folder in folders if folder)
    return _NOT_USERS


def _users_frame() -> Any:
    """The nearest frame of the calling thread's stack that runs the user's code, or None."""
    skip = _not_users_folders()
    frame = sys._getframe(2)
    seen: dict[str, bool] = {}
    while frame is not None:
        filename = frame.f_code.co_filename
        ours = seen.get(filename)
        if ours is None:
            ours = seen[filename] = filename.startswith("<frozen") or os.path.realpath(filename).startswith(skip)
        if not ours:
            return frame
        frame = frame.f_back
    return None


def problem_counts() -> dict[str, int]:
    """How often each kind of problem happened in this process."""
    with _lock:
        return dict(_counts)


def reset_problems() -> None:
    """Forget the counts (and so warn again); for tests and new sessions."""
    with _lock:
        _counts.clear()
