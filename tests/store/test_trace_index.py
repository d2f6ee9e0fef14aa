"""The ``(run_id, trace_id)`` index: a trace found run by run, a run's writes adjacent, and the
migration from the single-column indexes of schema version 1."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dev_system.analysis.periods import Window
from dev_system.events import TelemetryEvent
from dev_system.store import db as store
from dev_system.store.events import insert_events
from dev_system.store.queries import Filters, table_columns, where_clause

ALL_TIME = Window(None, None, "all", "all")


def event(i: int, trace_id: str | None, run_id: str | None, timestamp: float = 1.7e9) -> TelemetryEvent:
    return TelemetryEvent(timestamp + i, "tool_call", "a", "f", 0, 0, 1.0, 0.0, True, None, trace_id, None,
                          f"e{i}-{os.urandom(4).hex()}", f"s{i}", None, run_id, None)


rows = st.lists(st.tuples(st.sampled_from(["t1", "t2", "t3", None]), st.sampled_from([None, "r1", "r2", "r10", "r9"]),
                          st.integers(0, 100)), max_size=40)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows, trace=st.sampled_from(["t1", "t2", "t3", "absent"]),
       run=st.sampled_from([None, "r1", "r10", "absent"]), since=st.sampled_from([None, 30]))
def test_a_trace_filter_finds_what_a_full_scan_finds(tmp_path: Path, rows: list, trace: str, run: str | None,
                                                     since: int | None) -> None:
    """Across runs and events of no run, alone or with a run and a window: the same rows as
    reading every event."""
    conn = store.connect(tmp_path / f"{os.urandom(4).hex()}.db")
    try:
        insert_events(conn, [event(i, t, r, 1.7e9 + offset) for i, (t, r, offset) in enumerate(rows)])
        window = Window(None if since is None else 1.7e9 + since, None, "w", "w")
        where, params = where_clause(window, Filters(trace_id=trace, run_id=run), table_columns(conn))
        found = sorted(row[0] for row in conn.execute(f"SELECT id FROM telemetry_events{where}", params))
        everything = conn.execute("SELECT id, trace_id, run_id, timestamp FROM telemetry_events").fetchall()
    finally:
        conn.close()
    expected = sorted(i for i, t, r, ts in everything
                      if t == trace and (run is None or r == run) and (window.start is None or ts >= window.start))
    assert found == expected


def test_a_trace_lookup_reads_the_index_not_the_table(tmp_path: Path) -> None:
    conn = store.connect(tmp_path / "t.db")
    where, params = where_clause(ALL_TIME, Filters(trace_id="tests/test_a.py::test_b"), table_columns(conn))
    plan = " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN SELECT * FROM telemetry_events{where}", params))
    conn.close()
    assert "SCAN telemetry_events" not in plan
    assert "USING COVERING INDEX ix_events_run_trace (run_id=? AND trace_id=?)" in plan


def wal_frames_of_one_run(conn: sqlite3.Connection, path: Path, run: int, tests: int) -> int:
    """Pages one run of ``tests`` tests writes to the log (one event a test, its node id as trace)."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    insert_events(conn, [event(run * tests + i, f"tests/test_m.py::test_{i}", f"2026-run-{run:03d}")
                               for i in range(tests)])
    return os.path.getsize(f"{path}-wal") // 4096


def test_the_pages_a_run_writes_do_not_grow_with_the_history(tmp_path: Path) -> None:
    """The same tests in every run: with an index on trace_id alone, each run's entries went next
    to the earlier runs' (the pages written grew with every run); with the run first, they are
    adjacent."""
    path = tmp_path / "t.db"
    conn = store.connect(path)
    try:
        frames = [wal_frames_of_one_run(conn, path, run, tests=1000) for run in range(12)]
        # the same history under the old index, for comparison
        conn.execute("DROP INDEX ix_events_run_trace")
        conn.execute("CREATE INDEX ix_events_trace ON telemetry_events(trace_id)")
        conn.execute("CREATE INDEX ix_events_run ON telemetry_events(run_id)")
        old = wal_frames_of_one_run(conn, path, 12, tests=1000)
    finally:
        conn.close()
    assert frames[-1] <= frames[1] * 1.2, frames
    assert old > frames[-1] * 1.5, (old, frames)


def test_a_version_1_database_is_migrated_to_the_run_trace_index(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = store.connect(path)
    insert_events(conn, [event(i, f"t{i % 3}", None if i % 2 else "r") for i in range(10)])
    conn.execute("DROP INDEX ix_events_run_trace")
    conn.execute("CREATE INDEX ix_events_trace ON telemetry_events(trace_id)")
    conn.execute("CREATE INDEX ix_events_run ON telemetry_events(run_id)")
    conn.execute("PRAGMA user_version = 1")
    conn.close()

    conn = store.connect(path)
    indexes = {row[1] for row in conn.execute("PRAGMA index_list(telemetry_events)")}
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    where, params = where_clause(ALL_TIME, Filters(trace_id="t1"), table_columns(conn))
    found = conn.execute(f"SELECT COUNT(*) FROM telemetry_events{where}", params).fetchone()[0]
    conn.close()
    assert version == store.SCHEMA_VERSION
    assert "ix_events_run_trace" in indexes and not indexes & {"ix_events_trace", "ix_events_run"}
    assert found == 3  # events 1, 4, 7


def test_a_reference_database_without_run_ids_still_filters_by_trace(tmp_path: Path) -> None:
    """A database read as it is (no run_id column, as the reference system made it)."""
    path = tmp_path / "ref.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE telemetry_events (id INTEGER PRIMARY KEY, timestamp REAL NOT NULL, "
                      "event_type TEXT NOT NULL, agent_name TEXT NOT NULL, function_name TEXT NOT NULL, "
                      "input_tokens INTEGER DEFAULT 0, output_tokens INTEGER DEFAULT 0, latency_ms REAL NOT NULL, "
                      "cost_usd REAL DEFAULT 0.0, success BOOLEAN NOT NULL, error_type TEXT, trace_id TEXT, "
                      "metadata TEXT, created_at DATETIME DEFAULT CURRENT_TIMESTAMP)")
        conn.executemany("INSERT INTO telemetry_events (timestamp, event_type, agent_name, function_name, latency_ms,"
                         " success, trace_id) VALUES (1.0, 'tool_call', 'a', 'f', 1.0, 1, ?)", [("x",), ("y",), ("x",)])
        where, params = where_clause(ALL_TIME, Filters(trace_id="x"), table_columns(conn))
        assert conn.execute(f"SELECT COUNT(*) FROM telemetry_events{where}", params).fetchone()[0] == 2
