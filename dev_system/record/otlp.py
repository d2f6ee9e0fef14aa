"""OpenTelemetry export: every event as one span over OTLP/HTTP (protobuf).

Two ways in, one mapping:

- live, as a sink beside SQLite: :class:`OtlpSink`, returned by this module's
  ``dev_system_sinks`` hook implementation when an endpoint is configured (the setting
  ``otlp-endpoint``, else the standard ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` /
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` variables);
- after the fact, for a database from CI: :func:`export_events` (``dev-system export --format otlp``).

Attributes follow the OpenTelemetry GenAI semantic conventions (see :func:`span_fields` and
docs/otel.md). This module imports nothing from OpenTelemetry at import time: the SDK and the
OTLP exporter (the ``otel`` extra) are imported when a span is first exported.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import logging
import os
import re
import socket
import threading
import time
from dataclasses import field
from typing import Any, Iterable, Iterator, Mapping, Sequence

from dev_system.events import TelemetryEvent
from dev_system.hookspecs import hookimpl
from dev_system.problems import report_problem
from dev_system.structs import struct

__all__ = [
    "COST_ATTRIBUTE", "OtlpSink", "OtelUnavailable", "SpanFields", "export_events", "resolve_endpoint",
    "span_fields", "traceparent_from_env",
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

_OFF = {"", "off", "none", "false", "0", "no"}
_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


class OtelUnavailable(RuntimeError):
    """The ``otel`` extra is not installed; the message says what to install."""


# -- configuration --------------------------------------------------------------------------------


def _traces_url(base: str) -> str:
    base = base.strip()
    if base.rstrip("/").endswith("/v1/traces"):
        return base
    return base.rstrip("/") + "/v1/traces"


def resolve_endpoint(setting: str | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """The OTLP/HTTP traces URL to export to, or None when export is off.

    The ``otlp-endpoint`` setting wins (a base URL like ``http://collector:4318``; ``off``
    switches export off); then ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used as it is), then
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/traces`` appended). ``OTEL_SDK_DISABLED=true`` turns
    export off.
    """
    environ = os.environ if environ is None else environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if setting is not None:
        return None if setting.strip().lower() in _OFF else _traces_url(setting)
    traces = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if traces:
        return traces
    base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return _traces_url(base) if base else None


def traceparent_from_env(environ: Mapping[str, str] | None = None) -> tuple[int, int] | None:
    """``(trace_id, span_id)`` of a valid W3C ``TRACEPARENT`` in the environment, else None."""
    environ = os.environ if environ is None else environ
    value = (environ.get("TRACEPARENT") or environ.get("traceparent") or "").strip().lower()
    match = _TRACEPARENT.fullmatch(value)
    if match is None or match.group(1) == "ff":
        return None
    trace_id, span_id = int(match.group(2), 16), int(match.group(3), 16)
    if trace_id == 0 or span_id == 0:
        return None
    return trace_id, span_id


# -- the mapping ----------------------------------------------------------------------------------


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


# -- OpenTelemetry objects (lazy) -----------------------------------------------------------------


#: The exporter's loggers: what they say while *we* export is said once by report_problem instead.
_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.exporter.otlp.proto.common._internal",
    "opentelemetry.exporter.otlp.proto.common._internal.trace_encoder",
)
_quiet = threading.local()


class _QuietWhileWeExport(logging.Filter):
    """Drops the exporter's log records made by dev_system's own exports (and only those: an
    application's own OpenTelemetry export logs as before)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_quiet, "on", False)


_FILTER = _QuietWhileWeExport()


@contextlib.contextmanager
def _quietly() -> Iterator[None]:
    for name in _EXPORTER_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    _quiet.on = True
    try:
        yield
    finally:
        _quiet.on = False


def _sdk() -> Any:
    """The OpenTelemetry modules, imported on first use."""
    try:
        from opentelemetry import trace as trace_api
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.trace.export import SpanExportResult
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    except ImportError as exc:
        raise OtelUnavailable(
            f"OpenTelemetry export needs the otel extra: pip install 'pytest-devtelemetry[otel]' ({exc})"
        ) from None
    return trace_api, OTLPSpanExporter, Resource, ReadableSpan, SpanExportResult, InstrumentationScope


class _Builder:
    """Turns :class:`SpanFields` into the SDK's ``ReadableSpan`` (one resource, one scope)."""

    def __init__(self) -> None:
        trace_api, _, Resource, ReadableSpan, _, InstrumentationScope = _sdk()
        self.trace_api = trace_api
        self.ReadableSpan = ReadableSpan
        resource = Resource.create({})
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": "dev-system"}))
        self.resource = resource
        try:
            from importlib.metadata import version

            own_version = version("pytest-devtelemetry")
        except Exception:
            own_version = None
        self.scope = InstrumentationScope("dev_system", own_version)
        self.flags = trace_api.TraceFlags(trace_api.TraceFlags.SAMPLED)

    def span(self, fields: SpanFields) -> Any:
        api = self.trace_api
        context = api.SpanContext(fields.trace_id, fields.span_id, is_remote=False, trace_flags=self.flags)
        parent = None
        if fields.parent_span_id is not None:
            parent = api.SpanContext(fields.trace_id, fields.parent_span_id, is_remote=False, trace_flags=self.flags)
        status = api.Status(api.StatusCode.ERROR, fields.error_message) if fields.error else api.Status(api.StatusCode.UNSET)
        kind = api.SpanKind.CLIENT if fields.kind == "client" else api.SpanKind.INTERNAL
        return self.ReadableSpan(
            name=fields.name, context=context, parent=parent, resource=self.resource,
            attributes=fields.attributes, kind=kind, status=status, start_time=fields.start_ns,
            end_time=fields.end_ns, instrumentation_scope=self.scope,
        )


def _exporter(endpoint: str, headers: Mapping[str, str] | None, timeout: float | None) -> Any:
    _, OTLPSpanExporter, *_ = _sdk()
    return OTLPSpanExporter(endpoint=endpoint, headers=dict(headers) if headers else None, timeout=timeout)


# -- after the fact -------------------------------------------------------------------------------


@struct(frozen=False)
class ExportOutcome:
    """What :func:`export_events` did."""

    endpoint: str
    sent: int = 0
    failed: int = 0


def export_events(events: Iterable[TelemetryEvent], endpoint: str | None = None, *,
                  headers: Mapping[str, str] | None = None, timeout: float | None = None,
                  batch_size: int = 512, environ: Mapping[str, str] | None = None) -> ExportOutcome:
    """Send ``events`` as spans now, in batches; stops at the first batch the collector does not
    take (the rest count as failed). ``endpoint`` defaults to the configured one; raises
    :class:`OtelUnavailable` without the extra and ValueError without an endpoint."""
    environ = os.environ if environ is None else environ
    url = _traces_url(endpoint) if endpoint else resolve_endpoint(None, environ)
    if not url:
        raise ValueError("no OTLP endpoint: give --endpoint, or set otlp-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT")
    builder = _Builder()
    SpanExportResult = _sdk()[4]
    exporter = _exporter(url, headers, timeout)
    parent = traceparent_from_env(environ)
    outcome = ExportOutcome(url)
    try:
        with _quietly():
            _send_all(events, builder, exporter, parent, outcome, batch_size, SpanExportResult)
    finally:
        exporter.shutdown()
    return outcome


def _send_all(events: Iterable[TelemetryEvent], builder: _Builder, exporter: Any, parent: Any,
              outcome: ExportOutcome, batch_size: int, SpanExportResult: Any) -> None:
    batch: list[Any] = []

    def send() -> None:
        if outcome.failed:
            outcome.failed += len(batch)
        elif exporter.export(batch) == SpanExportResult.SUCCESS:
            outcome.sent += len(batch)
        else:
            outcome.failed += len(batch)
        batch.clear()

    for event in events:
        batch.append(builder.span(span_fields(event, traceparent=parent)))
        if len(batch) >= batch_size:
            send()
    if batch:
        send()


# -- the live sink --------------------------------------------------------------------------------


class OtlpSink:
    """A recorder sink that exports events as spans from its own thread.

    ``write`` (called by the recorder's writer) only appends to a bounded queue; a daemon thread
    sends batches to the collector. A batch the collector does not take (unreachable, slow beyond
    the timeout, refusing) is dropped and counted, with one warning; the queue overflowing drops
    and counts too. ``close`` waits at most ``close_timeout`` seconds, then counts what is left as
    dropped. Nothing here raises into the caller.
    """

    def __init__(self, endpoint: str, *, headers: Mapping[str, str] | None = None, timeout: float | None = None,
                 max_queue: int = 20_000, batch_size: int = 512, interval_s: float = 1.0,
                 close_timeout: float = 3.0, environ: Mapping[str, str] | None = None) -> None:
        self.endpoint = endpoint
        self.headers = dict(headers) if headers else None
        self.timeout = timeout
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.close_timeout = close_timeout
        self.traceparent = traceparent_from_env(environ)
        self.builder = _Builder()  # imports OpenTelemetry now: a missing extra fails at set-up, not later
        self.exported = 0
        self.dropped = 0
        self.closed = False
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._queue: collections.deque[TelemetryEvent] = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._busy = 0  # spans taken from the queue and not yet settled
        self._exporter: Any = None
        self._thread: threading.Thread | None = None
        self._stop = False
        self._abandoned = False  # set by close(): what is still in flight was counted as dropped
        self._failing = False  # the last export failed: close() does not wait for the collector

    def _forked(self) -> None:
        """In a forked child: its own queue, counts, thread and connection (what the parent had
        queued is the parent's to send)."""
        self.exported = self.dropped = 0
        self._reset()

    def stats(self) -> dict[str, Any]:
        """Spans exported, dropped, and waiting, for summaries."""
        return {"endpoint": self.endpoint, "exported": self.exported, "dropped": self.dropped,
                "queued": len(self._queue) + self._busy}

    def _drop(self, count: int, why: str) -> None:
        self.dropped += count
        report_problem(f"otlp:{why}", f"{count} spans could not be exported to {self.endpoint} ({why}); "
                                      "they are counted as dropped and stay in the database")

    def write(self, events: list[TelemetryEvent]) -> None:
        if self.closed:
            return
        if os.getpid() != self._pid:
            self._forked()
        with self._cond:
            room = self.max_queue - len(self._queue)
            if room < len(events):
                self._drop(len(events) - max(room, 0), "export queue full")
                events = events[:max(room, 0)]
            self._queue.extend(events)
            if len(self._queue) >= self.batch_size:
                self._cond.notify()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="dev-system-otlp", daemon=True)
            self._thread.start()

    def _take(self) -> list[TelemetryEvent]:
        batch = []
        queue = self._queue
        while queue and len(batch) < self.batch_size:
            batch.append(queue.popleft())
        self._busy = len(batch)
        return batch

    def _run(self) -> None:
        pid = self._pid
        while True:
            with self._cond:
                if not self._queue and not self._stop:
                    self._cond.wait(self.interval_s)
                if os.getpid() != pid:
                    return
                batch = self._take()
                if not batch:
                    self._cond.notify_all()
                    if self._stop:
                        return
                    continue
            self._send(batch)
            with self._cond:
                self._busy = 0
                self._cond.notify_all()

    def _send(self, batch: list[TelemetryEvent]) -> None:
        ok, why = 0, ""
        try:
            if self._exporter is None:
                self._exporter = _exporter(self.endpoint, self.headers, self.timeout)
            SpanExportResult = _sdk()[4]
            spans = []
            for event in batch:
                try:
                    spans.append(self.builder.span(span_fields(event, traceparent=self.traceparent)))
                except Exception as exc:
                    why = f"unconvertible event: {type(exc).__name__}"
            with _quietly():
                accepted = bool(spans) and self._exporter.export(spans) == SpanExportResult.SUCCESS
            if accepted:
                ok = len(spans)
            elif spans:
                why = "collector unreachable, slow or refusing"
        except Exception as exc:
            why = f"export failed: {type(exc).__name__}"
        with self._cond:
            self._failing = ok == 0
            if self._abandoned:
                return
            self.exported += ok
            if ok < len(batch):
                self._drop(len(batch) - ok, why or "export failed")

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued span is settled (exported or dropped); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while self._queue or self._busy:
                if self._thread is None or not self._thread.is_alive():
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(0.05 if remaining is None else min(remaining, 0.05))
        return True

    def close(self) -> None:
        """Send what is queued (for at most ``close_timeout`` seconds); count the rest as dropped."""
        if self.closed:
            return
        try:
            if os.getpid() != self._pid:
                self._forked()
            if (self._queue or self._busy) and not self._failing and _reachable(self.endpoint):
                self.flush(self.close_timeout)
            self.closed = True
            with self._cond:
                self._stop = True
                self._abandoned = True
                left = len(self._queue) + self._busy
                self._queue.clear()
                self._busy = 0
                self._cond.notify_all()
            if self._exporter is not None:
                with _quietly():
                    self._exporter.shutdown()  # also cuts short a retry in progress
            self.dropped += left  # said once, in the summary below
            if self.dropped:
                report_problem("otlp:summary", f"{self.dropped} spans were not exported to {self.endpoint} "
                                               f"({self.exported} were); send them later with "
                                               "'dev-system export --format otlp'")
        except Exception as exc:
            report_problem("otlp:close", f"closing the OTLP export failed: {exc!r}")


