"""What every recorded call does, whichever way it is recorded (the decorator's inlined wrappers,
:class:`~dev_system.record.spans.Span`): open its frame in the trace (:func:`begin_frame`), read
its outcome from the result (tokens, model and cost: :func:`outcome`), and hand its raw record to
the recorder's buffer (:func:`push`).

**Who owns the figures.** A provider call's tokens and cost are counted once, by the innermost
model call that saw them: an instrumented SDK call, or a decorated ``model_call`` with no model
call inside it. A model call marks the frame it is made in as it begins (:func:`begin_frame`),
and a marked call passes the mark on to its own caller's frame as it ends (:func:`pass_on`), so
every enclosing call knows, without a search, that a model call ran below it. Such an event
records 0 tokens and $0 instead of the usage of its own result (which is usually the same
response) and says so in its metadata (:data:`COUNTED_IN_KEY`); it still shows in its trace.
Every sum over events is then the providers' usage once.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

from dev_system.problems import report_problem
from dev_system.record.context import get_frame
from dev_system.record.pricing import default_cost
from dev_system.record.redaction import redact_text
from dev_system.record.usage import usage_from

__all__ = ["COUNTED_IN", "COUNTED_IN_KEY", "MAX_ERROR_MESSAGE", "UNSET", "begin_frame", "counted_below",
           "error_message", "outcome", "pass_on", "push", "request_model", "short_error_message",
           "valid_cost"]

#: Stands for an argument not given (``None`` is a value: unknown).
UNSET = object()
#: Characters of an error message kept in the event (longer ones are cut, with "…").
MAX_ERROR_MESSAGE = 500
#: The metadata key of an event whose tokens and cost are counted in the model calls made inside
#: it, and its value.
COUNTED_IN_KEY = "usage_counted_in"
COUNTED_IN = "nested model calls"


def begin_frame(rec: Any, explicit_trace: str | None, model_call: bool = False) -> list:
    """A new frame for a call starting now, linked to the current one (or a new trace root).
    A ``model_call`` marks the current frame: the usage is counted here, not there."""
    parent = get_frame()
    span = rec.next_span()
    if parent is not None and model_call and parent[2]:
        parent[6] = True
    if parent is None or explicit_trace is not None:
        trace = explicit_trace if explicit_trace is not None else (
            parent[0] if parent is not None else rec.default_trace)
        keep = parent[4] if parent is not None else (
            rec.sample_rate >= 1.0 or random.random() < rec.sample_rate)
        return [trace, span, span, None, keep, 0, False]
    return [parent[0], parent[1] or span, span, None, parent[4], parent[2], False]


def pass_on(parent: list | None) -> None:
    """A marked call ends: mark ``parent``, the frame it was called in (frames without a span of
    their own, a :func:`~dev_system.record.context.trace` block's or a test's, are left alone)."""
    if parent is not None and parent[2]:
        parent[6] = True


def counted_below(extra: dict | None) -> dict:
    """``extra`` (the event's annotations) saying that its usage is counted in nested model calls."""
    extra = dict(extra or {})
    extra[COUNTED_IN_KEY] = COUNTED_IN
    return extra


def request_model(extra: dict | None, args: dict | None, asked: str | None = None) -> str | None:
    """The model a call asked for, for an event whose result names none: None when ``annotate(model=...)``
    named one (the writer takes that), else ``asked``, else the captured ``model`` argument if it
    is a name."""
    if extra and isinstance(extra.get("model"), str):
        return None
    if asked:
        return asked
    model = args.get("model") if args else None
    return model if isinstance(model, str) and model else None


#: Characters of an error message kept past :data:`MAX_ERROR_MESSAGE` until it is redacted (more
#: than any secret), so that the cut made after redaction leaves no part of a secret.
REDACTION_MARGIN = 2_048


def error_message(exc: BaseException) -> str:
    """The text of ``exc``, bounded; the writer redacts it, then cuts it to :data:`MAX_ERROR_MESSAGE`
    (:func:`short_error_message`)."""
    try:
        text = str(exc)
    except Exception:
        text = f"<{type(exc).__name__} whose str() failed>"
    if len(text) > MAX_ERROR_MESSAGE + REDACTION_MARGIN:
        text = text[:MAX_ERROR_MESSAGE + REDACTION_MARGIN] + "…"
    return text


def short_error_message(text: str) -> str:
    """``text`` (from :func:`error_message`) redacted, then cut to :data:`MAX_ERROR_MESSAGE` characters."""
    text = redact_text(text)
    if len(text) > MAX_ERROR_MESSAGE:
        text = text[:MAX_ERROR_MESSAGE] + "…"
    return text


def valid_cost(value: Any, source: str) -> float | None:
    """``value`` if it is a usable cost in USD, else None, the problem reported once."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    if value is not None:
        report_problem(f"cost:{source}", f"cost calculator {source} returned {value!r}, not a cost in USD; cost left unknown")
    return None


def outcome(event_type: str, calculator: Callable[[Any], Any] | None, result: Any, usage: Any = UNSET) -> tuple:
    """``(input_tokens, output_tokens, cost_usd, model, usage_details)`` for a finished call."""
    model_call = event_type == "model_call"
    if usage is UNSET:
        usage = None
        if model_call and result is not None:
            try:
                usage = usage_from(result)
            except Exception as exc:
                report_problem("usage", f"token usage could not be read: {exc!r}")
    if usage is not None:
        input_tokens, output_tokens, model, details = usage
    else:
        input_tokens = output_tokens = None if model_call else 0
        model = details = None
    if calculator is not None:
        name = getattr(calculator, "__qualname__", repr(calculator))
        try:
            cost = valid_cost(calculator(result), name)
        except Exception as exc:
            report_problem(f"cost:{name}", f"cost calculator {name} raised {exc!r}; cost left unknown")
            cost = None
    elif model_call:
        try:
            cost = default_cost(usage) if usage is not None else None
        except Exception as exc:
            report_problem("cost:default", f"pricing failed: {exc!r}; cost left unknown")
            cost = None
    else:
        cost = 0.0
    return input_tokens, output_tokens, cost, model, details


def push(rec: Any, raw: tuple) -> None:
    """Hand a raw record (:data:`~dev_system.record.raw.RAW_FIELDS`) to the recorder's buffer
    (the calling path's only contact with it)."""
    buffer = rec.buffer
    if len(buffer) < rec.limit:
        buffer.append(raw)
    else:
        rec.overflow(raw)
    # Wake the writer once, not on every call past the mark (setting an Event costs a lock).
    if len(buffer) >= rec.wake_at and (rec.sync or not rec.wake.is_set()):
        rec.wake_writer()
