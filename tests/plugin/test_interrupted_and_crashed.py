"""Runs that do not end normally: a test interrupted by Ctrl-C (a real SIGINT to a real pytest
process) is stored as interrupted, and an xdist worker that crashes keeps the events of the
tests it finished."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dev_system.render.runs import runs_table
from dev_system.store.runs import Run

APP = '''
from dev_system.ops.telemetry import telemetry_decorator


@telemetry_decorator(agent_name="writer", event_type="tool_call")
def write(prompt):
    return prompt.upper()
'''

#: A test that records one event, says it is running, then waits for Ctrl-C (in its call, or in
#: its fixture's setup).
INTERRUPTED = '''
import time
from pathlib import Path
import pytest
from agent_app import write


@pytest.fixture
def waits_in_setup():
    write("in setup")
    Path("running").write_text("setup")
    time.sleep(60)


def test_first():
    write("first")


def test_waits_in_call():
    write("in call")
    Path("running").write_text("call")
    time.sleep(60)


def test_waits_in_setup(waits_in_setup):
    pass


def test_never_reached():
    write("never")
'''


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(agent_app=APP)
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    pytester.makeconftest("import sys, os\nsys.path.insert(0, os.path.dirname(__file__))\n")
    return pytester


def ctrl_c(folder: Path, *test_ids: str) -> subprocess.CompletedProcess:
    """Run pytest on ``test_ids`` with telemetry, and press Ctrl-C (SIGINT) once a test says it is running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "--telemetry",
         "--telemetry-db=t.db", *test_ids], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not (folder / "running").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the test never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out)


def stored(db: Path) -> tuple[dict[str, str], tuple, dict]:
    with sqlite3.connect(db) as conn:
        outcomes = dict(conn.execute("SELECT nodeid, outcome FROM test_results"))
        *counts, metadata = conn.execute("SELECT status, passed, failed, skipped, errors, metadata FROM runs").fetchone()
        events = dict(conn.execute("SELECT trace_id, COUNT(*) FROM telemetry_events GROUP BY trace_id"))
    return outcomes, tuple(counts), {"metadata": json.loads(metadata or "{}"), "events": events}


def test_a_test_interrupted_in_its_call_is_stored_as_interrupted(project: pytest.Pytester) -> None:
    project.makepyfile(test_interrupted=INTERRUPTED)
    done = ctrl_c(project.path, "test_interrupted.py::test_first", "test_interrupted.py::test_waits_in_call",
                  "test_interrupted.py::test_never_reached")
    assert done.returncode == 2, done.stdout
    assert "1 passed" in done.stdout  # pytest's own count: the interrupted test did not pass
    outcomes, counts, more = stored(project.path / "t.db")
    assert outcomes == {"test_interrupted.py::test_first": "passed",
                        "test_interrupted.py::test_waits_in_call": "interrupted"}
    assert counts == ("interrupted", 1, 0, 0, 0)
    assert more["metadata"]["interrupted_tests"] == 1
    # the events recorded before Ctrl-C are kept, under their tests
    assert more["events"] == {"test_interrupted.py::test_first": 1, "test_interrupted.py::test_waits_in_call": 1}


def test_a_test_interrupted_in_its_setup_is_stored_as_interrupted(project: pytest.Pytester) -> None:
    project.makepyfile(test_interrupted=INTERRUPTED)
    done = ctrl_c(project.path, "test_interrupted.py::test_waits_in_setup")
    assert done.returncode == 2, done.stdout
    assert "no tests ran" in done.stdout
    outcomes, counts, more = stored(project.path / "t.db")
    assert outcomes == {"test_interrupted.py::test_waits_in_setup": "interrupted"}
    assert counts == ("interrupted", 0, 0, 0, 0)
    assert more["events"] == {"test_interrupted.py::test_waits_in_setup": 1}


def test_the_runs_table_counts_interrupted_tests() -> None:
    run = Run(run_id="r1", started_at=time.time(), ended_at=time.time() + 1, status="interrupted", passed=0,
              failed=0, skipped=0, errors=0, exit_status=2, metadata={"interrupted_tests": 1})
    table = runs_table([run], {})
    assert "0 passed, 1 interrupted" in table


def test_setup_only_is_not_an_interruption(project: pytest.Pytester) -> None:
    project.makepyfile(test_plain="def test_one():\n    pass\n")
    result = project.runpytest("--telemetry", "--telemetry-db=t.db", "--setup-only", "-p", "no:cacheprovider")
    assert result.ret == 0
    outcomes, counts, _ = stored(project.path / "t.db")
    assert outcomes == {"test_plain.py::test_one": "passed"} and counts[0] == "passed"


# -- a crashed xdist worker ---------------------------------------------------------------------

CRASH = '''
import os
from agent_app import write


def test_1_finished():
    write("one")
    write("two")


def test_2_finished():
    write("three")


def test_3_crashes():
    write("lost with the worker")
    os.{how}
'''


@pytest.mark.parametrize("how", ["_exit(3)", "kill(os.getpid(), 9)", "abort()"], ids=["exit", "sigkill", "abort"])
def test_a_crashed_worker_keeps_the_events_of_the_tests_it_finished(project: pytest.Pytester, how: str) -> None:
    pytest.importorskip("xdist")
    project.makepyfile(test_crash=CRASH.replace("{how}", how))
    result = project.runpytest_subprocess("-n", "1", "--max-worker-restart=0", "--telemetry", "--telemetry-db=t.db",
                                          "-p", "no:cacheprovider", "test_crash.py")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["worker gw0 crashed (*)*"])
    with sqlite3.connect(project.path / "t.db") as conn:
        events = dict(conn.execute("SELECT trace_id, COUNT(*) FROM telemetry_events GROUP BY trace_id"))
        outcomes = dict(conn.execute("SELECT nodeid, outcome FROM test_results"))
    assert events["test_crash.py::test_1_finished"] == 2
    assert events["test_crash.py::test_2_finished"] == 1
    assert outcomes["test_crash.py::test_3_crashes"] == "failed"
