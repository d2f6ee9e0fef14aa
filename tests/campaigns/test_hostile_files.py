"""Files that are not ours, or hostile: someone else's SQLite database given where a telemetry
database belongs, a database a run is still writing, and databases crafted to hurt the reader (a
view that never ends where a table belongs, JSON nested 100,000 deep, rows of tens of megabytes).

The promises checked: someone else's database is never changed (one line, a non-zero exit; the
recorder drops and counts, the user's code goes on); every command reads a hostile database in
bounded time and memory and answers, or fails in one line, never with a traceback; a run merged
while it is still running is merged again, as finished, by a later merge. Each survived fault is
noted for the campaign's figures (:mod:`test_reliability_figures`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_reliability_figures import note_fault

from dev_system.events import TelemetryEvent
from dev_system.json_fields import NOT_READ
from dev_system.store import db as store
from dev_system.store.events import insert_events
from dev_system.store.runs import Run, finish_run

DEEP = "[" * 100_000 + "]" * 100_000


def child_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("DEV_SYSTEM_")}


def dev_system(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dev_system", *args], cwd=cwd, env=child_env(),
                          capture_output=True, text=True, timeout=timeout)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.splitlines()
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("dev-system: error: "), done.stderr[-2000:]
    return lines[0]


def answered(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    return done.stdout


def event(i: int, *, trace: str = "T1", run_id: str | None = None, metadata: str | None = None,
          success: bool = True) -> TelemetryEvent:
    return TelemetryEvent(time.time() - 60 + i, "tool_call", "agent", "tool", 1, 2, 5.0, 0.001, success,
                          None if success else "ValueError", trace, metadata, f"hostile-{trace}-{i}", None, None,
                          run_id, None)


def telemetry_db(path: Path, events: list[TelemetryEvent], runs: list[Run] = ()) -> Path:
    conn = store.connect(path)
    try:
        insert_events(conn, events)
        for run in runs:
            finish_run(conn, run)
    finally:
        conn.close()
    return path


def app_db(path: Path) -> Path:
    """An application's database: user_version 1, rollback journal, its own tables."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER, total REAL)")
    conn.execute("INSERT INTO users (name) VALUES ('ann'), ('bob')")
    conn.commit()
    conn.close()
    return path


def untouched(path: Path, before: bytes) -> None:
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-shm").exists()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"users", "orders"}


# --- someone else's database ----------------------------------------------------------------------


def test_combine_into_an_applications_database_is_refused(tmp_path):
    shard = telemetry_db(tmp_path / "shard.db", [event(i) for i in range(3)])
    app = app_db(tmp_path / "app.db")
    before = app.read_bytes()
    line = one_line_error(dev_system("combine", str(shard), "--into", str(app), cwd=tmp_path))
    assert "app.db is not a telemetry database" in line and "users" in line
    untouched(app, before)
    note_fault("someone else's database as the output of combine")


RECORDS_INTO = """
    import json, logging, sys
    from dev_system.ops.telemetry import configure, flush, stats, telemetry_decorator
    configure(enabled=True, db_path={db!r}, sync={sync})

    @telemetry_decorator(agent_name="app")
    def call(i):
        return i * 2

    results = [call(i) for i in range(20)]
    flush()
    print(json.dumps({{"results": results, "dropped": stats()["dropped"], "stored": stats()["stored"]}}))
"""


@pytest.mark.parametrize("sync", [False, True], ids=["buffered", "sync"])
def test_the_recorder_never_writes_to_an_applications_database(tmp_path, sync):
    app = app_db(tmp_path / "app.db")
    before = app.read_bytes()
    code = textwrap.dedent(RECORDS_INTO.format(db=str(app), sync=sync))
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                          env=child_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out["results"] == [i * 2 for i in range(20)]
    assert out == {"results": out["results"], "dropped": 20, "stored": 0}
    problems = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(problems) == 1 and "app.db is not a telemetry database" in problems[0], done.stderr
    untouched(app, before)
    note_fault("someone else's database given to the recorder", recorded=20, stored=0, dropped=20)


