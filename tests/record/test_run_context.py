"""What a child process of a pytest run's test reads from the environment (record/run_context.py),
and the real clocks it measures with (record/clock.py)."""

from __future__ import annotations

import json
import time

from dev_system.record import clock
from dev_system.record.run_context import RUN_ENV, TEST_ENV, parent_run_context


def test_the_run_context_is_read_whole_or_not_at_all(tmp_path):
    run = json.dumps({"db": "/x/t.db", "run": "r1", "marks": str(tmp_path / "marks")})
    assert parent_run_context({RUN_ENV: run, TEST_ENV: "t.py::a"}) == {
        "db": "/x/t.db", "run": "r1", "marks": str(tmp_path / "marks"), "test": "t.py::a"}
    assert parent_run_context({RUN_ENV: run}) is None  # between tests
    assert parent_run_context({TEST_ENV: "t.py::a"}) is None
    assert parent_run_context({RUN_ENV: "{not json", TEST_ENV: "t.py::a"}) is None
    assert parent_run_context({RUN_ENV: json.dumps({"db": 1, "run": "r", "marks": "m"}), TEST_ENV: "a"}) is None
    assert parent_run_context({RUN_ENV: json.dumps(["db"]), TEST_ENV: "a"}) is None


def test_the_running_test_file_beats_the_environment_once_it_exists(tmp_path):
    """A forkserver's children inherit its environment, from the test that started it."""
    current = tmp_path / "current"
    run = json.dumps({"db": "/x/t.db", "run": "r1", "marks": "m", "current": str(current)})
    assert parent_run_context({RUN_ENV: run, TEST_ENV: "t.py::first"})["test"] == "t.py::first"
    current.write_text("t.py::second")
    assert parent_run_context({RUN_ENV: run, TEST_ENV: "t.py::first"})["test"] == "t.py::second"


def test_the_clocks_are_the_real_ones_whatever_the_time_module_holds(monkeypatch):
    monkeypatch.setattr(time, "perf_counter", lambda: 0.0)
    monkeypatch.setattr(time, "monotonic", lambda: 0.0)
    monkeypatch.setattr(time, "time", lambda: 0.0)
    assert clock.perf_counter() > 0 and clock.monotonic() > 0 and clock.wall_time() > 1.7e9
    assert all(type(fn).__name__ == "builtin_function_or_method" for fn in clock.REAL_CLOCKS)
