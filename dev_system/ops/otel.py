"""``dev_system.ops.otel``: the documented path of :mod:`dev_system.record.otlp`."""

from dev_system.record.otlp import (  # noqa: F401
    COST_ATTRIBUTE,
    NODEID_ATTRIBUTE,
    TRACE_ID_ATTRIBUTE,
    OPERATIONS,
    PROVIDERS,
    OtelUnavailable,
    resolve_endpoint,
    traceparent_from_env,
    otel_trace_id,
    otel_span_id,
    looks_like_nodeid,
    SpanFields,
    span_fields,
    ExportOutcome,
    export_events,
    OtlpSink,
    sink_for,
    dev_system_sinks,
    stats,
)
