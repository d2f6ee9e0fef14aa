"""The wrapper factory: :func:`telemetry_decorator` for every kind of callable.

Plain and coroutine functions take an inlined fast path (this is the code every decorated call
runs: the steps of :mod:`dev_system.record.calls`, written out in place); generators and async
generators go through :class:`~dev_system.record.spans.Span`, since their event ends when the
iteration does.
"""

from __future__ import annotations

import functools
import inspect
import random
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from dev_system.problems import report_problem
from dev_system.record.arguments import CapturePlan, snapshot
from dev_system.record.calls import (
    begin_frame,
    counted_below,
    error_message,
    outcome,
    pass_on,
    push,
    request_model,
)
from dev_system.record.clock import REAL_CLOCKS
from dev_system.record.context import get_frame, reset_frame, set_frame
from dev_system.record.recorder import get_recorder
from dev_system.record.spans import Span

F = TypeVar("F", bound=Callable[..., Any])

_REC = get_recorder()
_random = random.random

#: Marks a function made by this decorator (``auto_integrate_service`` skips these).
WRAPPED_MARK = "__dev_system_telemetry__"


def telemetry_decorator(agent_name: str, event_type: str = "tool_call",
                        cost_calculator: Callable[[Any], Any] | None = None, *,
                        function_name: str | None = None, capture_args: bool = True) -> Callable[[F], F]:
    """Record every call of the decorated function as one telemetry event.

    :param agent_name: the service or agent making the call (``"orchestrator"``).
    :param event_type: ``"model_call"``, ``"tool_call"``, ``"api_call"`` or any string of yours.
        For ``model_call`` events, tokens, model and cost are read from the result's usage.
    :param cost_calculator: ``calc(result) -> float`` giving the call's cost in USD (for a
        generator, ``calc`` receives the stream's usage). If it raises or returns no number,
        the cost is stored as unknown and the problem is reported once (the ``dev_system`` logger).
    :param function_name: the name stored for the function (default: its ``__name__``).
    :param capture_args: store the call's arguments in the metadata (secrets redacted).

    Calls made with ``_trace_id="..."`` are recorded under that trace id; the keyword is removed
    before the function is called. The decorated function keeps its kind (coroutine function,
    generator function, ...), name, docstring, signature and ``__wrapped__``; it returns and raises
    exactly what the undecorated one does.
    """

    def decorate(fn: F) -> F:
        if isinstance(fn, (classmethod, staticmethod)):
            return type(fn)(decorate(fn.__func__))  # type: ignore[return-value]
        name = function_name or getattr(fn, "__name__", None) or type(fn).__name__
        plan = CapturePlan(fn, _REC.redactor) if capture_args else None
        if inspect.isasyncgenfunction(fn):
            wrapper = _async_generator_wrapper(fn, agent_name, event_type, cost_calculator, name, plan)
        elif inspect.isgeneratorfunction(fn):
            wrapper = _generator_wrapper(fn, agent_name, event_type, cost_calculator, name, plan)
        elif inspect.iscoroutinefunction(fn):
            wrapper = _coroutine_wrapper(fn, agent_name, event_type, cost_calculator, name, plan)
        else:
            wrapper = _function_wrapper(fn, agent_name, event_type, cost_calculator, name, plan)
        functools.update_wrapper(wrapper, fn)
        setattr(wrapper, WRAPPED_MARK, (agent_name, event_type))
        return wrapper  # type: ignore[return-value]

    return decorate


def _capture(rec: Any, plan: CapturePlan | None, args: tuple, kwargs: dict) -> dict | None:
    if plan is None or not rec.capture:
        return None
    try:
        return snapshot(plan, args, kwargs, rec.redactor, rec.max_chars)
    except Exception as exc:
        report_problem("capture", f"arguments could not be captured: {exc!r}")
        return None


def _failed(rec: Any, frame: list, start: float, latency: float, exc: BaseException,
            event_type: str, agent_name: str, name: str, args: dict | None) -> None:
    # A failed call has no result to read a usage from: nothing was billed (0 tokens, $0). Its
    # model is the one it asked for, when known; not for a call with model calls inside it (they
    # carry the model, and the failure is counted under it once).
    try:
        nested = frame[6]
        if nested:
            pass_on(get_frame())
        model = request_model(frame[3], args) if event_type == "model_call" and not nested else None
        push(rec, (start, event_type, agent_name, name, 0, 0,  # the fields in RAW_FIELDS order
                   latency, 0.0, False, type(exc).__name__,
                   frame[0], frame[1], frame[2], frame[5],
                   args, frame[3], model, rec.run_id, error_message(exc)))
    except Exception as problem:
        report_problem("record", f"an event could not be recorded: {problem!r}")


