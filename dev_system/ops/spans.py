"""``dev_system.ops.spans``: the documented path of :mod:`dev_system.record.spans`."""

from dev_system.record.spans import (  # noqa: F401
    MAX_ERROR_MESSAGE,
    begin_frame,
    error_message,
    valid_cost,
    outcome,
    push,
    Span,
)
