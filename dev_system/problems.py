"""Telemetry's own failures: one log record per kind, a counter, and the first message of each kind.

A problem is never a warning and never an exception: a warning raised from inside the user's call
would be caught by the user's ``pytest.warns(...)`` or ``warnings.catch_warnings(record=True)``
block, and ``-W error`` (``filterwarnings = error``) would turn it into a failure of the user's
test. So a suite behaves the same with and without telemetry. The first problem of each kind is
logged once on the ``dev_system`` logger at WARNING level (with no logging configured, Python
prints it on standard error); the counts and messages are shown by the pytest summary,
``stats()`` and the CLI. The log record names the user's line that led to the problem (its
``pathname`` and ``lineno``), or ``dev-system`` line 0 when no user code is on the stack (a
problem found by the background writer).
"""

from __future__ import annotations

import os
import sys
import threading
from collections import Counter
from typing import Any

#: The logger telemetry's problems go to.
LOGGER_NAME = "dev_system"


class TelemetryWarning(RuntimeWarning):
    """The category of telemetry's problems, kept for code that names it; telemetry reports its
    problems on the ``dev_system`` logger, never as warnings (see :func:`report_problem`)."""


_lock = threading.Lock()
_counts: Counter[str] = Counter()
_messages: dict[str, str] = {}


def _after_fork_in_child() -> None:
    # Another thread may have held the lock when the process forked: the child gets a fresh one.
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


#: What a problem's message goes through before it is kept or logged (the record stage installs
#: its redaction: a message may quote an error that holds a key). ``None``: kept as it is.
_message_filter: Any = None


def filter_messages(message_filter: Any) -> None:
    """Pass every later problem message through ``message_filter`` (a ``str -> str`` function)
    before it is kept or logged; a filter that fails keeps a fixed text instead."""
    global _message_filter
    _message_filter = message_filter


def report_problem(key: str, message: str) -> None:
    """Count a problem of kind ``key``; the first time this kind happens, keep ``message`` and log
    it on the ``dev_system`` logger. Never warns and never raises."""
    if _message_filter is not None:
        try:
            message = _message_filter(message)
        except Exception:  # the filter failed: say what happened, never what might hold a secret
            message = f"{key} (its message could not be redacted)"
    with _lock:
        _counts[key] += 1
        first = _counts[key] == 1
        if first:
            _messages[key] = message
    if first:
        try:
            _log(message)
        except Exception:  # logging itself failed (a broken handler): the count and message remain
            pass


def _log(message: str) -> None:
    import logging

    logger = logging.getLogger(LOGGER_NAME)
    if not logger.isEnabledFor(logging.WARNING):
        return
    frame = _users_frame()
    if frame is None:
        filename, lineno, function = "dev-system", 0, "<telemetry>"
    else:
        filename, lineno, function = frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name
    record = logger.makeRecord(LOGGER_NAME, logging.WARNING, filename, lineno,
                               f"dev-system telemetry: {message}", None, None, function)
    logger.handle(record)


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
    frame = sys._getframe(3)
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


def problem_messages() -> dict[str, str]:
    """The first message of each kind of problem that happened in this process."""
    with _lock:
        return dict(_messages)


def reset_problems() -> None:
    """Forget the counts and messages (and so log again); for tests and new sessions."""
    with _lock:
        _counts.clear()
        _messages.clear()
