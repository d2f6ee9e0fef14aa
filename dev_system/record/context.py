"""The current call's place in a trace, carried by a context variable.

A *frame* is a small list ``[trace_id, root_span, span, extra, keep, parent_span, nested]``:

- ``trace_id``: an explicit trace id (``_trace_id=``, :func:`trace`, the pytest test) or ``None``,
  in which case the trace id is derived from ``root_span`` when the event is stored;
- ``root_span``/``span``: integer span numbers of the trace root and of this call (0: none);
- ``extra``: fields added with :func:`annotate` (a dict, made on first use);
- ``keep``: the sampling decision, taken once at the trace root;
- ``parent_span``: the span number of the enclosing decorated call (0: none);
- ``nested``: True once a model call was made inside this call (directly or deeper): the
  innermost model call owns the tokens and cost, so this call's event does not take the usage of
  its own result (:mod:`dev_system.record.calls`). Frames with no span of their own (those of
  :func:`trace` and of a pytest test) are never marked.

Context variables follow asyncio tasks by themselves; threads get them through
:func:`propagate` or :class:`TelemetryThread`.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

_FRAME: contextvars.ContextVar[list | None] = contextvars.ContextVar("dev_system_frame", default=None)

get_frame = _FRAME.get
set_frame = _FRAME.set
reset_frame = _FRAME.reset

T = TypeVar("T")


@contextlib.contextmanager
def trace(trace_id: str) -> Iterator[str]:
    """Record every decorated call made inside the block under ``trace_id``.

    >>> with trace("checkout-42"):
    ...     handle_order()        # its events, and those of the calls it makes, carry "checkout-42"
    """
    parent = _FRAME.get()
    keep = parent[4] if parent is not None else True
    token = _FRAME.set([str(trace_id), 0, 0, None, keep, 0, False])
    try:
        yield str(trace_id)
    finally:
        _FRAME.reset(token)


def current_trace_id() -> str | None:
    """The explicit trace id in force here, or None (the recorder then derives one per root call)."""
    frame = _FRAME.get()
    return None if frame is None else frame[0]


def annotate(**fields: Any) -> bool:
    """Add ``fields`` to the metadata of the decorated call that is running now.

    ``annotate(model="gpt-4o")`` also fills the event's ``model`` column. Returns False, and does
    nothing, when called outside any decorated call.
    """
    frame = _FRAME.get()
    if frame is None or not frame[2]:
        return False
    if frame[3] is None:
        frame[3] = {}
    frame[3].update(fields)
    return True


def propagate(fn: Callable[..., T]) -> Callable[..., T]:
    """Wrap ``fn`` so that it runs in a copy of the current context, wherever it is called.

    Use it for work handed to threads or executors::

        pool.submit(propagate(fetch_page), url)
    """
    ctx = contextvars.copy_context()

    def run(*args: Any, **kwargs: Any) -> T:
        return ctx.run(fn, *args, **kwargs)

    return run


class TelemetryThread(threading.Thread):
    """A :class:`threading.Thread` whose target runs in the context of the thread that created it,
    so calls made in it join the creator's trace."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._dev_system_context = contextvars.copy_context()

    def run(self) -> None:
        self._dev_system_context.run(super().run)
