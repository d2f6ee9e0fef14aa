"""Deleting old telemetry: events and dropped-event records stamped before a cut-off, and the
runs and test results that no longer hold any event.

The one place that deletes what was recorded. It counts first and deletes in the same
transaction, so what it reports is what it removed. What goes with the events:

- a run that ended before the cut-off and has no event left is removed, with its test results
  and its job sessions (``run_parts``): it would otherwise be listed with 0 events and could be
  chosen as a baseline;
- a run that keeps some events but lost others (it straddles the cut-off) is kept and marked:
  ``pruned_events`` in its metadata counts what it lost, and a marked run is never a baseline;
- scores go as events do: those stamped before the cut-off, and every score of a removed run.

A dry run (:func:`prune` with ``dry_run=True``) only reads, so it works on a connection opened
read-only and changes nothing, not even the schema version of an old database. :func:`reclaim`
gives the freed pages back to the file system (``VACUUM``).
"""

from __future__ import annotations

import json
import sqlite3

from dev_system.json_fields import load_object
from dev_system.store.db import transaction
from dev_system.store.schema import has_table, table_columns
from dev_system.structs import struct

#: The metadata key of a run that lost events to a prune: how many.
PRUNED_EVENTS = "pruned_events"


@struct
class PruneResult:
    """What :func:`prune` removed (or would remove, on a dry run)."""

    cutoff: float
    events: int
    dropped_records: int
    dry_run: bool
    runs: int = 0
    test_results: int = 0
    runs_marked: int = 0
    scores: int = 0


@struct
class _Plan:
    events: int
    dropped: int
    emptied: list[str]
    test_results: int
    partly: dict[str, int]
    scores: int = 0


def _plan(conn: sqlite3.Connection, cutoff: float) -> _Plan:
    """What a prune at ``cutoff`` removes and marks (reads only)."""
    events = conn.execute("SELECT COUNT(*) FROM telemetry_events WHERE timestamp < ?", (cutoff,)).fetchone()[0]
    dropped = 0
    if has_table(conn, "dropped_events"):
        dropped = conn.execute("SELECT COUNT(*) FROM dropped_events WHERE timestamp < ?", (cutoff,)).fetchone()[0]
    emptied: list[str] = []
    test_results = 0
    partly: dict[str, int] = {}
    if has_table(conn, "runs"):
        if "run_id" in table_columns(conn):
            emptied = [row[0] for row in conn.execute(
                "SELECT run_id FROM runs WHERE COALESCE(ended_at, started_at) < ? AND NOT EXISTS"
                " (SELECT 1 FROM telemetry_events e WHERE e.run_id = runs.run_id AND NOT e.timestamp < ?)",
                (cutoff, cutoff))]
            lost = conn.execute(
                "SELECT run_id, COUNT(*) FROM telemetry_events WHERE timestamp < ? AND run_id IS NOT NULL"
                " GROUP BY run_id", (cutoff,))
            gone = set(emptied)
            partly = {run_id: count for run_id, count in lost if run_id not in gone}
            if partly:
                known = {row[0] for row in conn.execute("SELECT run_id FROM runs")}
                partly = {run_id: count for run_id, count in partly.items() if run_id in known}
        else:
            emptied = [row[0] for row in conn.execute(
                "SELECT run_id FROM runs WHERE COALESCE(ended_at, started_at) < ?", (cutoff,))]
        if emptied and has_table(conn, "test_results"):
            test_results = sum(conn.execute(
                f"SELECT COUNT(*) FROM test_results WHERE run_id IN ({', '.join('?' * len(chunk))})",
                chunk).fetchone()[0] for chunk in _chunks(emptied))
    scores = 0
    if has_table(conn, "scores"):
        scores = conn.execute("SELECT COUNT(*) FROM scores WHERE timestamp < ?", (cutoff,)).fetchone()[0]
        scores += sum(conn.execute(
            f"SELECT COUNT(*) FROM scores WHERE NOT timestamp < ? AND run_id IN ({', '.join('?' * len(chunk))})",
            [cutoff, *chunk]).fetchone()[0] for chunk in _chunks(emptied))
    return _Plan(events, dropped, emptied, test_results, partly, scores)


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _mark(conn: sqlite3.Connection, run_id: str, lost: int) -> None:
    row = conn.execute("SELECT metadata FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    meta = load_object(row[0]) if row is not None else {}
    before = meta.get(PRUNED_EVENTS)
    meta[PRUNED_EVENTS] = (before if isinstance(before, int) else 0) + lost
    conn.execute("UPDATE runs SET metadata = ? WHERE run_id = ?", (json.dumps(meta, default=str), run_id))


def prune(conn: sqlite3.Connection, cutoff: float, *, dry_run: bool = False) -> PruneResult:
    """Delete events (and dropped-event records) stamped before ``cutoff``, the runs and test
    results left without events, and mark the runs that lost some, in one transaction. A dry run
    only counts them: it reads, so ``conn`` may be read-only."""
    if dry_run:
        plan = _plan(conn, cutoff)
    else:
        with transaction(conn):
            plan = _plan(conn, cutoff)
            conn.execute("DELETE FROM telemetry_events WHERE timestamp < ?", (cutoff,))
            if has_table(conn, "dropped_events"):
                conn.execute("DELETE FROM dropped_events WHERE timestamp < ?", (cutoff,))
            if has_table(conn, "scores"):
                conn.execute("DELETE FROM scores WHERE timestamp < ?", (cutoff,))
            for chunk in _chunks(plan.emptied):
                marks = ", ".join("?" * len(chunk))
                for table in ("test_results", "run_parts", "runs", "scores"):
                    if has_table(conn, table):
                        conn.execute(f"DELETE FROM {table} WHERE run_id IN ({marks})", chunk)
            for run_id, lost in plan.partly.items():
                _mark(conn, run_id, lost)
    return PruneResult(cutoff, plan.events, plan.dropped, dry_run, len(plan.emptied), plan.test_results,
                       len(plan.partly), plan.scores)


def free_bytes(conn: sqlite3.Connection) -> int:
    """The bytes of the database's free pages: what :func:`reclaim` would give back."""
    pages = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return pages * conn.execute("PRAGMA page_size").fetchone()[0]


def reclaim(conn: sqlite3.Connection) -> int:
    """Give the free pages back to the file system (``VACUUM``, then a checkpoint that empties the
    write-ahead log); returns the bytes freed (0, and nothing done, when no page is free). Raises
    :class:`sqlite3.Error` when the database is busy or the disk too full to rewrite it; what was
    deleted stays deleted."""
    freed = free_bytes(conn)
    if freed:
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return freed
