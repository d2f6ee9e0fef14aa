"""``dev_system.ops.store``: the documented path of :mod:`dev_system.store.db`."""

from dev_system.store.db import (  # noqa: F401
    SCHEMA_VERSION,
    BUSY_TIMEOUT_MS,
    StoreError,
    DatabaseMissing,
    NotATelemetryDatabase,
    NewerSchema,
    shown,
    transaction,
    connect,
)
