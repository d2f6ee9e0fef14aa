"""``dev_system.ops.decorator``: the documented path of :mod:`dev_system.record.decorator`."""

from dev_system.record.decorator import (  # noqa: F401
    WRAPPED_MARK,
    F,
    telemetry_decorator,
)
