"""The recorder and the store: buffering, flushing, threads, processes, fork, failures, migration."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dev_system.events import DOCUMENTED_COLUMNS, TelemetryEvent
from dev_system.ops.telemetry import configure, flush, stats, telemetry_decorator
from dev_system.store import db as store


def count_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM telemetry_events").fetchone()[0]


def run_python(code: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=120)


@telemetry_decorator(agent_name="worker")
def unit(i):
    return i


def test_calls_do_not_write_until_flushed_unless_sync(tmp_path):
    db = tmp_path / "t.db"
    configure(enabled=True, db_path=db, flush_interval_s=60)
    unit(1)
    assert stats()["buffered"] == 1
    flush()
    assert count_rows(db) == 1
    configure(enabled=True, db_path=db, sync=True)
    unit(2)
    assert count_rows(db) == 2  # written before the call returned


def test_set_aside_shows_the_raw_records_and_leaves_the_events_to_the_writer(tmp_path):
    from dev_system.record.raw import FUNCTION_NAME
    from dev_system.record.recorder import get_recorder
    from dev_system.record.sinks import MemorySink

    db = tmp_path / "t.db"
    configure(enabled=True, db_path=db, flush_interval_s=60)
    rec = get_recorder()
    seen: list[tuple] = []
    sink = MemorySink()
    rec.add_sink(sink)
    rec.raw_watchers.append(seen.extend)
    try:
        unit(1)
        unit(2)
        with rec.lock:
            rec.set_aside()
        assert [raw[FUNCTION_NAME] for raw in seen] == ["unit", "unit"]  # seen at once
        assert sink.events == [] and stats()["buffered"] == 2  # not finished on this thread
        unit(3)
        flush()
        assert len(seen) == 3  # the records set aside are not seen twice
        assert count_rows(db) == 3 and len(sink.events) == 3
        assert [e.event_id for e in sink.events] == [rec.finish(raw).event_id for raw in seen]
    finally:
        rec.raw_watchers.remove(seen.extend)
        rec.remove_sink(sink)


class BlockingSink:
    """A sink whose ``write`` waits until ``release`` is set: holds a writer inside a sink."""

    def __init__(self) -> None:
        self.inside, self.release = threading.Event(), threading.Event()

    def write(self, events) -> None:
        self.inside.set()
        self.release.wait(10)

    def close(self) -> None:
        pass


def test_setting_aside_never_waits_for_a_sink_that_is_writing(tmp_path):
    """The pytest plugin sets records aside at every test's start and end: it must not wait while
    the writer is inside a sink (a slow disk, a locked database, an exporter)."""
    from dev_system.record.recorder import get_recorder

    configure(enabled=True, db_path=tmp_path / "t.db", flush_interval_s=60)
    rec = get_recorder()
    stuck = BlockingSink()
    inside, release = stuck.inside, stuck.release
    rec.add_sink(stuck)
    flusher = threading.Thread(target=flush)
    try:
        unit(1)
        flusher.start()
        assert inside.wait(10)
        unit(2)
        assert rec.lock.acquire(timeout=2), "set_aside waited for the sink"
        try:
            rec.set_aside()
        finally:
            rec.lock.release()
        assert stats()["buffered"] == 1  # taken out of the buffer, waiting for the writer
    finally:
        release.set()
        flusher.join(10)
        rec.remove_sink(stuck)
    flush()
    assert count_rows(tmp_path / "t.db") == 2


def test_the_writer_takes_one_batch_at_a_time_out_of_the_buffer(tmp_path):
    """While the writer finishes and delivers what it took out of the buffer, callers refill it:
    what it holds outside the buffer must stay one batch, or memory grows past the buffer's limit."""
    from dev_system.record.recorder import _BATCH, get_recorder

    configure(enabled=True, db_path=tmp_path / "t.db", flush_interval_s=60, buffer_size=4 * _BATCH)
    rec = get_recorder()
    taken: list[int] = []
    slow = BlockingSink()
    inside, release = slow.inside, slow.release
    rec.add_sink(slow)
    rec.raw_watchers.append(lambda raws: taken.append(len(raws)))
    flusher = threading.Thread(target=flush)
    try:
        with rec.lock:  # the writer, woken past its mark, waits here until all are recorded
            for i in range(2 * _BATCH + 10):
                unit(i)
        flusher.start()
        assert inside.wait(10)  # the writer or the flush is inside the sink with its first batch
        assert sum(taken) <= _BATCH  # the rest is still in the buffer, counted and bounded
        assert stats()["buffered"] >= _BATCH + 10
    finally:
        release.set()
        flusher.join(10)
        rec.raw_watchers.pop()
        rec.remove_sink(slow)
    flush()
    assert count_rows(tmp_path / "t.db") == 2 * _BATCH + 10


