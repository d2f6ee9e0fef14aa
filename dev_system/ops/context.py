"""``dev_system.ops.context``: the documented path of :mod:`dev_system.record.context`."""

from dev_system.record.context import (  # noqa: F401
    T,
    TelemetryThread,
    annotate,
    current_trace_id,
    get_frame,
    propagate,
    reset_frame,
    set_frame,
    trace,
)
