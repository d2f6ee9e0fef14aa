"""Run names (a full id, ``latest``, ``latest~N``, a unique prefix) in every command that takes a
run, and ``trace`` of a test recorded by several runs: the real ``dev-system`` in a subprocess,
on a real SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dev_system.store import db as store
from dev_system.store.runs import Run, TestResult, finish_run, write_test_results
from fakes.eventgen import event, write_events

NOW = time.time()
NODEID = "tests/test_agent.py::test_answer"
#: Three runs, oldest first; the first two share the prefix "20261205-1" with nothing else.
RUNS = ("20261205-100000-aaaa1111", "20261205-110000-aaaa2222", "20261205-230000-bbbb3333")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEV_SYSTEM_")}
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run([sys.executable, "-m", "dev_system", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Run i (0, 1, 2) recorded i + 1 calls of test NODEID, each a root call of the test's trace;
    one more run id is carried by events only (no run record)."""
    path = tmp_path / "t.db"
    events = []
    for i, run_id in enumerate(RUNS):
        started = NOW - 3600 * (3 - i)
        events += [event(started + k, run_id=run_id, trace_id=NODEID, function_name=f"call{i}",
                         span_id=f"{run_id}-{k}", success=i != 2) for k in range(i + 1)]
    events.append(event(NOW - 7200, run_id="orphan-run-1", trace_id="other"))
    write_events(path, events)
    conn = store.connect(path)
    try:
        for i, run_id in enumerate(RUNS):
            started = NOW - 3600 * (3 - i)
            finish_run(conn, Run(run_id, started, started + 60, "passed", passed=1, exit_status=0))
            write_test_results(conn, run_id, [TestResult(NODEID, "passed", 0.1, i + 1)])
        conn.commit()
    finally:
        conn.close()
    return path


def metrics_events(db: Path, name: str) -> tuple[int, dict]:
    done = run("metrics", "--db", str(db), "--period", "all", "--run", name, "--format", "json", cwd=db.parent)
    return done.returncode, json.loads(done.stdout) if done.returncode == 0 else {"stderr": done.stderr}


@pytest.mark.parametrize(("name", "expected_run", "events"), [
    (RUNS[2], RUNS[2], 3),
    ("latest", RUNS[2], 3),
    ("latest~1", RUNS[1], 2),
    ("latest~2", RUNS[0], 1),
    ("previous", RUNS[1], 2),
    ("20261205-2", RUNS[2], 3),          # a unique prefix
    ("20261205-100000", RUNS[0], 1),
    ("orphan-run-1", "orphan-run-1", 1),  # an id only events carry
])
def test_metrics_run_accepts_every_run_name(db: Path, name: str, expected_run: str, events: int) -> None:
    status, report = metrics_events(db, name)
    assert status == 0, report
    assert report["filters"]["run_id"] == expected_run
    assert report["events"] == events


@pytest.mark.parametrize(("name", "message"), [
    ("nope", "no run 'nope'"),
    ("latest~7", "no run 'latest~7'"),
    ("20261205-1", "'20261205-1' names more than one run"),
])
@pytest.mark.parametrize("command", [
    ("metrics", "--period", "all", "--fail-on-alert"),
    ("events",),
    ("export",),
    ("export", "--format", "csv"),
    ("trace", NODEID),
    ("report", "--html", "out.html"),
    ("compare", "latest~1"),   # the name is NEW
    ("compare",),              # the name is BASE
])
def test_a_name_that_matches_no_run_or_several_is_a_usage_error(db: Path, command: tuple, name: str,
                                                                message: str) -> None:
    if command[0] == "compare":
        args = (*command, name) if len(command) == 2 else (*command, name, "latest")
    else:
        args = (*command, "--run", name)
    done = run(*args, "--db", str(db), cwd=db.parent)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dev-system: error: ") and message in lines[0], lines
    assert not (db.parent / "out.html").exists()


def test_latest_in_a_database_without_runs_is_a_usage_error(tmp_path: Path) -> None:
    path = write_events(tmp_path / "t.db", [event(NOW - 60)])
    done = run("metrics", "--db", str(path), "--run", "latest", "--period", "all", "--fail-on-alert", cwd=tmp_path)
    assert done.returncode == 2
    assert "No events in this period." not in done.stdout
    assert done.stderr.strip() == "dev-system: error: no run 'latest': the database holds 0 runs"