def test_pytest_refuses_an_applications_database_as_telemetry_db(tmp_path):
    app = app_db(tmp_path / "app.db")
    before = app.read_bytes()
    (tmp_path / "test_app.py").write_text("def test_one():\n    assert True\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--telemetry",
                           "--telemetry-db", str(app), "test_app.py"], cwd=tmp_path, env=child_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 4, (done.stdout[-2000:], done.stderr[-2000:])
    assert "Traceback" not in done.stderr + done.stdout
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("ERROR: telemetry: "), done.stderr
    assert "app.db is not a telemetry database" in errors[0]
    untouched(app, before)
    note_fault("someone else's database given to pytest --telemetry-db")


READERS = [
    ["metrics"], ["events"], ["events", "--failed"], ["trace", "T1"], ["export"], ["export", "--format", "csv"],
    ["runs"], ["compare", "latest", "previous"], ["report", "--html", "out.html"],
    ["prune", "--older-than", "1d"], ["prune", "--older-than", "1d", "--dry-run"],
]


@pytest.mark.parametrize("argv", READERS, ids=" ".join)
def test_every_command_refuses_an_applications_database_in_one_line(tmp_path, argv):
    app = app_db(tmp_path / "app.db")
    before = app.read_bytes()
    line = one_line_error(dev_system(*argv, "--db", str(app), cwd=tmp_path))
    assert "not a telemetry database" in line
    untouched(app, before)
    assert not (tmp_path / "out.html").exists()
    note_fault("someone else's database given to a reading command")


# --- a view where a table belongs -------------------------------------------------------------------

_EVENT_COLUMNS = ("id, timestamp, event_type, agent_name, function_name, input_tokens, output_tokens, latency_ms,"
                  " cost_usd, success, error_type, trace_id, metadata, created_at")
ENDLESS_EVENTS = (f"CREATE VIEW telemetry_events AS WITH RECURSIVE r({_EVENT_COLUMNS}) AS ("
                  "SELECT 1, 1.0, 'x', 'a', 'f', 0, 0, 1.0, 0.0, 1, NULL, NULL, NULL, NULL UNION ALL "
                  f"SELECT id + 1, timestamp, event_type, agent_name, function_name, input_tokens, output_tokens, "
                  "latency_ms, cost_usd, success, error_type, trace_id, metadata, created_at FROM r) SELECT * FROM r")
ENDLESS_RUNS = ("CREATE VIEW runs AS WITH RECURSIVE r(run_id, started_at, status) AS (SELECT 'r', 1.0, 'passed' "
                "UNION ALL SELECT run_id, started_at + 1, status FROM r) SELECT * FROM r")


def view_shard(path: Path, which: str) -> Path:
    if which == "telemetry_events":
        conn = sqlite3.connect(path)
        conn.execute(ENDLESS_EVENTS)
    else:
        telemetry_db(path, [event(i) for i in range(2)])
        conn = sqlite3.connect(path)
        conn.execute("DROP TABLE runs")
        conn.execute(ENDLESS_RUNS)
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize("which", ["telemetry_events", "runs"])
def test_a_recursive_view_in_a_shard_is_refused_not_run(tmp_path, which):
    good = telemetry_db(tmp_path / "good.db", [event(i) for i in range(3)])
    bad = view_shard(tmp_path / "bad.db", which)
    line = one_line_error(dev_system("combine", str(good), str(bad), "--into", str(tmp_path / "all.db"),
                                     cwd=tmp_path, timeout=120))
    assert "bad.db is not a telemetry database" in line and f"{which} is a view" in line
    assert not (tmp_path / "all.db").exists()  # every input is checked before the output is made
    for argv in (["events"], ["metrics"], ["runs"], ["trace", "T1"]):
        assert f"{which} is a view" in one_line_error(dev_system(*argv, "--db", str(bad), cwd=tmp_path, timeout=120))
    note_fault("a recursive view where a table belongs", count=5)


# --- JSON nested 100,000 deep -----------------------------------------------------------------------


