"""``dev_system.ops.spans``: the documented path of :mod:`dev_system.record.spans` (with the
helpers of :mod:`dev_system.record.calls`)."""

from dev_system.record.calls import (  # noqa: F401
    MAX_ERROR_MESSAGE,
    begin_frame,
    error_message,
    outcome,
    push,
    valid_cost,
)
from dev_system.record.spans import Span  # noqa: F401
