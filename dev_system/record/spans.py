"""One in-flight event, for code that cannot be wrapped by the decorator in one piece: streams
(the event ends when the stream does) and the zero-code SDK instrumentation.

    span = Span("llm", "model_call", "chat.completions.create")
    with span.activate():          # calls made here become its children
        response = client.chat.completions.create(...)
    span.set_result(response)      # tokens, model and cost from the response
    span.end()                     # or span.end(exc) when it failed

A ``model_call`` span owns the tokens and cost of its response unless a model call was made
inside it (then that one does: :mod:`dev_system.record.calls`). A failed call that carried no
usage records 0 tokens and $0 (nothing was billed), under the model it asked for.

Every method is a no-op when telemetry was off as the span began; none of them raises.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from dev_system.problems import report_problem
from dev_system.record.calls import (
    UNSET,
    begin_frame,
    counted_below,
    error_message,
    outcome,
    pass_on,
    push,
    request_model,
    valid_cost,
)
from dev_system.record.clock import REAL_CLOCKS
from dev_system.record.context import get_frame, reset_frame, set_frame
from dev_system.record.recorder import get_recorder
from dev_system.record.usage import StreamUsage


class Span:
    """An event that starts now and ends with :meth:`end`."""

    __slots__ = ("rec", "frame", "parent", "agent_name", "event_type", "function_name", "calculator",
                 "args", "start", "result", "usage", "cost", "model", "stream", "ended")

    def __init__(self, agent_name: str, event_type: str = "model_call", function_name: str = "call", *,
                 trace_id: str | None = None, args: dict | None = None,
                 cost_calculator: Callable[[Any], Any] | None = None, model: str | None = None) -> None:
        """``model``: the model the call asks for, the event's model when the response names none
        (also taken from ``args["model"]``)."""
        self.rec = rec = get_recorder()
        self.ended = not rec.on
        if self.ended:
            return
        self.parent = get_frame()
        self.frame = begin_frame(rec, trace_id, event_type == "model_call")
        self.agent_name, self.event_type, self.function_name = agent_name, event_type, function_name
        self.calculator = cost_calculator
        self.args = args
        self.result = None
        self.usage = UNSET
        self.cost = UNSET
        self.model = model if isinstance(model, str) and model else None
        self.stream = None
        self.start = REAL_CLOCKS[0]()  # the real clock, whatever a test did to time.perf_counter

    @contextlib.contextmanager
    def activate(self) -> Iterator[Span]:
        """Make this span the parent of the calls made inside the block."""
        if self.ended:
            yield self
            return
        token = set_frame(self.frame)
        try:
            yield self
        finally:
            reset_frame(token)

    def set_result(self, result: Any) -> None:
        """The call's result: tokens, model and cost are read from it when the span ends."""
        self.result = result

    def set_usage(self, usage: Any) -> None:
        """A :class:`~dev_system.record.usage.Usage` known by other means (None: unknown)."""
        self.usage = usage

    def set_cost(self, cost_usd: float | None) -> None:
        """The call's cost in USD, if known by other means."""
        self.cost = cost_usd

    def set_model(self, model: str | None) -> None:
        """The model the call asks for (the event's model when the response names none)."""
        if not self.ended and isinstance(model, str) and model:
            self.model = model

    def feed(self, chunk: Any) -> None:
        """One chunk of a streamed response; the usage is taken from the chunks at the end."""
        if self.ended:
            return
        try:
            if self.stream is None:
                self.stream = StreamUsage()
            self.stream.feed(chunk)
        except Exception as exc:
            report_problem("stream-usage", f"stream usage could not be read: {exc!r}")

    def annotate(self, **fields: Any) -> None:
        """Add ``fields`` to the event's metadata."""
        if not self.ended:
            if self.frame[3] is None:
                self.frame[3] = {}
            self.frame[3].update(fields)

    def discard(self) -> None:
        """End without recording anything: the call did not happen (its SDK refused it before
        sending a request)."""
        self.ended = True

    def end(self, exc: BaseException | None = None, *, closed_early: bool = False) -> None:
        """Record the event (once): failed when ``exc`` is given; a stream closed early is not a failure."""
        if self.ended:
            return
        self.ended = True
        latency = REAL_CLOCKS[0]() - self.start
        try:
            rec, frame = self.rec, self.frame
            nested = frame[6]
            if nested:
                pass_on(self.parent)
            if exc is None and not frame[4]:
                return
            usage = self.usage
            if usage is UNSET and self.stream is not None:
                usage = self.stream.usage()
            extra = frame[3]
            if nested:  # a model call made inside this one counts the usage
                tokens_in, tokens_out, cost, model, details = 0, 0, 0.0, None, None
                if self.event_type == "model_call" or self.calculator is not None or usage is not UNSET:
                    extra = counted_below(extra)
            elif exc is not None and (usage is UNSET or usage is None):  # failed, no usage: nothing was billed
                tokens_in, tokens_out, model, details = 0, 0, None, None
                cost = 0.0 if self.cost is UNSET else valid_cost(self.cost, "set_cost")
            else:
                result = self.result if usage is UNSET or self.stream is None else usage
                tokens_in, tokens_out, cost, model, details = outcome(self.event_type, self.calculator, result, usage)
                if self.cost is not UNSET:
                    cost = valid_cost(self.cost, "set_cost")
            if model is None and not nested and self.event_type == "model_call":
                model = request_model(extra, self.args, self.model)
            if details or closed_early:
                extra = dict(extra or {})
                if details:
                    extra["usage"] = details
                if closed_early:
                    extra["closed_early"] = True
            push(rec, (  # the fields in RAW_FIELDS order
                self.start, self.event_type, self.agent_name, self.function_name, tokens_in, tokens_out,
                latency, cost, exc is None, None if exc is None else type(exc).__name__,
                frame[0], frame[1], frame[2], frame[5],
                self.args, extra, model, rec.run_id, None if exc is None else error_message(exc),
            ))
        except Exception as problem:
            report_problem("span-end", f"an event could not be recorded: {problem!r}")
