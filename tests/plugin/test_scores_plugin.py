"""Scores in a pytest run: recorded through the ``telemetry`` fixture or ``score(...)`` in the code
a test runs, stored with the run and the test, visible to the test itself with or without
``--telemetry``; real pytest runs (pytester) on real SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

APP = '''
from dev_system.ops.telemetry import score, telemetry_decorator


@telemetry_decorator(agent_name="writer", event_type="model_call", cost_calculator=lambda result: 0.01)
def write(prompt):
    score("faithfulness", 0.5 if "bad" in prompt else 1.0)
    return prompt.upper()
'''

TESTS = '''
from agent_app import write

def test_one(telemetry):
    write("good")
    telemetry.score("correctness", 0.9)
    telemetry.score("correctness", 0.7, comment="second try")
    assert telemetry.score_means == {"faithfulness": 1.0, "correctness": 0.8}
    assert [s.name for s in telemetry.scores] == ["faithfulness", "correctness", "correctness"]

def test_two(telemetry):
    write("bad")
    telemetry.score("correctness", 0.5)

def test_none():
    write("good")
'''


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("DEV_SYSTEM_TELEMETRY", "DEV_SYSTEM_RUN_ID", "DEV_SYSTEM_DB_PATH"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(agent_app=APP)
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    pytester.syspathinsert()
    return pytester


def score_rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT s.run_id = r.run_id, s.nodeid, s.trace_id, s.name, s.value, s.comment "
                            "FROM scores s LEFT JOIN runs r ON r.run_id = s.run_id ORDER BY s.id").fetchall()


def test_scores_are_stored_with_their_run_and_test(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest("--telemetry", "--telemetry-db=t.db")
    result.assert_outcomes(passed=3)
    rows = score_rows(project.path / "t.db")
    one, two, none = "test_app.py::test_one", "test_app.py::test_two", "test_app.py::test_none"
    assert rows == [
        (1, one, one, "faithfulness", 1.0, None),
        (1, one, one, "correctness", 0.9, None),
        (1, one, one, "correctness", 0.7, "second try"),
        (1, two, two, "faithfulness", 0.5, None),
        (1, two, two, "correctness", 0.5, None),
        (1, none, none, "faithfulness", 1.0, None),
    ]


def test_scores_work_for_the_test_without_telemetry(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest()
    result.assert_outcomes(passed=3)
    assert not (project.path / ".dev-system").exists()


@pytest.mark.parametrize("args", [(), ("--telemetry", "--telemetry-db=t.db")])
def test_bad_input_through_the_fixture_is_one_clear_error_at_the_call(project: pytest.Pytester,
                                                                       args: tuple[str, ...]) -> None:
    project.makepyfile(test_bad='''
import math

def test_nan(telemetry):
    telemetry.score("correctness", math.nan)

def test_name(telemetry):
    telemetry.score("not a name", 0.5)
''')
    result = project.runpytest(*args)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*telemetry.score(\"correctness\", math.nan)*",
        "E *ScoreError: score 'correctness': the value must be finite, not nan",
    ])
    result.stdout.fnmatch_lines(["E *ScoreError: a score name must be an identifier*'not a name'"])
    assert "scores.py" not in result.stdout.str()  # the traceback ends at the test's own line