def test_deep_json_in_run_parts_metadata_is_merged(tmp_path):
    for host in ("a", "b"):  # one run split across two jobs: its parts' metadata are compared
        run = Run("R1", time.time() - 100, time.time() - 50, "passed", "pytest", host=host, passed=1, failed=0,
                  skipped=0, errors=0, exit_status=0, metadata={"tests": 1})
        telemetry_db(tmp_path / f"{host}.db", [event(0, trace=host, run_id="R1")], [run])
    shard = tmp_path / "shard.db"
    answered(dev_system("combine", str(tmp_path / "a.db"), str(tmp_path / "b.db"), "--into", str(shard), cwd=tmp_path))
    with sqlite3.connect(shard) as conn:
        assert conn.execute("UPDATE run_parts SET metadata = ?", (DEEP,)).rowcount == 2
    out = answered(dev_system("combine", str(shard), "--into", str(tmp_path / "all.db"), cwd=tmp_path))
    assert "2 events, 1 run" in out
    runs = json.loads(answered(dev_system("runs", "--format", "json", "--db", str(tmp_path / "all.db"), cwd=tmp_path)))
    assert [(r["run_id"], r["passed"], r["metadata"]) for r in runs] == [("R1", 2, {"combined_parts": 2})]
    note_fault("JSON nested 100,000 deep in a shard's run parts")


@pytest.fixture
def deep_db(tmp_path) -> Path:
    """A database with a finished run whose metadata, and one failed event's, nest 100,000 deep."""
    runs = [Run(run_id, time.time() - 100 + i, time.time() - 50 + i, "failed", "pytest", host="h", passed=0,
                failed=1, skipped=0, errors=0, exit_status=1) for i, run_id in enumerate(("R0", "R1"))]
    path = telemetry_db(tmp_path / "deep.db", [event(0, run_id="R1", metadata=DEEP, success=False),
                                               event(1, run_id="R1", metadata='{"args": {"i": 1}}'),
                                               event(2, run_id="R0", metadata=DEEP, success=False)], runs)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE runs SET metadata = ?", (DEEP,))
    return path


DEEP_READERS = [
    ["events"], ["events", "--failed"], ["events", "--format", "json"], ["trace", "T1"], ["trace", "T1", "--format", "json"],
    ["export"], ["export", "--format", "csv"], ["runs"], ["runs", "--format", "json"], ["metrics", "--period", "all"],
    ["compare", "R0", "R1"], ["report", "--html", "out.html"],
]


@pytest.mark.parametrize("argv", DEEP_READERS, ids=" ".join)
def test_every_command_reads_deep_json_without_a_traceback(deep_db, tmp_path, argv):
    out = answered(dev_system(*argv, "--db", str(deep_db), cwd=tmp_path))
    if "json" in argv or argv == ["export"]:
        assert NOT_READ in out and "nested more than" in out
    if argv[0] == "report":
        assert (tmp_path / "out.html").stat().st_size > 0
    note_fault("JSON nested 100,000 deep in an event's and a run's metadata")


# --- rows of tens of megabytes ----------------------------------------------------------------------

PEAK = """
    import resource, sys
    from dev_system.cli import main
    code = main(sys.argv[1:])
    sys.stderr.write(f"peak={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n")
    sys.exit(code)
"""


def peak_kb(argv: list[str], cwd: Path) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(PEAK), *argv], cwd=cwd, env=child_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    return int(done.stderr.rsplit("peak=", 1)[1]), done.stdout


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in kilobytes")
def test_huge_rows_are_read_in_bounded_memory(tmp_path):
    size = 48 * 1024 * 1024
    huge = json.dumps({"blob": "x" * size})
    small = telemetry_db(tmp_path / "small.db", [event(i) for i in range(3)])
    big = telemetry_db(tmp_path / "big.db", [event(0, metadata=huge), event(1, metadata=huge), event(2)])
    base, _ = peak_kb(["trace", "T1", "--format", "json", "--db", str(small)], tmp_path)
    peak, out = peak_kb(["trace", "T1", "--format", "json", "--db", str(big)], tmp_path)
    assert out.count(NOT_READ) == 2 and len(out) < 100_000
    # Two rows of 48 MB: at most one row's worth at a time inside SQLite, none of it in Python.
    assert (peak - base) * 1024 < 2 * size, (base, peak)
    note_fault("two rows of 48 MB read by trace", count=2)


