"""``dev_system.ops.context``: the documented path of :mod:`dev_system.record.context`."""

from dev_system.record.context import (  # noqa: F401
    get_frame,
    set_frame,
    reset_frame,
    T,
    trace,
    current_trace_id,
    annotate,
    propagate,
    TelemetryThread,
)
