"""``dev_system.ops.events``: the documented path of :mod:`dev_system.events`."""

from dev_system.events import (  # noqa: F401
    DOCUMENTED_COLUMNS,
    EVENT_COLUMNS,
    EXTRA_COLUMNS,
    TelemetryEvent,
)
