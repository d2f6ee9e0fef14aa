"""What counts as a telemetry database, bounded reading of stored JSON, and the newer snapshot of
a run part winning over an older one, on real SQLite files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dev_system.json_fields import MAX_DEPTH, NOT_READ, load_object, too_deep
from dev_system.store import db as store
from dev_system.store.run_parts import parts_of, rebuild_runs, store_parts
from dev_system.store.runs import Run, finish_run, start_run
from dev_system.store.schema import EVENTS_TABLE, SCHEMA_VERSION, not_ours

# --- what a telemetry database is ------------------------------------------------------------------


def _made(path: Path, *statements: str, version: int = 0) -> Path:
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()
    return path


OURS = {
    "a new, empty file": (),
    "the reference schema (version 0)": (EVENTS_TABLE,),
    "ours, next to an application's tables": (EVENTS_TABLE, "CREATE TABLE users (id INTEGER)"),
    "a newer version of ours": ("CREATE TABLE telemetry_events (id INTEGER PRIMARY KEY, future TEXT)",),
}
NOT_OURS = {
    "an application's tables": (("CREATE TABLE users (id INTEGER)",), "no telemetry_events table (its tables: users)"),
    "a view only": (("CREATE VIEW v AS SELECT 1 AS x",), "it has no telemetry_events table"),
    "a table of our name with other columns": (("CREATE TABLE telemetry_events (id INTEGER PRIMARY KEY, name TEXT)",),
                                               "lacks timestamp, event_type, agent_name, ..."),
    "a view where the events table belongs": (("CREATE VIEW telemetry_events AS SELECT 1 AS id",),
                                              "telemetry_events is a view, not a table"),
    "a virtual table where the events table belongs": (
        ("CREATE VIRTUAL TABLE telemetry_events USING fts5(id, timestamp, event_type)",),
        "telemetry_events is a virtual table, not a table"),
    "a view where another table of ours belongs": ((EVENTS_TABLE, "CREATE VIEW runs AS SELECT 1 AS run_id"),
                                                   "runs is a view, not a table"),
}


@pytest.mark.parametrize("kind", OURS)
def test_a_telemetry_database(tmp_path, kind):
    version = SCHEMA_VERSION + 1 if "newer" in kind else 0
    path = _made(tmp_path / "t.db", *OURS[kind], version=version)
    with sqlite3.connect(path) as conn:
        assert not_ours(conn) is None


@pytest.mark.parametrize("kind", NOT_OURS)
def test_not_a_telemetry_database(tmp_path, kind):
    statements, reason = NOT_OURS[kind]
    path = _made(tmp_path / "t.db", *statements, version=2)
    with sqlite3.connect(path) as conn:
        found = not_ours(conn)
    assert found is not None and (reason is None or reason in found)
    before = path.read_bytes()
    for readonly in (False, True):
        with pytest.raises(store.NotATelemetryDatabase, match="is not a telemetry database"):
            store.connect(path, readonly=readonly)
    with pytest.raises(store.NotATelemetryDatabase, match="left as it is"):
        store.check_ours(path)
    assert path.read_bytes() == before and not Path(f"{path}-wal").exists()


def test_check_ours_leaves_what_is_not_a_database_question_to_the_writer(tmp_path):
    store.check_ours(tmp_path / "missing.db")
    (tmp_path / "empty.db").write_bytes(b"")
    store.check_ours(tmp_path / "empty.db")
    store.connect(tmp_path / "ours.db").close()
    store.check_ours(tmp_path / "ours.db")


# --- bounded JSON ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(alphabet="ab[]{}\"\\ ,:"),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=20,
)


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=5), json_values, max_size=4), st.integers(1, 8))
def test_load_object_reads_what_json_reads_within_the_bounds(value, limit):
    text = json.dumps(value)
    assert too_deep(text, limit) == (_depth(value) > limit)
    got = load_object(text, max_depth=limit)
    assert got == (value if _depth(value) <= limit else {NOT_READ: f"nested more than {limit} deep"})


@pytest.mark.parametrize("text, expected", [
    (None, {}), ("", {}), ("{not json", {}), ("[1, 2]", {}), ('"text"', {}), (b'{"a": 1}', {"a": 1}), (42, {}),
    ("[" * 100_000 + "]" * 100_000, {NOT_READ: f"nested more than {MAX_DEPTH} deep"}),
    ('{"a": "' + "[" * 100_000 + '"}', {"a": "[" * 100_000}),
])
def test_load_object_never_raises(text, expected):
    assert load_object(text) == expected


def test_load_object_does_not_parse_what_is_too_long():
    assert load_object('{"a": "' + "x" * 200 + '"}', max_chars=100) == {NOT_READ: "209 characters, more than the 100 read"}


# --- a part's newer state wins -------------------------------------------------------------------


def test_a_finished_part_is_never_replaced_by_an_older_running_one(tmp_path):
    running = Run("R", 100.0, command="pytest", host="h")
    done = Run("R", 100.0, 200.0, "passed", "pytest", host="h", passed=3, failed=0, skipped=0, errors=0,
               exit_status=0)
    snapshots = {}
    for name, run in (("running", running), ("done", done)):
        conn = store.connect(tmp_path / f"{name}.db")
        (start_run if run is running else finish_run)(conn, run)
        snapshots[name] = parts_of(conn, "main")
        conn.close()
    for order in (("running", "done", "running"), ("done", "running")):
        conn = store.connect(tmp_path / f"out-{'-'.join(order)}.db")
        for name in order:
            conn.execute("BEGIN IMMEDIATE")
            rebuild_runs(conn, store_parts(conn, snapshots[name])[1])
            conn.execute("COMMIT")
        row = conn.execute("SELECT status, ended_at, passed FROM runs").fetchall()
        parts = conn.execute("SELECT COUNT(*) FROM run_parts").fetchone()[0]
        conn.close()
        assert (row, parts) == ([("passed", 200.0, 3)], 1)


def test_a_run_that_finished_after_it_was_merged_into_its_own_database(tmp_path):
    conn = store.connect(tmp_path / "live.db")
    start_run(conn, Run("R", 100.0, command="pytest", host="h"))
    conn.execute("BEGIN IMMEDIATE")
    rebuild_runs(conn, store_parts(conn, parts_of(conn, "main"))[1])  # what combine --into does first
    conn.execute("COMMIT")
    finish_run(conn, Run("R", 100.0, 200.0, "passed", "pytest", host="h", passed=1, exit_status=0))
    conn.execute("BEGIN IMMEDIATE")
    rebuild_runs(conn, store_parts(conn, parts_of(conn, "main"))[1])
    conn.execute("COMMIT")
    parts = conn.execute("SELECT status, ended_at FROM run_parts").fetchall()
    conn.close()
    assert parts == [("passed", 200.0)]
