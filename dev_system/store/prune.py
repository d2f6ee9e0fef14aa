"""Deleting old telemetry: events and dropped-event records stamped before a cut-off.

The one place that deletes what was recorded. It counts first and deletes in the same
transaction, so what it reports is what it removed; a dry run counts and changes nothing.
"""

from __future__ import annotations

import sqlite3

from dev_system.store.db import transaction
from dev_system.store.schema import has_table
from dev_system.structs import struct


@struct
class PruneResult:
    """What :func:`prune` removed (or would remove, on a dry run)."""

    cutoff: float
    events: int
    dropped_records: int
    dry_run: bool


def prune(conn: sqlite3.Connection, cutoff: float, *, dry_run: bool = False) -> PruneResult:
    """Delete events (and dropped-event records) stamped before ``cutoff``, in one transaction
    (a dry run only counts them: its transaction writes nothing)."""
    has_dropped = has_table(conn, "dropped_events")
    with transaction(conn):
        events = conn.execute("SELECT COUNT(*) FROM telemetry_events WHERE timestamp < ?", (cutoff,)).fetchone()[0]
        dropped = 0
        if has_dropped:
            dropped = conn.execute("SELECT COUNT(*) FROM dropped_events WHERE timestamp < ?", (cutoff,)).fetchone()[0]
        if not dry_run:
            conn.execute("DELETE FROM telemetry_events WHERE timestamp < ?", (cutoff,))
            if has_dropped:
                conn.execute("DELETE FROM dropped_events WHERE timestamp < ?", (cutoff,))
    return PruneResult(cutoff, events, dropped, dry_run)
