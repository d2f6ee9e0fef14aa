"""``dev-system prune`` (dev_system.store.prune): what it removes with the events, what a dry run
leaves alone, the space it gives back, and that a pruned run is never a baseline. Real SQLite
files, the real command in a subprocess, real pytest runs through pytester."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dev_system.analysis.compare import find_baseline
from dev_system.cli import main as cli_main
from dev_system.store import db as store
from dev_system.store import runs
from dev_system.store.prune import prune
from dev_system.store.schema import EVENTS_TABLE
from fakes.eventgen import event, write_events

NOW = time.time()
DAY = 86400.0
OLD = NOW - 200 * DAY
TESTS = {"t::a": 2, "t::b": 1}


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEV_SYSTEM_")}
    return subprocess.run([sys.executable, "-m", "dev_system", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


def add_run(db: Path, run_id: str, started: float, tests: dict[str, int] = TESTS, *,
            event_times: list[float] | None = None) -> None:
    """A passed run whose tests made ``tests[nodeid]`` calls, stamped from ``started`` on (or at
    ``event_times``, in order)."""
    events, results = [], []
    times = iter(event_times or [started + i for i in range(sum(tests.values()))])
    for nodeid, calls in tests.items():
        events += [event(next(times), trace_id=nodeid, run_id=run_id) for _ in range(calls)]
        results.append(runs.TestResult(nodeid, "passed", 0.1, calls, 10 * calls, 20 * calls, 0.01 * calls, 0, 100.0))
    write_events(db, events)
    conn = store.connect(db)
    try:
        runs.finish_run(conn, runs.Run(run_id, started, started + 60, "passed", "pytest", "abc", "main", "host",
                                       len(tests), 0, 0, 0, 0, {"tests": len(tests)}))
        runs.write_test_results(conn, run_id, results)
    finally:
        conn.close()


def stored(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_prune_removes_the_runs_and_test_results_it_empties(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    add_run(db, "20260101-000000-old00001", OLD)
    add_run(db, "20261201-000000-new00002", NOW - 60)
    result = run_cli("prune", "--db", str(db), "--older-than", "90d", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Removed 3 events older than 90 days")
    assert "1 run and 2 test results" in result.stdout
    assert stored(db, "SELECT run_id FROM runs") == [("20261201-000000-new00002",)]
    assert stored(db, "SELECT DISTINCT run_id FROM test_results") == [("20261201-000000-new00002",)]
    listed = json.loads(run_cli("runs", "--db", str(db), "--format", "json", cwd=tmp_path).stdout)
    assert [r["run_id"] for r in listed] == ["20261201-000000-new00002"]
    conn = store.connect(db, readonly=True)
    try:
        assert find_baseline(conn, "20261201-000000-new00002") is None
    finally:
        conn.close()


def test_a_run_that_lost_some_events_is_marked_and_is_no_baseline(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    # a run across the cut-off: one call before it, two after
    add_run(db, "20260101-000000-half0001", NOW - 100 * DAY, event_times=[NOW - 100 * DAY, NOW - 80 * DAY, NOW - 80 * DAY])
    add_run(db, "20261201-000000-new00002", NOW - 60)
    conn = store.connect(db)
    try:
        result = prune(conn, NOW - 90 * DAY)
    finally:
        conn.close()
    assert (result.events, result.runs, result.test_results, result.runs_marked) == (1, 0, 0, 1)
    conn = store.connect(db, readonly=True)
    try:
        half = runs.get_run(conn, "20260101-000000-half0001")
        assert half is not None and half.metadata["pruned_events"] == 1
        assert find_baseline(conn, "20261201-000000-new00002") is None
    finally:
        conn.close()


def test_a_run_emptied_by_hand_or_by_an_older_prune_is_no_baseline(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    add_run(db, "20260101-000000-gone0001", NOW - 3600)
    add_run(db, "20260101-000000-kept0002", NOW - 1800)
    add_run(db, "20261201-000000-new00003", NOW - 60)
    raw = sqlite3.connect(db)
    raw.execute("DELETE FROM telemetry_events WHERE run_id = '20260101-000000-kept0002'")
    raw.commit()
    raw.close()
    conn = store.connect(db, readonly=True)
    try:
        # the newest earlier run of the same tests has no events left: the one before it is the baseline
        base = find_baseline(conn, "20261201-000000-new00003")
        assert base is not None and base.run_id == "20260101-000000-gone0001"
    finally:
        conn.close()


def test_dry_run_changes_nothing_on_a_version_0_database(tmp_path: Path) -> None:
    old = tmp_path / "old.db"  # the reference system's schema: the documented columns, no version
    raw = sqlite3.connect(old)
    raw.execute(EVENTS_TABLE)
    raw.executemany("INSERT INTO telemetry_events (timestamp, event_type, agent_name, function_name, latency_ms,"
                    " success) VALUES (?, 'model_call', 'old', 'f', 1.0, 1)", [(OLD,), (NOW,)])
    raw.commit()
    raw.close()
    before = old.read_bytes()
    files = sorted(p.name for p in tmp_path.iterdir())
    dry = run_cli("prune", "--db", str(old), "--older-than", "90d", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("Would remove 1 event older than 90 days")
    assert old.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == files  # no journal or WAL left behind
    done = run_cli("prune", "--db", str(old), "--older-than", "90d", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Removed 1 event older than 90 days")
    assert stored(old, "SELECT agent_name FROM telemetry_events") == [("old",)]


def test_dry_run_reports_what_prune_would_remove_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    add_run(db, "20260101-000000-old00001", OLD)
    add_run(db, "20261201-000000-new00002", NOW - 60)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = db.read_bytes()
    dry = run_cli("prune", "--db", str(db), "--older-than", "90d", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("Would remove 3 events older than 90 days")
    assert "1 run and 2 test results" in dry.stdout
    assert db.read_bytes() == before
    assert len(stored(db, "SELECT * FROM runs")) == 2


def test_prune_gives_the_space_back(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    padding = {"note": "x" * 2000}
    write_events(db, [event(OLD + i, metadata=padding) for i in range(2000)] + [event(NOW - 60)])
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = db.stat().st_size
    done = run_cli("prune", "--db", str(db), "--older-than", "90d", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Removed 2,000 events older than 90 days")
    assert "Reclaimed" in done.stdout
    assert db.stat().st_size < size / 10
    again = run_cli("prune", "--db", str(db), "--older-than", "90d", cwd=tmp_path)
    assert again.stdout.startswith("Removed 0 events") and "Reclaimed" not in again.stdout


def test_a_pruned_run_is_not_the_baseline_of_the_next_pytest_run(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    pytester.makepyfile(test_calls='''
from dev_system.ops.telemetry import telemetry_decorator

@telemetry_decorator(agent_name="writer", event_type="model_call", cost_calculator=lambda r: 0.01)
def write(prompt):
    return prompt

def test_a():
    write("x")
''')
    args = ["--telemetry", "--telemetry-db=t.db", "-p", "no:cacheprovider"]
    assert pytester.runpytest(*args).ret == 0
    db = pytester.path / "t.db"
    raw = sqlite3.connect(db)  # that run was 200 days ago
    raw.execute("UPDATE telemetry_events SET timestamp = timestamp - ?", (200 * DAY,))
    raw.execute("UPDATE runs SET started_at = started_at - ?, ended_at = ended_at - ?", (200 * DAY, 200 * DAY))
    raw.commit()
    raw.close()
    assert cli_main(["prune", "--db", str(db), "--older-than", "90d"]) == 0
    second = pytester.runpytest(*args, "--telemetry-compare")
    assert second.ret == 0
    second.stdout.fnmatch_lines(["Telemetry comparison: no earlier completed run of the same tests*"])
    second.stdout.no_fnmatch_line("*from zero*")