def test_events_export_and_report_resolve_the_name(db: Path) -> None:
    listed = run("events", "--db", str(db), "--run", "latest~1", "--format", "json", cwd=db.parent)
    assert listed.returncode == 0, listed.stderr
    assert {e["run_id"] for e in json.loads(listed.stdout)} == {RUNS[1]}

    exported = run("export", "--db", str(db), "--run", "20261205-2", cwd=db.parent)
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert len(rows) == 3 and {r["run_id"] for r in rows} == {RUNS[2]}

    page = db.parent / "r.html"
    report = run("report", "--db", str(db), "--html", str(page), "--run", "latest", cwd=db.parent)
    assert report.returncode == 0, report.stderr
    assert f"Run {RUNS[2]}" in report.stdout and "3 events" in report.stdout

    compared = run("compare", "--db", str(db), "20261205-100000", "20261205-2", "--format", "json", cwd=db.parent)
    assert compared.returncode == 0, compared.stderr
    document = json.loads(compared.stdout)
    assert (document["base_run"], document["new_run"]) == (RUNS[0], RUNS[2])


def test_trace_of_a_test_shows_its_latest_run_and_names_it(db: Path) -> None:
    done = run("trace", NODEID, "--db", str(db), cwd=db.parent)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"Trace {NODEID} (run {RUNS[2]}; 2 earlier runs have this trace: --run to choose)"
    assert sum(1 for line in lines if line.startswith("- agent.call2 ")) == 3
    assert "call0" not in done.stdout and "call1" not in done.stdout
    assert lines[-1].startswith("Total: 3 calls, 3 failed")


@pytest.mark.parametrize(("name", "expected"), [("latest~2", RUNS[0]), ("20261205-110000", RUNS[1])])
def test_trace_run_chooses_the_run(db: Path, name: str, expected: str) -> None:
    done = run("trace", NODEID, "--run", name, "--db", str(db), cwd=db.parent)
    assert done.returncode == 0, done.stderr
    index = RUNS.index(expected)
    assert done.stdout.splitlines()[0] == f"Trace {NODEID} (run {expected})"
    assert done.stdout.count(f"call{index}") == index + 1
    assert sum(1 for line in done.stdout.splitlines() if line.startswith("- ")) == index + 1

    as_json = run("trace", NODEID, "--run", name, "--format", "json", "--db", str(db), cwd=db.parent)
    assert as_json.returncode == 0, as_json.stderr
    assert {e["run_id"] for e in json.loads(as_json.stdout)} == {expected}


def test_trace_in_a_run_without_it_says_so(db: Path) -> None:
    done = run("trace", "other", "--run", "latest", "--db", str(db), cwd=db.parent)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip() == f"dev-system: no events with trace id 'other' in run {RUNS[2]} of {db}"


def test_a_trace_outside_any_run_is_shown_as_before(tmp_path: Path) -> None:
    path = write_events(tmp_path / "t.db", [event(NOW - 5, trace_id="t-1", span_id="a"),
                                            event(NOW - 4, trace_id="t-1", span_id="b", parent_span_id="a")])
    done = run("trace", "t-1", "--db", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "Trace t-1"
    assert done.stdout.count("- agent.fn") == 2


def test_report_baseline_reads_the_same_names(db: Path) -> None:
    page = db.parent / "r.html"
    bad = run("report", "--db", str(db), "--html", str(page), "--run", "latest", "--baseline", "nope", cwd=db.parent)
    assert bad.returncode == 2 and bad.stderr.strip() == "dev-system: error: no run 'nope' (see 'dev-system runs')"
    assert not page.exists()
    # latest as the baseline of latest: the newest run other than the one reported
    good = run("report", "--db", str(db), "--html", str(page), "--run", "latest", "--baseline", "latest",
               cwd=db.parent)
    assert good.returncode == 0, good.stderr
    assert RUNS[1] in page.read_text(encoding="utf-8")


def test_metrics_of_a_run_older_than_a_day_covers_the_whole_run(tmp_path: Path) -> None:
    """Without --period, ``metrics --run`` reads the whole run, however long ago it ran; an
    explicit --period still narrows it."""
    path = tmp_path / "old.db"
    run_id = "20261101-100000-cccc4444"
    started = NOW - 30 * 86400
    write_events(path, [event(started + k, run_id=run_id, trace_id=NODEID, span_id=f"old-{k}") for k in range(4)])
    conn = store.connect(path)
    try:
        finish_run(conn, Run(run_id, started, started + 60, "passed", passed=1, exit_status=0))
        conn.commit()
    finally:
        conn.close()
    whole = run("metrics", "--db", str(path), "--run", "latest", "--format", "json", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    assert json.loads(whole.stdout)["events"] == 4
    text = run("metrics", "--db", str(path), "--run", "latest", cwd=tmp_path)
    assert f"Run {run_id}" in text.stdout
    narrowed = run("metrics", "--db", str(path), "--run", "latest", "--period", "7d", "--format", "json", cwd=tmp_path)
    assert narrowed.returncode == 0 and json.loads(narrowed.stdout)["events"] == 0
