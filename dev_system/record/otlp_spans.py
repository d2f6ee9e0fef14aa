"""Telemetry events as OpenTelemetry spans, without any OpenTelemetry type.

:func:`span_fields` maps one :class:`~dev_system.events.TelemetryEvent` to the :class:`SpanFields`
of its span: name, ids, parent, times, kind, status and attributes. Attributes follow the
OpenTelemetry GenAI semantic conventions (docs/otel.md), with the cost, the event type and id,
the run id and the pytest node id of the test as attributes of dev_system's own.
:func:`score_span_fields` maps a recorded quality score to a zero-length span in its trace that
carries the GenAI ``gen_ai.evaluation.result`` event (and its attributes on the span). Any row maps,
even one edited by hand: every field is first made of the type the mapping expects, and ids
that are not valid OpenTelemetry ids are hashed into valid ones.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import field
from typing import Any

from dev_system.events import TelemetryEvent
from dev_system.structs import struct

__all__ = [
    "EVALUATION_EVENT", "score_span_fields",
    "COST_ATTRIBUTE", "NODEID_ATTRIBUTE", "TRACE_ID_ATTRIBUTE", "OPERATIONS", "PROVIDERS", "SpanFields",
    "span_fields", "otel_trace_id", "otel_span_id", "looks_like_nodeid",
]

#: The cost of the call in USD (no standard attribute exists yet); absent when the cost is unknown.
COST_ATTRIBUTE = "dev_system.cost_usd"
#: The pytest node id of the test that caused the call (OpenTelemetry's ``test.case.name``).
NODEID_ATTRIBUTE = "test.case.name"
#: The event's own trace id when the span's trace id differs from it (not 32 hex, or TRACEPARENT).
TRACE_ID_ATTRIBUTE = "dev_system.trace_id"

#: event_type -> gen_ai.operation.name
OPERATIONS = {
    "model_call": "chat",
    "llm_call": "chat",
    "tool_call": "execute_tool",
    "agent_call": "invoke_agent",
    "agent_run": "invoke_agent",
    "invoke_agent": "invoke_agent",
    "agent": "invoke_agent",
}

#: Provider names as stored (by the SDK instrumentation, the usage reader) -> gen_ai.provider.name
PROVIDERS = {"google": "gcp.gen_ai", "gemini": "gcp.gemini", "vertex_ai": "gcp.vertex_ai",
             "azure": "azure.ai.openai", "bedrock": "aws.bedrock", "mistral": "mistral_ai", "xai": "x_ai"}

_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX16 = re.compile(r"[0-9a-f]{16}")


def _hash_int(text: str, hex_digits: int) -> int:
    return int(hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:hex_digits], 16) or 1


def otel_trace_id(trace_id: str | None, fallback: str) -> int:
    """A valid 128-bit trace id for ``trace_id``: itself when it is 32 hex digits, else a hash of
    it (so every event of one trace, such as a pytest node id, lands in the same OTel trace)."""
    if trace_id and _HEX32.fullmatch(trace_id) and int(trace_id, 16):
        return int(trace_id, 16)
    return _hash_int(trace_id or fallback, 32)


def otel_span_id(span_id: str | None, fallback: str) -> int:
    """A valid 64-bit span id: ``span_id`` when it is 16 hex digits, else a hash of ``fallback``."""
    if span_id and _HEX16.fullmatch(span_id) and int(span_id, 16):
        return int(span_id, 16)
    return _hash_int(fallback, 16)


def looks_like_nodeid(text: str | None) -> bool:
    """True for a pytest node id (``tests/test_x.py::test_y[param]``)."""
    return bool(text) and "::" in text  # type: ignore[operator]


@struct(frozen=False)
class SpanFields:
    """Everything a span is made of, without any OpenTelemetry type."""

    name: str
    trace_id: int
    span_id: int
    parent_span_id: int | None
    start_ns: int
    end_ns: int
    kind: str  # "client" or "internal"
    attributes: dict[str, Any] = field(default_factory=dict)
    error: bool = False
    error_message: str | None = None
    #: Span events: ``(name, time in ns, attributes)``.
    events: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


_TEXT_FIELDS = ("event_type", "agent_name", "function_name", "error_type", "trace_id", "metadata", "event_id",
                "span_id", "parent_span_id", "run_id", "model")
_MAX_NS = 2**63 - 1


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)  # a number stored as text in a hand-edited database
        except (TypeError, ValueError, OverflowError):
            return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def _clean(event: TelemetryEvent) -> TelemetryEvent:
    """``event`` with every field of the type the mapping expects (a database edited by hand, or
    written by another tool, may hold anything): text as text, numbers as numbers or None."""
    changes: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = getattr(event, name)
        if value is not None and not isinstance(value, str):
            changes[name] = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    for name in ("input_tokens", "output_tokens"):
        value = getattr(event, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            number = _number(value)
            changes[name] = int(number) if number is not None and number.is_integer() else None
    for name in ("timestamp", "latency_ms", "cost_usd"):
        value = getattr(event, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, float) or value != value
                                  or abs(value) == float("inf")):
            changes[name] = _number(value)
    if not isinstance(event.success, bool):
        changes["success"] = bool(event.success)
    return event._replace(**changes) if changes else event


def span_fields(event: TelemetryEvent, *, traceparent: tuple[int, int] | None = None) -> SpanFields:
    """The span for ``event``; ``traceparent`` (trace id, span id) puts it in that trace, under
    that span when the event has no parent of its own."""
    event = _clean(event)
    meta = event.metadata_dict
    usage = meta.get("usage") if isinstance(meta.get("usage"), dict) else {}
    args = meta.get("args") if isinstance(meta.get("args"), dict) else {}
    operation = OPERATIONS.get(event.event_type)
    request_model = args.get("model") if isinstance(args.get("model"), str) else event.model
    response_model = event.model

    attrs: dict[str, Any] = {}
    if operation is not None:
        attrs["gen_ai.operation.name"] = operation
    provider = meta.get("provider") or usage.get("provider")
    if isinstance(provider, str) and provider:
        attrs["gen_ai.provider.name"] = PROVIDERS.get(provider, provider)
    if operation == "chat":
        if request_model:
            attrs["gen_ai.request.model"] = request_model
        if response_model:
            attrs["gen_ai.response.model"] = response_model
    if operation == "chat" or event.input_tokens or event.output_tokens:
        if event.input_tokens is not None:
            attrs["gen_ai.usage.input_tokens"] = int(event.input_tokens)
        if event.output_tokens is not None:
            attrs["gen_ai.usage.output_tokens"] = int(event.output_tokens)
    cached = _int_or_none(usage.get("cached_input_tokens"))
    if cached is not None:
        attrs["gen_ai.usage.cache_read.input_tokens"] = cached
    written = _int_or_none(usage.get("cache_write_tokens"))
    if written is not None:
        attrs["gen_ai.usage.cache_creation.input_tokens"] = written
    if event.agent_name:
        attrs["gen_ai.agent.name"] = event.agent_name
    if operation == "execute_tool" and event.function_name:
        attrs["gen_ai.tool.name"] = event.function_name
    if not event.success:
        attrs["error.type"] = event.error_type or "_OTHER"
    if event.cost_usd is not None:
        attrs[COST_ATTRIBUTE] = float(event.cost_usd)
    if event.function_name:
        attrs["code.function.name"] = event.function_name
    if event.event_type:
        attrs["dev_system.event_type"] = event.event_type
    if event.event_id:
        attrs["dev_system.event_id"] = event.event_id
    if event.run_id:
        attrs["dev_system.run_id"] = event.run_id
    nodeid = meta.get("nodeid") if isinstance(meta.get("nodeid"), str) else None
    if nodeid is None and looks_like_nodeid(event.trace_id):
        nodeid = event.trace_id
    if nodeid:
        attrs[NODEID_ATTRIBUTE] = nodeid

    trace_id = otel_trace_id(event.trace_id, event.event_id or "")
    span_id = otel_span_id(event.span_id, event.event_id or "")
    parent = otel_span_id(event.parent_span_id, "") if event.parent_span_id else None
    if traceparent is not None:
        trace_id = traceparent[0]
        if parent is None:
            parent = traceparent[1]
    if event.trace_id and (traceparent is not None or trace_id != _maybe_hex(event.trace_id)):
        attrs[TRACE_ID_ATTRIBUTE] = event.trace_id

    if operation == "execute_tool":
        name = f"execute_tool {event.function_name}"
    elif operation == "invoke_agent":
        name = f"invoke_agent {event.agent_name}"
    elif operation is not None:
        name = f"{operation} {request_model}" if request_model else operation
    else:
        name = f"{event.event_type} {event.function_name}"
    start_ns = _clamped_ns(event.timestamp, 1e9)
    end_ns = min(start_ns + _clamped_ns(event.latency_ms, 1e6), _MAX_NS)
    message = meta.get("error_message") if not event.success else None
    return SpanFields(name, trace_id, span_id, parent, start_ns, end_ns,
                      "client" if operation == "chat" else "internal", attrs,
                      not event.success, message if isinstance(message, str) else None)


#: The OpenTelemetry GenAI event of an evaluation's result (a quality score).
EVALUATION_EVENT = "gen_ai.evaluation.result"


def score_span_fields(score: Any, *, traceparent: tuple[int, int] | None = None) -> SpanFields:
    """The span of a quality score (:class:`dev_system.record.scores.Score`): named
    ``evaluation <name>``, of no length, at the time it was recorded, in the trace of the test or
    call that recorded it, with the :data:`EVALUATION_EVENT` event. Both carry
    ``gen_ai.evaluation.name``, ``gen_ai.evaluation.score.value`` and, with a comment,
    ``gen_ai.evaluation.explanation``; the span also the test, run and score ids."""
    name = str(score.name)
    evaluation: dict[str, Any] = {"gen_ai.evaluation.name": name, "gen_ai.evaluation.score.value": float(score.value)}
    if score.comment:
        evaluation["gen_ai.evaluation.explanation"] = str(score.comment)
    attrs = dict(evaluation)
    nodeid = score.nodeid if isinstance(score.nodeid, str) else None
    if nodeid is None and looks_like_nodeid(score.trace_id):
        nodeid = score.trace_id
    if nodeid:
        attrs[NODEID_ATTRIBUTE] = nodeid
    if score.run_id:
        attrs["dev_system.run_id"] = str(score.run_id)
    attrs["dev_system.score_id"] = str(score.score_id)
    trace_text = str(score.trace_id) if score.trace_id else None
    trace_id = otel_trace_id(trace_text, str(score.score_id))
    parent = None
    if traceparent is not None:
        trace_id, parent = traceparent
    if trace_text and (traceparent is not None or trace_id != _maybe_hex(trace_text)):
        attrs[TRACE_ID_ATTRIBUTE] = trace_text
    at = _clamped_ns(score.timestamp, 1e9)
    return SpanFields(f"evaluation {name}", trace_id, otel_span_id(None, f"score:{score.score_id}"), parent, at, at,
                      "internal", attrs, events=[(EVALUATION_EVENT, at, evaluation)])


def _clamped_ns(value: object, scale: float) -> int:
    """``value`` (seconds or milliseconds) times ``scale`` as nanoseconds within ``[0, _MAX_NS]``,
    whatever a hand-edited row holds (text, NaN, infinities, numbers past any clock)."""
    try:
        nanos = float(value or 0.0) * scale  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0
    if nanos != nanos or nanos <= 0:
        return 0
    return _MAX_NS if nanos >= _MAX_NS else int(nanos)


def _maybe_hex(text: str) -> int | None:
    return int(text, 16) if _HEX32.fullmatch(text) else None
