"""``dev_system.ops.otel``: the documented path of :mod:`dev_system.record.otlp` (with the
mapping of :mod:`dev_system.record.otlp_spans` and :class:`OtelUnavailable`)."""

from dev_system.record.otlp import (  # noqa: F401
    ExportOutcome,
    OtelUnavailable,
    OtlpSink,
    dev_system_sinks,
    export_events,
    resolve_endpoint,
    sink_for,
    stats,
    traceparent_from_env,
)
from dev_system.record.otlp_spans import (  # noqa: F401
    COST_ATTRIBUTE,
    NODEID_ATTRIBUTE,
    OPERATIONS,
    PROVIDERS,
    TRACE_ID_ATTRIBUTE,
    SpanFields,
    looks_like_nodeid,
    otel_span_id,
    otel_trace_id,
    span_fields,
)
