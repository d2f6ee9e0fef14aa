"""Calls whose event is finished on another thread a moment after their caller saw them end, and a
bounded wait for them, so that whoever reads the figures next (a test's totals) sees them.

An integration that ends some events off the caller's thread (LiteLLM runs the success hook of a
sync stream on its own logging thread after the last chunk) adds a *waiter* while it is
instrumented: a function that waits at most the seconds it is given for such calls, and returns
True when none is left. :func:`settle_pending_calls` asks each waiter in turn. With no waiter it
returns at once (one list check: it is called as every test ends).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dev_system.problems import report_problem

#: How long :func:`settle_pending_calls` waits at most, in seconds, by default.
SETTLE_TIMEOUT_S = 5.0

_waiters: list[Callable[[float], bool]] = []


def add_waiter(waiter: Callable[[float], bool]) -> None:
    """Have :func:`settle_pending_calls` call ``waiter(seconds)`` (added once)."""
    if waiter not in _waiters:
        _waiters.append(waiter)


def remove_waiter(waiter: Callable[[float], bool]) -> None:
    """Undo :func:`add_waiter` (nothing happens when ``waiter`` is not there)."""
    try:
        _waiters.remove(waiter)
    except ValueError:
        pass


def settle_pending_calls(timeout: float = SETTLE_TIMEOUT_S) -> bool:
    """Wait, at most ``timeout`` seconds in all, for the calls that have ended for their caller
    but whose events are still being finished on another thread. True when none is left. Never
    raises: a waiter's failure is reported as a problem. Never call it holding the recorder's
    lock (the events being finished need it)."""
    if not _waiters:
        return True
    deadline = time.monotonic() + timeout
    settled = True
    for waiter in list(_waiters):
        try:
            settled = waiter(max(0.0, deadline - time.monotonic())) and settled
        except Exception as exc:
            report_problem("settle", f"waiting for calls still being recorded failed: {exc!r}")
            settled = False
    return settled