# --- a database a run is still writing --------------------------------------------------------------

BLOCKED_TEST = """
    import os, pathlib, time

    def test_waits_for_the_merge():
        pathlib.Path("ready").write_text("")
        deadline = time.time() + 240
        while not pathlib.Path("go").exists() and time.time() < deadline:
            time.sleep(0.05)
"""


def run_row(db: Path, run_id: str) -> dict:
    """The run's row; ``{}`` while the run has not made its database yet."""
    with sqlite3.connect(db, timeout=30) as conn:
        conn.row_factory = sqlite3.Row
        try:
            row = conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            row = None
    return dict(row) if row is not None else {}


def start_blocked_run(tmp_path: Path, db: Path) -> subprocess.Popen:
    (tmp_path / "test_blocked.py").write_text(textwrap.dedent(BLOCKED_TEST))
    env = {**child_env(), "DEV_SYSTEM_RUN_ID": "live-run"}
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--telemetry",
                             "--telemetry-db", str(db), "test_blocked.py"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if (tmp_path / "ready").exists() and db.exists() and run_row(db, "live-run").get("status") == "running":
            return proc
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"the run did not start: {proc.communicate()[0][-2000:]}")


def finish_blocked_run(tmp_path: Path, proc: subprocess.Popen) -> None:
    (tmp_path / "go").write_text("")
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out[-3000:]


def finished(row: dict) -> bool:
    return row.get("status") == "passed" and row.get("ended_at") is not None and row.get("passed") == 1


def test_combine_into_a_database_a_run_is_still_writing(tmp_path):
    live = tmp_path / "live.db"
    other = telemetry_db(tmp_path / "other.db", [event(i, trace="other") for i in range(2)])
    proc = start_blocked_run(tmp_path, live)
    try:
        answered(dev_system("combine", str(other), "--into", str(live), cwd=tmp_path))
        assert run_row(live, "live-run")["status"] == "running"
    finally:
        finish_blocked_run(tmp_path, proc)
    assert finished(run_row(live, "live-run"))
    # Merged elsewhere, and merged into again: the run is the finished run, not the snapshot kept
    # while it was running.
    answered(dev_system("combine", str(live), "--into", str(tmp_path / "all.db"), cwd=tmp_path))
    assert finished(run_row(tmp_path / "all.db", "live-run")), run_row(tmp_path / "all.db", "live-run")
    again = telemetry_db(tmp_path / "again.db", [event(i, trace="again") for i in range(2)])
    answered(dev_system("combine", str(again), "--into", str(live), cwd=tmp_path))
    with sqlite3.connect(live) as conn:
        parts = conn.execute("SELECT status, ended_at IS NOT NULL FROM run_parts WHERE run_id = 'live-run'").fetchall()
    assert parts == [("passed", 1)]
    assert finished(run_row(live, "live-run"))
    note_fault("combine into a database a run is still writing")


def test_combine_of_a_database_whose_run_is_still_running(tmp_path):
    live = tmp_path / "live.db"
    merged = tmp_path / "all.db"
    proc = start_blocked_run(tmp_path, live)
    try:
        answered(dev_system("combine", str(live), "--into", str(merged), cwd=tmp_path))
        assert run_row(merged, "live-run")["status"] == "running"  # merged as it is: still running
        stale = tmp_path / "stale.db"
        answered(dev_system("combine", str(live), "--into", str(stale), cwd=tmp_path))  # a copy taken now
    finally:
        finish_blocked_run(tmp_path, proc)
    answered(dev_system("combine", str(live), "--into", str(merged), cwd=tmp_path))
    assert finished(run_row(merged, "live-run"))
    answered(dev_system("combine", str(stale), "--into", str(merged), cwd=tmp_path))  # older: changes nothing
    assert finished(run_row(merged, "live-run"))
    answered(dev_system("combine", str(stale), str(live), "--into", str(tmp_path / "fresh.db"), cwd=tmp_path))
    assert finished(run_row(tmp_path / "fresh.db", "live-run"))
    note_fault("combine of a database whose run is still running", count=2)
