"""The pytest plugin in separate processes: pytest-xdist with two workers, and the cost of the
plugin when telemetry is off. These runs are slow; keep them few."""

from __future__ import annotations

import json
import sqlite3

import pytest

pytest.importorskip("xdist")

APP = '''
from dev_system.ops.telemetry import telemetry_decorator


@telemetry_decorator(agent_name="writer", event_type="model_call", cost_calculator=lambda result: 0.01)
def write(prompt):
    return prompt.upper()


@telemetry_decorator(agent_name="search", event_type="tool_call")
def search(query):
    return [query]
'''

TESTS = '''
import os, threading
import pytest
from agent_app import write, search

@pytest.mark.parametrize("n", range(6))
def test_many(n):
    for _ in range(n + 1):
        write(str(n))
    t = threading.Thread(target=search, args=(str(n),))
    t.start(); t.join()
    search("explicit", _trace_id=f"explicit-{n}")

def test_pid():
    search(str(os.getpid()))
'''


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(agent_app=APP, test_many=TESTS)
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    pytester.makeconftest("import sys, os\nsys.path.insert(0, os.path.dirname(__file__))\n")
    return pytester


def test_xdist_one_run_all_workers_summary_and_gate_once(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess(
        "-n", "2", "--telemetry", "--telemetry-db=t.db", "--telemetry-gate", "--telemetry-cost-usd-max=0.2",
        "--telemetry-json=report.json", "-p", "no:cacheprovider",
    )
    # 21 model calls at $0.01: the run's total crosses $0.20, the gate fails a passing run
    assert result.ret == 1
    out = result.stdout.str()
    assert out.count("- telemetry -") == 1
    assert out.count("FAIL telemetry gate: High cost: $0.21 (threshold $0.20)") == 1
    result.stdout.fnmatch_lines(["Events: 34 from 7 of 7 tests", "=* 7 passed in *"])
    db = project.path / "t.db"
    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT run_id, status, exit_status, passed, metadata FROM runs").fetchall()
        assert len(runs) == 1
        run_id, status, exit_status, passed, metadata = runs[0]
        assert (status, exit_status, passed) == ("failed", 1, 7)
        assert json.loads(metadata)["workers"] == 2
        # every event of every worker carries the one run id, and its test's node id
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT run_id) FROM telemetry_events").fetchone() == (34, 1)
        assert conn.execute("SELECT DISTINCT run_id FROM telemetry_events").fetchone()[0] == run_id
        by_trace = dict(conn.execute("SELECT trace_id, COUNT(*) FROM telemetry_events GROUP BY trace_id"))
        pids = {row[0] for row in conn.execute(
            "SELECT json_extract(metadata, '$.args.query') FROM telemetry_events WHERE function_name = 'search'"
            " AND trace_id = 'test_many.py::test_pid'")}
        results = dict(conn.execute("SELECT nodeid, events FROM test_results WHERE run_id = ?", (run_id,)))
    for n in range(6):
        assert by_trace[f"test_many.py::test_many[{n}]"] == n + 2  # its writes and its thread's search
        assert by_trace[f"explicit-{n}"] == 1
        assert results[f"test_many.py::test_many[{n}]"] == n + 3
    assert by_trace["test_many.py::test_pid"] == 1 and len(pids) == 1
    report = json.loads((project.path / "report.json").read_text())
    assert report["workers"] == 2 and report["crashed_workers"] == {}
    assert report["summary"]["events"] == 34 and report["exit_status"] == 1


def test_xdist_crashed_worker_is_reported(project: pytest.Pytester) -> None:
    project.makepyfile(test_crash='''
import os
from agent_app import write

def test_crash():
    write("before the crash")
    os._exit(3)
''')
    result = project.runpytest_subprocess("-n", "2", "--telemetry", "--telemetry-db=t.db", "test_crash.py",
                                          "test_many.py::test_pid")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["worker gw* crashed (*); the events it had not stored are lost"])
    with sqlite3.connect(project.path / "t.db") as conn:
        status, metadata = conn.execute("SELECT status, metadata FROM runs").fetchone()
        outcomes = dict(conn.execute("SELECT nodeid, outcome FROM test_results"))
    assert status == "failed" and json.loads(metadata)["crashed_workers"]
    assert outcomes == {"test_crash.py::test_crash": "failed", "test_many.py::test_pid": "passed"}


def test_inert_without_telemetry(pytester: pytest.Pytester) -> None:
    """Without --telemetry the plugin imports none of the library, opens no database, prints nothing."""
    pytester.makeconftest('''
import sys
def pytest_unconfigure(config):
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dev_system", "sqlite3", "_sqlite3",
                    "tabulate", "genai_prices"))
    print("LOADED", loaded)
''')
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-s", "-p", "no:xdist", "-W", "error")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["LOADED ?]"])
    out = result.stdout.str()
    assert "telemetry:" not in out and "- telemetry -" not in out
    assert not list(pytester.path.rglob("*.db"))
