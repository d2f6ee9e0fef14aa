"""``combine``: merging telemetry databases from CI shards, on real databases written by the real
recorder in separate processes (one process per CI job), and on the reference system's schema."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dev_system.events import EVENT_COLUMNS
from dev_system.store import db as store
from dev_system.store import schema as store_schema
from dev_system.store.combine import CombineError, combine, expand_inputs
from dev_system.store.events import record_dropped

# -- real databases -------------------------------------------------------------------------------

_SHARD_SCRIPT = textwrap.dedent(
    """
    import sys
    from dev_system.ops.telemetry import configure, telemetry_decorator, flush

    db, run_id, shard, calls = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    configure(enabled=True, db_path=db, run_id=run_id or None)

    @telemetry_decorator("search", "tool_call")
    def search(query):
        if query.endswith("3"):
            raise LookupError(query)
        return [query]

    @telemetry_decorator("agent-" + shard, "model_call", cost_calculator=lambda r: 0.25)
    def answer(i):
        try:
            search(f"q{i}")
        except LookupError:
            pass
        return {"text": "ok"}

    for i in range(calls):
        answer(i)
    """
)


def record_shard(db: Path, *, run_id: str = "", shard: str = "1", calls: int = 5) -> Path:
    """A database written by the real recorder in a separate process, as a CI job leaves it."""
    env = dict(os.environ)
    env.pop("DEV_SYSTEM_TELEMETRY", None)
    subprocess.run([sys.executable, "-c", _SHARD_SCRIPT, str(db), run_id, shard, str(calls)],
                   check=True, env=env, cwd=db.parent)
    return db


def add_run(db: Path, run_id: str, *, started_at: float, host: str, passed: int, failed: int,
            results: dict[str, str], status: str | None = None) -> None:
    """What the pytest plugin stores for one session: a ``runs`` row and one result per test."""
    conn = store.connect(db)
    try:
        conn.execute(
            "INSERT INTO runs (run_id, started_at, ended_at, status, command, host, passed, failed, skipped,"
            " errors, exit_status) VALUES (?, ?, ?, ?, 'pytest', ?, ?, ?, 0, 0, ?)",
            (run_id, started_at, started_at + 10, status or ("failed" if failed else "passed"), host, passed,
             failed, 1 if failed else 0),
        )
        for nodeid, outcome in results.items():
            conn.execute("INSERT INTO test_results (run_id, nodeid, outcome, duration_s, events) VALUES (?, ?, ?, 0.5, 2)",
                         (run_id, nodeid, outcome))
    finally:
        conn.close()


def snapshot(db: Path) -> dict[str, object]:
    """The content of a database, independent of row ids and row order."""
    conn = sqlite3.connect(db)
    try:
        columns = [c for c in EVENT_COLUMNS] + ["created_at"]
        return {
            "events": sorted(conn.execute(f"SELECT {', '.join(columns)} FROM telemetry_events").fetchall(), key=repr),
            "runs": sorted(conn.execute("SELECT * FROM runs").fetchall(), key=repr),
            "results": sorted(conn.execute("SELECT * FROM test_results").fetchall(), key=repr),
            "dropped": sorted(conn.execute("SELECT timestamp, run_id, count, reason FROM dropped_events").fetchall(), key=repr),
        }
    finally:
        conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def shards(tmp_path: Path) -> list[Path]:
    """Three CI jobs of one pipeline, each with its own database and the shared run id."""
    paths = []
    for n in (1, 2, 3):
        folder = tmp_path / f"job-{n}"
        folder.mkdir()
        paths.append(record_shard(folder / "telemetry.db", run_id="ci-42", shard=str(n), calls=4 + n))
    return paths


# -- the merge ------------------------------------------------------------------------------------


def test_every_event_of_every_shard_once(shards: list[Path], tmp_path: Path) -> None:
    per_shard = [count(db, "SELECT COUNT(*) FROM telemetry_events") for db in shards]
    assert per_shard == [10, 12, 14]  # each answer() makes one model call and one tool call
    merged = tmp_path / "merged.db"
    result = combine(shards, merged)
    assert result.total_events == sum(per_shard) == result.added_events
    assert count(merged, "SELECT COUNT(DISTINCT event_id) FROM telemetry_events") == sum(per_shard)
    assert count(merged, "SELECT COUNT(*) FROM telemetry_events WHERE run_id = 'ci-42'") == sum(per_shard)
    # The parent links survive: every tool call's parent is a model call of the same trace.
    conn = sqlite3.connect(merged)
    orphans = conn.execute(
        "SELECT COUNT(*) FROM telemetry_events c WHERE c.event_type = 'tool_call' AND NOT EXISTS ("
        "SELECT 1 FROM telemetry_events p WHERE p.span_id = c.parent_span_id AND p.trace_id = c.trace_id)"
    ).fetchone()[0]
    conn.close()
    assert orphans == 0


def test_merging_again_changes_nothing(shards: list[Path], tmp_path: Path) -> None:
    merged = tmp_path / "merged.db"
    combine(shards, merged)
    first = snapshot(merged)
    again = combine([*shards, shards[0]], merged)
    assert again.added_events == 0
    assert snapshot(merged) == first
    # Merging the merged file into another copy of itself, or into a fresh file, is the same content.
    other = tmp_path / "other.db"
    combine([merged, shards[1]], other)
    combine([other, merged], other)
    assert snapshot(other) == first


def test_order_of_inputs_does_not_matter(shards: list[Path], tmp_path: Path) -> None:
    for db, (host, passed, failed, results) in zip(shards, [
        ("runner-a", 3, 0, {"t.py::a": "passed", "t.py::shared": "passed"}),
        ("runner-b", 1, 1, {"t.py::b": "failed", "t.py::shared": "failed"}),
        ("runner-c", 2, 0, {"t.py::c": "skipped"}),
    ]):
        add_run(db, "ci-42", started_at=1000.0 + len(host) + passed, host=host, passed=passed, failed=failed,
                results=results)
    forward, backward = tmp_path / "f.db", tmp_path / "b.db"
    combine(shards, forward)
    combine(list(reversed(shards)), backward)
    assert snapshot(forward) == snapshot(backward)


def test_a_run_split_across_jobs_is_one_run(shards: list[Path], tmp_path: Path) -> None:
    add_run(shards[0], "ci-42", started_at=1000.0, host="runner-a", passed=3, failed=0,
            results={"t.py::a": "passed", "t.py::shared": "passed"})
    add_run(shards[1], "ci-42", started_at=1005.0, host="runner-b", passed=1, failed=1,
            results={"t.py::b": "failed", "t.py::shared": "failed"})
    add_run(shards[2], "ci-42", started_at=1002.0, host="runner-c", passed=2, failed=0,
            results={"t.py::c": "passed"})
    merged = tmp_path / "merged.db"
    combine(shards, merged)
    combine([shards[1], shards[0]], merged)  # a job merged twice is not counted twice
    conn = sqlite3.connect(merged)
    conn.row_factory = sqlite3.Row
    runs = conn.execute("SELECT * FROM runs").fetchall()
    assert len(runs) == 1
    run = runs[0]
    assert (run["started_at"], run["ended_at"]) == (1000.0, 1015.0)
    assert (run["passed"], run["failed"], run["status"], run["exit_status"]) == (6, 1, "failed", 1)
    assert run["host"] == "runner-a, runner-b, runner-c"
    assert json.loads(run["metadata"])["combined_parts"] == 3
    results = dict(conn.execute("SELECT nodeid, outcome FROM test_results WHERE run_id = 'ci-42'").fetchall())
    conn.close()
    # The test that ran in two jobs keeps its worse outcome.
    assert results == {"t.py::a": "passed", "t.py::b": "failed", "t.py::c": "passed", "t.py::shared": "failed"}


def test_a_single_database_combines_to_the_same_content(shards: list[Path], tmp_path: Path) -> None:
    add_run(shards[0], "ci-42", started_at=1000.0, host="runner-a", passed=3, failed=0,
            results={"t.py::a": "passed"})
    merged = tmp_path / "merged.db"
    combine([shards[0]], merged)
    assert snapshot(merged) == snapshot(shards[0])


def test_inputs_are_untouched(shards: list[Path], tmp_path: Path) -> None:
    before = {db: digest(db) for db in shards}
    combine(shards, tmp_path / "merged.db")
    assert {db: digest(db) for db in shards} == before


def test_delete_inputs_after_the_merge(shards: list[Path], tmp_path: Path) -> None:
    merged = tmp_path / "merged.db"
    result = combine(shards, merged, delete_inputs=True)
    assert sorted(result.deleted) == sorted(shards)
    assert not any(db.exists() for db in shards)
    assert count(merged, "SELECT COUNT(*) FROM telemetry_events") == 36


def test_the_output_given_as_an_input_is_skipped_and_kept(shards: list[Path], tmp_path: Path) -> None:
    merged = tmp_path / "merged.db"
    combine(shards[:2], merged)
    result = combine([merged, shards[2]], merged, delete_inputs=True)
    assert [r.status for r in result.inputs] == ["self", "combined"]
    assert merged.exists() and not shards[2].exists()
    assert count(merged, "SELECT COUNT(*) FROM telemetry_events") == 36


def test_globs_and_folders(shards: list[Path], tmp_path: Path) -> None:
    assert expand_inputs([str(tmp_path / "job-*" / "telemetry.db")]) == shards
    assert expand_inputs([str(tmp_path / "**" / "*.db")]) == shards
    assert expand_inputs([tmp_path]) == shards
    assert expand_inputs([shards[0], str(tmp_path / "job-1" / "*.db")]) == [shards[0]]
    with pytest.raises(CombineError, match="no files match"):
        expand_inputs([str(tmp_path / "nothing-*.db")])


# -- bad inputs -----------------------------------------------------------------------------------


def test_missing_input_leaves_the_output_alone(shards: list[Path], tmp_path: Path) -> None:
    merged = tmp_path / "merged.db"
    with pytest.raises(CombineError, match="no such file"):
        combine([shards[0], tmp_path / "absent.db"], merged)
    assert not merged.exists()


@pytest.mark.parametrize("kind", ["text", "empty-sqlite", "other-sqlite", "other-events-table"])
def test_a_file_that_is_not_a_telemetry_database(kind: str, shards: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    if kind == "text":
        bad.write_text("these are not the droids\n" * 100)
    else:
        conn = sqlite3.connect(bad)
        if kind == "other-sqlite":
            conn.execute("CREATE TABLE coverage (line INTEGER)")
        if kind == "other-events-table":  # someone else's table of the same name
            conn.execute("CREATE TABLE telemetry_events (id INTEGER PRIMARY KEY, name TEXT)")
            conn.execute("INSERT INTO telemetry_events (name) VALUES ('x')")
        conn.commit()
        conn.close()
    merged = tmp_path / "merged.db"
    combine(shards[:1], merged)
    before = snapshot(merged)
    with pytest.raises(CombineError) as info:
        combine([shards[1], bad], merged)
    assert "\n" not in str(info.value) and "bad.db" in str(info.value)
    assert snapshot(merged) == before


def test_a_database_from_a_newer_version(shards: list[Path], tmp_path: Path) -> None:
    conn = sqlite3.connect(shards[0])
    conn.execute(f"PRAGMA user_version = {store.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(CombineError, match="newer|upgrade"):
        combine(shards, tmp_path / "merged.db")


# -- older schemas --------------------------------------------------------------------------------

_REFERENCE_SCHEMA = """
CREATE TABLE telemetry_events (
    id INTEGER PRIMARY KEY, timestamp REAL NOT NULL, event_type TEXT NOT NULL, agent_name TEXT NOT NULL,
    function_name TEXT NOT NULL, input_tokens INTEGER DEFAULT 0, output_tokens INTEGER DEFAULT 0,
    latency_ms REAL NOT NULL, cost_usd REAL DEFAULT 0.0, success BOOLEAN NOT NULL, error_type TEXT,
    trace_id TEXT, metadata TEXT, created_at DATETIME DEFAULT CURRENT_TIMESTAMP
)"""


def reference_database(path: Path, rows: int) -> Path:
    """A database as the reference system writes it: documented columns only, user_version 0."""
    conn = sqlite3.connect(path)
    conn.execute(_REFERENCE_SCHEMA)
    conn.executemany(
        "INSERT INTO telemetry_events (timestamp, event_type, agent_name, function_name, input_tokens,"
        " output_tokens, latency_ms, cost_usd, success, error_type, trace_id, metadata)"
        " VALUES (?, 'model_call', 'legacy', 'fn', 5, 6, 12.5, 0.001, 1, NULL, ?, '{}')",
        [(1700000000.0 + i, f"trace-{i % 3}") for i in range(rows)],
    )
    conn.commit()
    conn.close()
    return path


def test_reference_schema_inputs_are_read_as_they_are(shards: list[Path], tmp_path: Path) -> None:
    old = reference_database(tmp_path / "old.db", 7)
    before = digest(old)
    merged = tmp_path / "merged.db"
    combine([old, shards[0]], merged)
    combine([old], merged)  # the same legacy events again: they keep their derived ids
    assert digest(old) == before
    assert count(old, "PRAGMA user_version") == 0
    assert count(merged, "PRAGMA user_version") == store.SCHEMA_VERSION
    assert count(merged, "SELECT COUNT(*) FROM telemetry_events WHERE agent_name = 'legacy'") == 7
    assert count(merged, "SELECT COUNT(*) FROM telemetry_events WHERE event_id LIKE 'legacy-%'") == 7


def test_an_old_output_is_migrated_and_keeps_its_events(shards: list[Path], tmp_path: Path) -> None:
    old = reference_database(tmp_path / "old.db", 4)
    copy = reference_database(tmp_path / "copy.db", 4)  # the same events, in another file
    combine([shards[0], copy], old)
    assert count(old, "PRAGMA user_version") == store.SCHEMA_VERSION
    assert count(old, "SELECT COUNT(*) FROM telemetry_events WHERE agent_name = 'legacy'") == 4
    assert count(old, "SELECT COUNT(*) FROM telemetry_events WHERE event_id IS NULL") == 0


#: The schema of version 2, as that version made it (no ``run_parts``: combine made that table in
#: its output by itself).
_VERSION_2_SCHEMA = (
    _REFERENCE_SCHEMA,
    *(f"ALTER TABLE telemetry_events ADD COLUMN {name} TEXT"
      for name in ("event_id", "span_id", "parent_span_id", "run_id", "model")),
    """CREATE TABLE runs (
        run_id TEXT PRIMARY KEY, started_at REAL NOT NULL, ended_at REAL, status TEXT NOT NULL DEFAULT 'running',
        command TEXT, git_commit TEXT, git_branch TEXT, host TEXT, passed INTEGER, failed INTEGER,
        skipped INTEGER, errors INTEGER, exit_status INTEGER, metadata TEXT
    )""",
    """CREATE TABLE test_results (
        run_id TEXT NOT NULL, nodeid TEXT NOT NULL, outcome TEXT NOT NULL, duration_s REAL,
        events INTEGER NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0.0,
        unknown_cost INTEGER NOT NULL DEFAULT 0, max_latency_ms REAL, PRIMARY KEY (run_id, nodeid)
    )""",
    """CREATE TABLE dropped_events (
        id INTEGER PRIMARY KEY, timestamp REAL NOT NULL, run_id TEXT, count INTEGER NOT NULL, reason TEXT NOT NULL
    )""",
    "CREATE UNIQUE INDEX ix_events_event_id ON telemetry_events(event_id)",
    "CREATE INDEX ix_events_timestamp ON telemetry_events(timestamp)",
    "CREATE INDEX ix_events_run_trace ON telemetry_events(run_id, trace_id)",
    "PRAGMA user_version = 2",
)


def version_2_database(path: Path, *, run_id: str = "v2-run", host: str = "old-runner") -> Path:
    """A database as version 2 wrote it: events of one run, the run, its test results and a drop."""
    conn = sqlite3.connect(path)
    for statement in _VERSION_2_SCHEMA:
        conn.execute(statement)
    conn.executemany(
        "INSERT INTO telemetry_events (timestamp, event_type, agent_name, function_name, input_tokens,"
        " output_tokens, latency_ms, cost_usd, success, trace_id, metadata, event_id, run_id)"
        " VALUES (?, 'model_call', 'v2-agent', 'fn', 5, 6, 12.5, 0.25, 1, ?, '{}', ?, ?)",
        [(1700000000.0 + i, f"t.py::test_{i % 2}", f"{run_id}-event-{i}", run_id) for i in range(5)],
    )
    conn.execute("INSERT INTO runs (run_id, started_at, ended_at, status, command, host, passed, failed, skipped,"
                  " errors, exit_status) VALUES (?, 1700000000.0, 1700000010.0, 'passed', 'pytest', ?, 2, 0, 0, 0, 0)",
                  (run_id, host))
    conn.executemany("INSERT INTO test_results (run_id, nodeid, outcome, events, cost_usd) VALUES (?, ?, 'passed', ?, ?)",
                     [(run_id, "t.py::test_0", 3, 0.75), (run_id, "t.py::test_1", 2, 0.5)])
    conn.execute("INSERT INTO dropped_events (timestamp, run_id, count, reason) VALUES (1700000005.0, ?, 2, 'full')",
                 (run_id,))
    conn.commit()
    conn.close()
    return path


def tables(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def test_a_version_2_database_is_migrated_to_the_current_version_and_keeps_its_rows(tmp_path: Path) -> None:
    old = version_2_database(tmp_path / "v2.db")
    before = snapshot(old)
    assert "run_parts" not in tables(old) and "scores" not in tables(old)
    store.connect(old, readonly=True).close()  # read as it is: not migrated
    assert count(old, "PRAGMA user_version") == 2 and "run_parts" not in tables(old)
    store.connect(old).close()
    assert count(old, "PRAGMA user_version") == store.SCHEMA_VERSION == 4
    assert {"run_parts", "scores", "meta"} <= tables(old)
    assert count(old, "SELECT COUNT(*) FROM run_parts") == 0 and count(old, "SELECT COUNT(*) FROM scores") == 0
    assert snapshot(old) == before


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_every_older_version_opened_for_writing_gets_the_newer_tables(version: int, tmp_path: Path) -> None:
    path = version_2_database(tmp_path / "old.db") if version else reference_database(tmp_path / "old.db", 3)
    if version == 1:
        conn = sqlite3.connect(path)
        conn.execute("DROP INDEX ix_events_run_trace")
        conn.execute("CREATE INDEX ix_events_trace ON telemetry_events(trace_id)")
        conn.execute("CREATE INDEX ix_events_run ON telemetry_events(run_id)")
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
        conn.close()
    if version == 3:
        conn = sqlite3.connect(path)
        conn.execute(next(ddl for ddl in store_schema.TABLES if "run_parts" in ddl))
        conn.execute("PRAGMA user_version = 3")
        conn.commit()
        conn.close()
    before = snapshot(path) if version else None
    store.connect(path).close()
    assert count(path, "PRAGMA user_version") == store.SCHEMA_VERSION
    assert {"run_parts", "scores", "meta"} <= tables(path)
    if before is not None:
        assert snapshot(path) == before


def test_combine_reads_a_version_2_input_as_it_is(shards: list[Path], tmp_path: Path) -> None:
    old = version_2_database(tmp_path / "v2.db")
    before = digest(old)
    merged = tmp_path / "merged.db"
    combine([old, shards[0]], merged)
    combine([old], merged)  # nothing twice
    assert digest(old) == before and count(old, "PRAGMA user_version") == 2
    assert count(merged, "PRAGMA user_version") == store.SCHEMA_VERSION
    assert count(merged, "SELECT COUNT(*) FROM telemetry_events WHERE agent_name = 'v2-agent'") == 5
    assert count(merged, "SELECT COUNT(*) FROM runs WHERE run_id = 'v2-run'") == 1
    assert count(merged, "SELECT COUNT(*) FROM run_parts WHERE run_id = 'v2-run'") == 1
    assert count(merged, "SELECT COUNT(*) FROM test_results WHERE run_id = 'v2-run'") == 2
    assert count(merged, "SELECT SUM(count) FROM dropped_events WHERE run_id = 'v2-run'") == 2


def test_combine_into_a_version_2_output_migrates_it(tmp_path: Path) -> None:
    """A version-2 output, itself made by combine (its ``run_parts`` made by combine then): it is
    migrated, keeps its rows and parts, and a job of the same run adds one part."""
    output = version_2_database(tmp_path / "out.db", run_id="ci-7", host="runner-a")
    combine([version_2_database(tmp_path / "same.db", run_id="ci-7", host="runner-a")], output)
    conn = sqlite3.connect(output)
    conn.execute("PRAGMA user_version = 2")  # as version 2 left it: with the parts combine made
    conn.commit()
    conn.close()
    before = snapshot(output)
    job = version_2_database(tmp_path / "job.db", run_id="ci-7", host="runner-b")
    conn = sqlite3.connect(job)
    conn.execute("UPDATE telemetry_events SET event_id = 'job-' || event_id")
    conn.commit()
    conn.close()
    combine([job], output)
    assert count(output, "PRAGMA user_version") == store.SCHEMA_VERSION
    assert count(output, "SELECT COUNT(*) FROM run_parts WHERE run_id = 'ci-7'") == 2
    assert count(output, "SELECT COUNT(*) FROM telemetry_events") == len(before["events"]) + 5
    conn = sqlite3.connect(output)
    passed, host, metadata = conn.execute("SELECT passed, host, metadata FROM runs WHERE run_id = 'ci-7'").fetchone()
    conn.close()
    assert (passed, host, json.loads(metadata)["combined_parts"]) == (4, "runner-a, runner-b", 2)


def test_dropped_event_counts_are_kept_once(shards: list[Path], tmp_path: Path) -> None:
    conn = store.connect(shards[0])
    record_dropped(conn, 1234.5, 3, "buffer full", "ci-42")
    conn.close()
    merged = tmp_path / "merged.db"
    combine(shards, merged)
    combine(shards, merged)
    assert count(merged, "SELECT SUM(count) FROM dropped_events") == 3


# -- end to end: real pytest runs, the command line -------------------------------------------------

_SUITE = """
import pytest
from dev_system.ops.telemetry import telemetry_decorator

