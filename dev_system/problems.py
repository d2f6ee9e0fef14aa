"""Telemetry's own failures: one warning per kind, and a counter.

Nothing here raises: not even under ``-W error``, where a warning would become an exception in
the user's code.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import Counter


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
    """Count a problem of kind ``key``; warn with ``message`` the first time this kind happens."""
    with _lock:
        _counts[key] += 1
        first = _counts[key] == 1
    if first:
        try:
            warnings.warn(f"dev-system telemetry: {message}", TelemetryWarning, stacklevel=3)
        except Exception:  # -W error turned it into an exception; the user's code must go on
            pass


def problem_counts() -> dict[str, int]:
    """How often each kind of problem happened in this process."""
    with _lock:
        return dict(_counts)


def reset_problems() -> None:
    """Forget the counts (and so warn again); for tests and new sessions."""
    with _lock:
        _counts.clear()