def test_records_set_aside_wait_for_a_batch_or_ten_flush_intervals(tmp_path):
    """What is set aside (a test run's records) is stored in batches: once ``wake_at`` of them
    wait, or after ten flush intervals; not at every interval while the tests run."""
    from dev_system.record.recorder import get_recorder

    db = tmp_path / "t.db"
    configure(enabled=True, db_path=db, flush_interval_s=0.05)
    rec = get_recorder()

    def stored() -> int:
        if not db.exists():
            return 0
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'telemetry_events'").fetchone():
                return 0
            return conn.execute("SELECT COUNT(*) FROM telemetry_events").fetchone()[0]

    unit(1)
    with rec.lock:
        rec.set_aside()
    unit(2)  # recorded after: set aside by the writer too, never stored before the first
    pause = threading.Event()
    pause.wait(0.25)  # five flush intervals
    assert stats()["buffered"] == 2 and stored() == 0
    for _ in range(100):  # ten intervals (0.5 s) and the writer's next round
        if stored() == 2:
            break
        pause.wait(0.05)
    assert stored() == 2
    with sqlite3.connect(db) as conn:
        assert [json.loads(m)["args"]["i"] for (m,) in conn.execute(
            "SELECT metadata FROM telemetry_events ORDER BY timestamp")] == [1, 2]

    wake_at = rec.wake_at
    rec.wake_at = 5
    try:
        for i in range(5):
            unit(i)
        with rec.lock:
            rec.set_aside()  # five waiting: the writer is woken at once
        for _ in range(40):
            if stored() == 7:
                break
            pause.wait(0.05)
        assert stored() == 7
    finally:
        rec.wake_at = wake_at


def test_many_threads_every_event_exactly_once(recording):
    dropped_before = stats()["dropped"]

    def hammer():
        for i in range(2000):
            unit(i)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = recording.events()
    assert len(events) == 16000
    assert len({e.event_id for e in events}) == 16000
    assert stats()["dropped"] == dropped_before


def test_several_processes_into_one_database(tmp_path):
    db = tmp_path / "shared.db"
    code = f"""
        from dev_system.ops.telemetry import configure, telemetry_decorator
        configure(enabled=True, db_path={str(db)!r})
        @telemetry_decorator(agent_name="proc")
        def f(i):
            return i
        for i in range(3000):
            f(i)
    """
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path) for _ in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    with sqlite3.connect(db) as conn:
        total, distinct = conn.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM telemetry_events").fetchone()
    assert total == distinct == 12000


def test_buffer_is_flushed_at_interpreter_exit(tmp_path):
    db = tmp_path / "exit.db"
    result = run_python(f"""
        from dev_system.ops.telemetry import configure, telemetry_decorator
        configure(enabled=True, db_path={str(db)!r}, flush_interval_s=3600)
        @telemetry_decorator(agent_name="a")
        def f():
            pass
        for _ in range(123):
            f()
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert count_rows(db) == 123


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_parent_and_child_both_record_without_duplicates(tmp_path):
    db = tmp_path / "fork.db"
    result = run_python(f"""
        import os
        from dev_system.ops.telemetry import configure, flush, telemetry_decorator
        configure(enabled=True, db_path={str(db)!r})
        @telemetry_decorator(agent_name="a")
        def f(who):
            pass
        for _ in range(500):
            f("before")          # buffered, not yet flushed, when the fork happens
        pid = os.fork()
        who = "child" if pid == 0 else "parent"
        for _ in range(1000):
            f(who)
        flush()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute(
            "SELECT json_extract(metadata, '$.args.who'), COUNT(*) FROM telemetry_events GROUP BY 1"))
        distinct = conn.execute("SELECT COUNT(DISTINCT event_id) FROM telemetry_events").fetchone()[0]
    assert rows == {"before": 500, "parent": 1000, "child": 1000}
    assert distinct == 2500