def _succeeded(rec: Any, frame: list, start: float, latency: float, result: Any, event_type: str,
               agent_name: str, name: str, args: dict | None, calculator: Any, simple: bool) -> None:
    try:
        extra = frame[3]
        if simple:
            tokens_in, tokens_out, cost, model, details = 0, 0, 0.0, None, None
        elif frame[6]:  # a model call made inside this one counts the usage (calls.py)
            tokens_in, tokens_out, cost, model, details = 0, 0, 0.0, None, None
            extra = counted_below(extra)
        else:
            tokens_in, tokens_out, cost, model, details = outcome(event_type, calculator, result)
            if model is None and event_type == "model_call":
                model = request_model(extra, args)
        if details:
            extra = dict(extra or {})
            extra["usage"] = details
        push(rec, (start, event_type, agent_name, name, tokens_in, tokens_out,  # the fields in RAW_FIELDS order
                   latency, cost, True, None,
                   frame[0], frame[1], frame[2], frame[5],
                   args, extra, model, rec.run_id, None))
    except Exception as problem:
        report_problem("record", f"an event could not be recorded: {problem!r}")


def _function_wrapper(fn, agent_name, event_type, calculator, name, plan):
    simple = calculator is None and event_type != "model_call"
    perf = REAL_CLOCKS[0]  # in the closure: where freezegun and stubs of time.perf_counter do not reach
    marks = event_type == "model_call"

    # The body below is calls.begin_frame, snapshot and calls.push written out in place: this is
    # the code every decorated call runs, and each function call saved is ~10% of its cost.
    def wrapper(*args, **kwargs):
        rec = _REC
        if not rec.on:
            if kwargs and "_trace_id" in kwargs:
                del kwargs["_trace_id"]
            return fn(*args, **kwargs)
        if kwargs and "_trace_id" in kwargs:
            frame = begin_frame(rec, kwargs.pop("_trace_id"), marks)
        else:
            parent = get_frame()
            span = rec.next_span()
            if parent is None:
                frame = [rec.default_trace, span, span, None,
                         rec.sample_rate >= 1.0 or _random() < rec.sample_rate, 0, False]
            else:
                frame = [parent[0], parent[1] or span, span, None, parent[4], parent[2], False]
                if marks and parent[2]:
                    parent[6] = True
        if plan is not None and rec.capture:
            try:
                captured = snapshot(plan, args, kwargs, rec.redactor, rec.max_chars)
            except Exception as exc:
                report_problem("capture", f"arguments could not be captured: {exc!r}")
                captured = None
        else:
            captured = None
        token = set_frame(frame)
        start = perf()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            latency = perf() - start
            reset_frame(token)
            _failed(rec, frame, start, latency, exc, event_type, agent_name, name, captured)
            raise
        latency = perf() - start
        reset_frame(token)
        if frame[6]:
            pass_on(get_frame())
        if frame[4]:
            if simple:
                try:
                    raw = (start, event_type, agent_name, name, 0, 0,  # the fields in RAW_FIELDS order
                           latency, 0.0, True, None,
                           frame[0], frame[1], frame[2], frame[5],
                           captured, frame[3], None, rec.run_id, None)
                    buffer = rec.buffer
                    if len(buffer) < rec.limit:
                        buffer.append(raw)
                    else:
                        rec.overflow(raw)
                    if len(buffer) >= rec.wake_at and (rec.sync or not rec.wake.is_set()):
                        rec.wake_writer()
                except Exception as problem:
                    report_problem("record", f"an event could not be recorded: {problem!r}")
            else:
                _succeeded(rec, frame, start, latency, result, event_type, agent_name, name, captured, calculator, False)
        return result

    return wrapper


