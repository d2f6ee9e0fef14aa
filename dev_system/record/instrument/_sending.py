"""Whether an instrumented SDK call sent an HTTP request: a call its SDK refused before sending
anything is not a provider call, and records no event.

The ``openai`` and ``anthropic`` SDKs build each HTTP request they send with
``BaseClient._build_request`` (once per attempt, just before sending it). That method is patched
with :func:`marker`: while an instrumented call runs, a cell of its own (:func:`begin`) is set
when a request has been built. A call that raised before (the Anthropic SDK's "Streaming is
required ..." for a large ``max_tokens`` without a stream, a missing argument) left its cell unset:
:func:`refused_before_sending` says so, and the wrapper forgets the event instead of recording a
failed call. An error raised once a request went out (a connection error, an error status, a
``parse()`` that fails on a billed reply) is a failed call as before.
"""

from __future__ import annotations

import contextvars
import functools
from typing import Any

#: The running instrumented call's cell: ``[True]`` once its SDK has built an HTTP request.
_CELL: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar("dev_system_request_built", default=None)


def marker(original: Any) -> Any:
    """The wrapper of ``BaseClient._build_request``: notes, in the running call's cell, that a
    request was built (to be sent)."""

    @functools.wraps(original)
    def _build_request(*args: Any, **kwargs: Any) -> Any:
        request = original(*args, **kwargs)
        cell = _CELL.get()
        if cell is not None:
            cell[0] = True
        return request

    return _build_request


def begin() -> tuple[list[bool], contextvars.Token]:
    """A new cell for the instrumented call starting here; reset the token when it returns."""
    cell = [False]
    return cell, _CELL.set(cell)


def end(token: contextvars.Token) -> None:
    _CELL.reset(token)


def refused_before_sending(cell: list[bool], args: tuple, mark: str) -> bool:
    """True when the call whose cell this is raised before its SDK built any request, and its
    client's ``_build_request`` is watched (the patched one, carrying ``mark``), so that this is
    known; False when a request was built or nothing tells (an SDK without the marker)."""
    if cell[0] or not args:
        return False
    try:
        build = getattr(getattr(args[0], "_client", None), "_build_request", None)
        function = getattr(build, "__func__", None)
        return bool(function is not None and function.__dict__.get(mark))
    except Exception:
        return False