def _reachable(endpoint: str, timeout: float = 0.25) -> bool:
    """False when a TCP connection to the endpoint's host and port is refused or times out (a
    collector that is down should not hold a finishing process for the whole close timeout)."""
    try:
        from urllib.parse import urlsplit

        parts = urlsplit(endpoint)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname or "localhost", port), timeout=timeout):
            return True
    except OSError:
        return False
    except Exception:
        return True


# -- the plugin hook ------------------------------------------------------------------------------


def sink_for(settings: Any, environ: Mapping[str, str] | None = None) -> OtlpSink | None:
    """The OTLP sink ``settings`` (and the environment) ask for, or None.

    Without the ``otel`` extra: one warning when the endpoint was set in dev-system's own
    settings, silence when it only comes from the general ``OTEL_*`` variables.
    """
    setting = getattr(settings, "otlp_endpoint", None)
    endpoint = resolve_endpoint(setting, environ)
    if endpoint is None:
        return None
    try:
        return OtlpSink(endpoint, environ=environ)
    except OtelUnavailable as exc:
        if setting is not None:
            report_problem("otlp:unavailable", f"events are not exported: {exc}")
        return None


@hookimpl
def dev_system_sinks(settings: Any) -> OtlpSink | None:
    """Built-in: the OTLP exporter, when an endpoint is configured."""
    return sink_for(settings)


def stats(sinks: Sequence[Any]) -> list[dict[str, Any]]:
    """``stats()`` of every OTLP sink among ``sinks`` (such as ``get_recorder().sinks``)."""
    return [sink.stats() for sink in sinks if isinstance(sink, OtlpSink)]

