"""``dev_system.ops.store``: the documented path of :mod:`dev_system.store.db`."""

from dev_system.messages import shown  # noqa: F401
from dev_system.store.db import (  # noqa: F401
    BUSY_TIMEOUT_MS,
    SCHEMA_VERSION,
    DatabaseMissing,
    NewerSchema,
    NotATelemetryDatabase,
    StoreError,
    connect,
    transaction,
)
