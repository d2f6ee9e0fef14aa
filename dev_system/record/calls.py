"""What every recorded call does, whichever way it is recorded (the decorator's inlined wrappers,
:class:`~dev_system.record.spans.Span`): open its frame in the trace (:func:`begin_frame`), read
its outcome from the result (tokens, model and cost: :func:`outcome`), and hand its raw record to
the recorder's buffer (:func:`push`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

from dev_system.problems import report_problem
from dev_system.record.context import get_frame
from dev_system.record.pricing import default_cost
from dev_system.record.usage import usage_from

__all__ = ["MAX_ERROR_MESSAGE", "UNSET", "begin_frame", "error_message", "outcome", "push", "valid_cost"]

#: Stands for an argument not given (``None`` is a value: unknown).
UNSET = object()
#: Characters of an error message kept in the event (longer ones are cut, with "…").
MAX_ERROR_MESSAGE = 500


def begin_frame(rec: Any, explicit_trace: str | None) -> list:
    """A new frame for a call starting now, linked to the current one (or a new trace root)."""
    parent = get_frame()
    span = rec.next_span()
    if parent is None or explicit_trace is not None:
        trace = explicit_trace if explicit_trace is not None else (
            parent[0] if parent is not None else rec.default_trace)
        keep = parent[4] if parent is not None else (
            rec.sample_rate >= 1.0 or random.random() < rec.sample_rate)
        return [trace, span, span, None, keep, 0]
    return [parent[0], parent[1] or span, span, None, parent[4], parent[2]]


def error_message(exc: BaseException) -> str:
    """A short, safe text for ``exc``."""
    try:
        text = str(exc)
    except Exception:
        text = f"<{type(exc).__name__} whose str() failed>"
    if len(text) > MAX_ERROR_MESSAGE:
        text = text[:MAX_ERROR_MESSAGE] + "…"
    return text


def valid_cost(value: Any, source: str) -> float | None:
    """``value`` if it is a usable cost in USD, else None with one warning."""
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