def test_read_only_folder_reports_once_counts_drops_and_the_code_goes_on(tmp_path):
    """Root writes anywhere, so as root the recording process drops to ``nobody`` first."""
    folder = tmp_path / "ro"
    folder.mkdir()
    warm = tmp_path / "warm"
    warm.mkdir()
    tmp_path.chmod(0o755)
    folder.chmod(0o555)
    result = run_python(f"""
        import json, os, warnings
        from dev_system.ops.telemetry import configure, flush, stats, telemetry_decorator
        @telemetry_decorator(agent_name="a")
        def f(i):
            return i
        configure(enabled=True, db_path={str(warm / "t.db")!r})
        f(0); flush()                      # every lazy import done while still allowed
        if os.geteuid() == 0:
            os.setgid(65534); os.setuid(65534)
        configure(enabled=True, db_path={str(folder / "t.db")!r})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = [f(i) for i in range(10)]
            flush()
        print(json.dumps({{"results": results, "dropped": stats()["dropped"], "warnings": len(caught),
                          "problems": list(stats()["problem_messages"].values())}}))
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["results"] == list(range(10))
    assert outcome["dropped"] == 10
    assert outcome["warnings"] == 0  # reported, never as a warning in the caller's context
    assert len(outcome["problems"]) == 1 and "dropped" in outcome["problems"][0]
    assert not (folder / "t.db").exists()


def test_corrupt_database_logs_once_counts_drops_and_the_code_goes_on(tmp_path, caplog):
    db = tmp_path / "t.db"
    db.write_bytes(b"this is not a database at all" * 100)
    configure(enabled=True, db_path=db)
    before = stats()["dropped"]
    with caplog.at_level(logging.WARNING, logger="dev_system"):
        assert [unit(i) for i in range(10)] == list(range(10))
        flush()
        unit(11)
        flush()
    assert stats()["dropped"] - before == 11
    assert len([r for r in caplog.records if r.name == "dev_system"]) == 1


def test_database_replaced_while_recording_is_reopened(recording):
    unit(1)
    recording.events()
    recording.db_path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(recording.db_path) + suffix).unlink(missing_ok=True)
    unit(2)
    events = recording.events()
    assert [e.metadata_dict["args"]["i"] for e in events] == [2]


def test_reference_database_is_migrated_in_place(tmp_path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute("""CREATE TABLE telemetry_events (
            id INTEGER PRIMARY KEY, timestamp REAL NOT NULL, event_type TEXT NOT NULL,
            agent_name TEXT NOT NULL, function_name TEXT NOT NULL, input_tokens INTEGER DEFAULT 0,
            output_tokens INTEGER DEFAULT 0, latency_ms REAL NOT NULL, cost_usd REAL DEFAULT 0.0,
            success BOOLEAN NOT NULL, error_type TEXT, trace_id TEXT, metadata TEXT,
            created_at DATETIME DEFAULT CURRENT_TIMESTAMP)""")
        conn.execute("INSERT INTO telemetry_events (timestamp, event_type, agent_name, function_name, latency_ms, success)"
                     " VALUES (1.0, 'model_call', 'old', 'f', 5.0, 1)")
    configure(enabled=True, db_path=db)
    unit(1)
    flush()
    with sqlite3.connect(db) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(telemetry_events)")]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        agents = [row[0] for row in conn.execute("SELECT agent_name FROM telemetry_events ORDER BY id")]
    assert columns[1:13] == list(DOCUMENTED_COLUMNS)
    assert columns[:1] == ["id"] and columns[13] == "created_at"
    assert version == store.SCHEMA_VERSION
    assert agents == ["old", "worker"]


def test_newer_schema_is_refused_with_one_line(tmp_path):
    db = tmp_path / "new.db"
    store.connect(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {store.SCHEMA_VERSION + 1}")
    with pytest.raises(store.NewerSchema) as info:
        store.connect(db, readonly=True)
    assert "\n" not in str(info.value) and "upgrade" in str(info.value)


def test_data_folder_and_database_are_private(tmp_path):
    db = tmp_path / "data" / "telemetry.db"
    store.connect(db).close()
    assert db.stat().st_mode & 0o777 == 0o600
    assert db.parent.stat().st_mode & 0o777 == 0o700


def test_full_buffer_applies_back_pressure_then_counts_drops(tmp_path):
    db = tmp_path / "t.db"
    configure(enabled=True, db_path=db, buffer_size=100)
    before = stats()["dropped"]
    for i in range(5000):
        unit(i)
    flush()
    assert count_rows(db) + stats()["dropped"] - before == 5000
    assert count_rows(db) > 0


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_maybe_text = st.none() | _text


@st.composite
def _events(draw: st.DrawFn) -> list[TelemetryEvent]:
    """Events whose optional columns are empty in all, some or none of the rows of a statement
    (the writer sends 52 rows to one)."""
    count = draw(st.sampled_from([0, 1, 51, 52, 53, 104, 130]))
    usually_empty = draw(st.sets(st.sampled_from(["input_tokens", "cost_usd", "error_type", "trace_id", "metadata",
                                                  "parent_span_id", "run_id", "model", "event_id"])))
    rows = []
    for i in range(count):
        def value(name: str, strategy: st.SearchStrategy) -> object:
            return None if name in usually_empty and draw(st.integers(0, 20)) else draw(strategy)
        rows.append(TelemetryEvent(
            1.7e9 + i, draw(st.sampled_from(["model_call", "tool_call"])), draw(_text), "f",
            value("input_tokens", st.integers(0, 10**6)), draw(st.none() | st.integers(0, 10**6)),
            draw(st.floats(0, 1e6)), value("cost_usd", st.floats(0, 10)), draw(st.booleans()),
            value("error_type", _text), value("trace_id", _text), value("metadata", st.just('{"a": 1}')),
            value("event_id", st.just(f"e{i}")), f"s{i}", value("parent_span_id", _maybe_text),
            value("run_id", _text), value("model", _text),
        ))
    return rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=_events())
def test_insert_events_stores_what_one_row_a_binding_stores(tmp_path: Path, events: list[TelemetryEvent]) -> None:
    """``insert_events``' many-rows statements (with NULL written for a column empty in all their
    rows) store the same rows as the plain reference: ``executemany`` of one row a binding, the
    batch made storable when SQLite refuses it."""
    from dev_system.store.db import transaction
    from dev_system.store.events import INSERT_EVENT, VALUE_ERRORS, insert_events, storable

    def reference(conn, events):
        try:
            with transaction(conn):
                before = conn.total_changes
                conn.executemany(INSERT_EVENT, events)
                if conn.total_changes - before == len(events):
                    return
                raise ValueError("a row was skipped")
        except VALUE_ERRORS:
            pass
        with transaction(conn):
            conn.executemany(INSERT_EVENT, [storable(e) for e in events])

    stored = []
    for name, insert in (("writer", insert_events), ("reference", reference)):
        path = tmp_path / f"{name}-{os.urandom(4).hex()}.db"
        conn = store.connect(path)
        try:
            insert(conn, events)
            columns = ", ".join(c for c in TelemetryEvent._fields)
            rows = conn.execute(f"SELECT {columns}, typeof(success), typeof(cost_usd) FROM telemetry_events "
                                "ORDER BY id").fetchall()
        finally:
            conn.close()
        stored.append(rows)
    assert stored[0] == stored[1]
    assert len(stored[0]) == len({e.event_id for e in events if e.event_id is not None}) + sum(
        1 for e in events if e.event_id is None)


def test_checkpoint_soon_copies_the_log_into_the_database_file_before_any_close(tmp_path):
    """The database file takes in the write-ahead log when asked, before any connection closes
    (the pytest plugin asks once the run's report is stored, so that the disk writes and syncs
    happen while pytest prints its summary)."""
    from dev_system.record.recorder import get_recorder

    db = tmp_path / "t.db"
    configure(enabled=True, db_path=db, flush_interval_s=60)
    for i in range(400):
        unit(i)
    flush()
    rec = get_recorder()
    wal = Path(f"{db}-wal")
    before = db.stat().st_size
    assert wal.stat().st_size > 0 and count_rows(db) == 400  # the rows live in the log so far
    rec.checkpoint_soon()  # returns at once; the writer thread does it
    deadline = time.monotonic() + 10
    while db.stat().st_size <= before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert db.stat().st_size > before  # the pages were copied into the database file
    assert count_rows(db) == 400
