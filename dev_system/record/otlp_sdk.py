"""The OpenTelemetry SDK and OTLP exporter, imported on first use (the ``otel`` extra).

:func:`load_sdk` imports them or raises :class:`OtelUnavailable` saying what to install;
:class:`SpanBuilder` turns :class:`~dev_system.record.otlp_spans.SpanFields` into the SDK's
``ReadableSpan``; :func:`make_exporter` makes the OTLP/HTTP exporter; :func:`quietly` keeps the
exporter's own log records out of the way while dev_system exports (its problems are reported once
by :func:`~dev_system.problems.report_problem` instead).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from dev_system.record.otlp_spans import SpanFields

__all__ = ["OtelUnavailable", "SpanBuilder", "load_sdk", "make_exporter", "quietly"]


class OtelUnavailable(RuntimeError):
    """The ``otel`` extra is not installed; the message says what to install."""



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
def quietly() -> Iterator[None]:
    for name in _EXPORTER_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    _quiet.on = True
    try:
        yield
    finally:
        _quiet.on = False


def load_sdk() -> Any:
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


def _span_event_type() -> Any:
    from opentelemetry.sdk.trace import Event

    return Event


class SpanBuilder:
    """Turns :class:`SpanFields` into the SDK's ``ReadableSpan`` (one resource, one scope)."""

    def __init__(self) -> None:
        trace_api, _, Resource, ReadableSpan, _, InstrumentationScope = load_sdk()
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
        events = ()
        if fields.events:
            Event = _span_event_type()
            events = tuple(Event(name, attributes, timestamp=at) for name, at, attributes in fields.events)
        return self.ReadableSpan(
            name=fields.name, context=context, parent=parent, resource=self.resource,
            attributes=fields.attributes, events=events, kind=kind, status=status, start_time=fields.start_ns,
            end_time=fields.end_ns, instrumentation_scope=self.scope,
        )


def make_exporter(endpoint: str, headers: Mapping[str, str] | None, timeout: float | None) -> Any:
    _, OTLPSpanExporter, *_ = load_sdk()
    return OTLPSpanExporter(endpoint=endpoint, headers=dict(headers) if headers else None, timeout=timeout)