@telemetry_decorator("search", "tool_call")
def search(q):
    return [q]

@telemetry_decorator("writer", "model_call", cost_calculator=lambda r: 0.5)
def write(q):
    search(q)
    return "text"

@pytest.mark.parametrize("n", range({count}))
def test_{shard}(n):
    assert write(str(n)) == "text"

def test_{shard}_fails():
    write("x")
    assert {fail}
"""


def pytest_shard(pytester: pytest.Pytester, shard: str, count: int, fail: bool) -> Path:
    """One CI job: a real pytest run with --telemetry into its own database."""
    pytester.makepyfile(**{f"test_{shard}": _SUITE.format(shard=shard, count=count, fail=not fail)})
    db = pytester.path / f"{shard}.db"
    result = pytester.runpytest_subprocess("--telemetry", "--telemetry-db", str(db), f"test_{shard}.py")
    assert result.ret == (1 if fail else 0), result.stdout.str()
    return db


def dev_system(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dev_system", *args], capture_output=True, text=True, cwd=cwd)


def test_real_pytest_runs_combined_and_reported(pytester: pytest.Pytester) -> None:
    shard_a = pytest_shard(pytester, "alpha", 3, fail=False)
    shard_b = pytest_shard(pytester, "beta", 2, fail=True)
    merged = pytester.path / "merged.db"
    done = dev_system("combine", str(shard_a), str(pytester.path / "b*.db"), "--into", str(merged), cwd=pytester.path)
    assert done.returncode == 0, done.stderr
    assert f"Combined 2 databases into {merged}" in done.stdout

    events = count(shard_a, "SELECT COUNT(*) FROM telemetry_events") + count(shard_b, "SELECT COUNT(*) FROM telemetry_events")
    assert events == 2 * (4 + 3)  # every test calls write() once: a model call and a tool call
    assert count(merged, "SELECT COUNT(*) FROM telemetry_events") == events
    assert count(merged, "SELECT COUNT(*) FROM test_results") == 4 + 3
    conn = sqlite3.connect(merged)
    runs = sorted(conn.execute("SELECT passed, failed, status FROM runs").fetchall())
    traces = {row[0] for row in conn.execute("SELECT DISTINCT trace_id FROM telemetry_events")}
    run_ids = [row[0] for row in conn.execute("SELECT run_id FROM runs ORDER BY started_at")]
    conn.close()
    assert runs == [(2, 1, "failed"), (4, 0, "passed")]
    assert "test_alpha.py::test_alpha[0]" in traces  # each event is in its test's trace

    again = dev_system("combine", str(shard_a), str(shard_b), "--into", str(merged), "--quiet", cwd=pytester.path)
    assert again.returncode == 0 and again.stdout.count("\n") == 1
    assert count(merged, "SELECT COUNT(*) FROM telemetry_events") == events

    for run_id, calls in zip(run_ids, (8, 6)):
        report = dev_system("metrics", "--db", str(merged), "--period", "all", "--run", run_id, "--format", "json",
                            cwd=pytester.path)
        assert report.returncode == 0, report.stderr
        assert json.loads(report.stdout)["events"] == calls


def test_real_pytest_jobs_sharing_a_run_id_are_one_run(pytester: pytest.Pytester, monkeypatch) -> None:
    monkeypatch.setenv("DEV_SYSTEM_RUN_ID", "ci-7")
    shard_a = pytest_shard(pytester, "alpha", 3, fail=False)
    shard_b = pytest_shard(pytester, "beta", 2, fail=True)
    merged = pytester.path / "merged.db"
    combine([shard_a, shard_b], merged)
    conn = sqlite3.connect(merged)
    runs = conn.execute("SELECT run_id, passed, failed, status FROM runs").fetchall()
    conn.close()
    assert runs == [("ci-7", 6, 1, "failed")]
    assert count(merged, "SELECT COUNT(*) FROM telemetry_events WHERE run_id = 'ci-7'") == 14


def test_command_line_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("not sqlite")
    for args, message in [
        (["combine", "absent.db", "--into", "m.db"], "absent.db: no such file"),
        (["combine", "notes.db", "--into", "m.db"], "notes.db is not a usable telemetry database"),
        (["combine", "x*.db", "--into", "m.db"], "no files match 'x*.db'"),
        (["combine", "notes.db"], "--into"),
        (["combine", "new\nline.db", "--into", "m.db"], "new\\nline.db: no such file"),
    ]:
        done = dev_system(*args, cwd=tmp_path)
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "m.db").exists()


def test_command_line_delete_inputs(shards: list[Path], tmp_path: Path) -> None:
    done = dev_system("combine", str(tmp_path / "job-*"), "--into", "merged.db", "--delete-inputs", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "deleted 3 inputs" in done.stdout
    assert not any(db.exists() for db in shards)


def test_hand_edited_runs_are_combined_without_a_traceback(shards: list[Path], tmp_path: Path) -> None:
    add_run(shards[0], "ci-42", started_at=1000.0, host="a", passed=1, failed=0, results={})
    add_run(shards[1], "ci-42", started_at=1001.0, host="b", passed=2, failed=0, results={})
    conn = sqlite3.connect(shards[1])
    conn.execute("UPDATE runs SET passed = 'two', ended_at = 'later', status = 42")
    conn.commit()
    conn.close()
    merged = tmp_path / "merged.db"
    combine(shards, merged)
    assert count(merged, "SELECT passed FROM runs WHERE run_id = 'ci-42'") == 1  # 'two' is no count