def _coroutine_wrapper(fn, agent_name, event_type, calculator, name, plan):
    simple = calculator is None and event_type != "model_call"
    perf = REAL_CLOCKS[0]  # in the closure: where freezegun and stubs of time.perf_counter do not reach
    marks = event_type == "model_call"

    # The same inlined body as _function_wrapper's, around an await.
    async def wrapper(*args, **kwargs):
        rec = _REC
        if not rec.on:
            if kwargs and "_trace_id" in kwargs:
                del kwargs["_trace_id"]
            return await fn(*args, **kwargs)
        if kwargs and "_trace_id" in kwargs:
            frame = begin_frame(rec, kwargs.pop("_trace_id"), marks)
        else:
            parent = get_frame()
            span = rec.next_span()
            if parent is None:
                frame = [rec.default_trace, span, span, None,
                         rec.sample_rate >= 1.0 or _random() < rec.sample_rate, 0, False]
            else:
                frame = [parent[0], parent[1] or span, span, None, parent[4], parent[2], False]
                if marks and parent[2]:
                    parent[6] = True
        if plan is not None and rec.capture:
            try:
                captured = snapshot(plan, args, kwargs, rec.redactor, rec.max_chars)
            except Exception as exc:
                report_problem("capture", f"arguments could not be captured: {exc!r}")
                captured = None
        else:
            captured = None
        token = set_frame(frame)
        start = perf()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            latency = perf() - start
            reset_frame(token)
            _failed(rec, frame, start, latency, exc, event_type, agent_name, name, captured)
            raise
        latency = perf() - start
        reset_frame(token)
        if frame[6]:
            pass_on(get_frame())
        if frame[4]:
            if simple:
                try:
                    raw = (start, event_type, agent_name, name, 0, 0,  # the fields in RAW_FIELDS order
                           latency, 0.0, True, None,
                           frame[0], frame[1], frame[2], frame[5],
                           captured, frame[3], None, rec.run_id, None)
                    buffer = rec.buffer
                    if len(buffer) < rec.limit:
                        buffer.append(raw)
                    else:
                        rec.overflow(raw)
                    if len(buffer) >= rec.wake_at and (rec.sync or not rec.wake.is_set()):
                        rec.wake_writer()
                except Exception as problem:
                    report_problem("record", f"an event could not be recorded: {problem!r}")
            else:
                _succeeded(rec, frame, start, latency, result, event_type, agent_name, name, captured, calculator, False)
        return result

    return wrapper


def _generator_wrapper(fn, agent_name, event_type, calculator, name, plan):
    streams = event_type == "model_call"

    def wrapper(*args, **kwargs):
        rec = _REC
        if not rec.on:
            if kwargs and "_trace_id" in kwargs:
                del kwargs["_trace_id"]
            return (yield from fn(*args, **kwargs))
        trace_id = kwargs.pop("_trace_id", None) if kwargs else None
        span = Span(agent_name, event_type, name, trace_id=trace_id,
                    args=_capture(rec, plan, args, kwargs), cost_calculator=calculator)
        gen = fn(*args, **kwargs)
        to_send: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                with span.activate():
                    if to_throw is not None:
                        exc, to_throw = to_throw, None
                        item = gen.throw(exc)
                    else:
                        item = gen.send(to_send)
                if streams:
                    span.feed(item)
                try:
                    to_send = yield item
                except GeneratorExit:
                    gen.close()
                    span.end(closed_early=True)
                    raise
                except BaseException as exc:
                    to_throw = exc
        except StopIteration as stop:
            span.end()
            return stop.value
        except GeneratorExit:
            raise
        except BaseException as exc:
            span.end(exc)
            raise

    return wrapper


def _async_generator_wrapper(fn, agent_name, event_type, calculator, name, plan):
    streams = event_type == "model_call"

    async def wrapper(*args, **kwargs):
        rec = _REC
        trace_id = kwargs.pop("_trace_id", None) if kwargs else None
        span = Span(agent_name, event_type, name, trace_id=trace_id,
                    args=_capture(rec, plan, args, kwargs), cost_calculator=calculator)
        agen = fn(*args, **kwargs)
        to_send: Any = None
        to_throw: BaseException | None = None
        closing: BaseException | None = None
        try:
            while True:
                with span.activate():
                    if to_throw is not None:
                        exc, to_throw = to_throw, None
                        item = await agen.athrow(exc)
                    else:
                        item = await agen.asend(to_send)
                if streams:
                    span.feed(item)
                try:
                    to_send = yield item
                except GeneratorExit:
                    await agen.aclose()
                    span.end(closed_early=True)
                    raise
                except BaseException as exc:
                    to_throw = exc
                    if _is_cancellation(exc):
                        closing = exc
        except StopAsyncIteration:
            span.end()
        except GeneratorExit:
            raise
        except BaseException as exc:
            # A cancellation thrown in at a yield, and let through: the generator was being closed
            # (the event loop's finaliser of an async generator left early runs ``aclose()`` in a
            # task, which ``asyncio.run`` cancels when it returns). Closed early, as by ``aclose()``.
            if exc is closing:
                span.end(closed_early=True)
            else:
                span.end(exc)
            raise

    return wrapper


def _is_cancellation(exc: BaseException) -> bool:
    """Whether ``exc`` is asyncio's ``CancelledError`` (asyncio is not imported for it)."""
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(exc, asyncio.CancelledError)
