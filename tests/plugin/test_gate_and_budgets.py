"""Budgets and the baseline of a comparison are never weakened or skipped by what else was asked
for: real pytest runs (pytester, in-process) on real SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

APP = '''
from dev_system.ops.telemetry import telemetry_decorator


@telemetry_decorator(agent_name="writer", event_type="model_call", cost_calculator=lambda result: 0.01)
def write(prompt):
    return prompt.upper()
'''

OVER_BUDGET = '''
import pytest
from agent_app import write

@pytest.mark.telemetry_budget(max_calls=2)
def test_over_budget():
    write("a"); write("b"); write("c")

def test_plain():
    write("d")
'''

TESTS = '''
from agent_app import write

def test_one():
    write("a")

def test_two():
    write("b"); write("c")
'''


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("DEV_SYSTEM_TELEMETRY", "DEV_SYSTEM_RUN_ID", "DEV_SYSTEM_DB_PATH"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(agent_app=APP)
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    pytester.syspathinsert()
    return pytester


def run_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT run_id FROM runs ORDER BY started_at, run_id")]


# -- item: DEV_SYSTEM_TELEMETRY=0 with --telemetry keeps the budgets --------------------------------

@pytest.mark.parametrize("args", [(), ("--telemetry",), ("--telemetry", "--telemetry-gate", "--telemetry-db=t.db")])
def test_a_budget_fails_its_test_when_the_variable_switches_telemetry_off(
        project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]) -> None:
    monkeypatch.setenv("DEV_SYSTEM_TELEMETRY", "0")
    project.makepyfile(test_budget=OVER_BUDGET)
    result = project.runpytest(*args)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*telemetry budget exceeded: calls 3 > max_calls 2 (over by 1)*"])
    assert not (project.path / "t.db").exists()


def test_the_header_says_what_is_in_force_when_switched_off(project: pytest.Pytester,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEV_SYSTEM_TELEMETRY", "0")
    project.makepyfile(test_budget=OVER_BUDGET)
    result = project.runpytest("--telemetry", "--telemetry-gate")
    result.stdout.fnmatch_lines([
        "telemetry: off (DEV_SYSTEM_TELEMETRY=0 beats --telemetry)",
        "telemetry: nothing is recorded or stored, no summary, no gate; telemetry_budget markers are still checked",
    ])


def test_a_budget_fails_its_test_in_xdist_workers_when_switched_off(project: pytest.Pytester,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("xdist")
    monkeypatch.setenv("DEV_SYSTEM_TELEMETRY", "0")
    project.makepyfile(test_budget=OVER_BUDGET)
    result = project.runpytest_subprocess("--telemetry", "-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*telemetry budget exceeded: calls 3 > max_calls 2*"])


# -- item: --telemetry-compare=RUN reads run names like the CLI; a bad one is a usage error ----------

@pytest.mark.parametrize("name", ["nope", "latest~5"])
def test_a_compare_name_that_matches_no_run_is_a_usage_error(project: pytest.Pytester, name: str) -> None:
    project.makepyfile(test_app=TESTS)
    first = project.runpytest("--telemetry", "--telemetry-db=t.db")
    assert first.ret == 0
    result = project.runpytest("--telemetry", "--telemetry-db=t.db", f"--telemetry-compare={name}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith(f"ERROR: telemetry: --telemetry-compare={name}: no run"), errors
    assert len(run_ids(project.path / "t.db")) == 1  # the run did not happen


def test_a_compare_name_that_matches_several_runs_is_a_usage_error(project: pytest.Pytester,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    project.makepyfile(test_app=TESTS)
    for run_id in ("ci-20261205-a", "ci-20261205-b"):
        monkeypatch.setenv("DEV_SYSTEM_RUN_ID", run_id)
        assert project.runpytest("--telemetry", "--telemetry-db=t.db").ret == 0
    monkeypatch.delenv("DEV_SYSTEM_RUN_ID")
    result = project.runpytest("--telemetry", "--telemetry-db=t.db", "--telemetry-compare=ci-2026",
                               "--telemetry-compare-fail=calls:0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: telemetry: --telemetry-compare=ci-2026: 'ci-2026' names more than one run*"])


def test_a_compare_name_without_a_database_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile(test_app=TESTS)
    result = project.runpytest("--telemetry", "--telemetry-db=t.db", "--telemetry-compare=latest")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: telemetry: --telemetry-compare=latest: *"])


@pytest.mark.parametrize("name", ["latest", "latest~1", "previous", "PREFIX", "FULL"])
def test_compare_reads_every_run_name_before_the_run(project: pytest.Pytester, name: str) -> None:
    project.makepyfile(test_app=TESTS)
    for _ in range(2):
        assert project.runpytest("--telemetry", "--telemetry-db=t.db").ret == 0
    older, newer = run_ids(project.path / "t.db")
    # latest is the newest run before this one; latest~1 the one before it
    expected = {"latest": newer, "latest~1": older, "previous": older, "PREFIX": newer, "FULL": older}[name]
    name = {"PREFIX": newer[: len(newer) - 4], "FULL": older}.get(name, name)
    result = project.runpytest("--telemetry", "--telemetry-db=t.db", f"--telemetry-compare={name}")
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines([f"*Compared with run {expected}*"])
    assert "--telemetry-compare:" not in result.stdout.str()


def test_latest_is_never_the_run_itself_when_shards_share_it(project: pytest.Pytester,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """CI shards share one run (DEV_SYSTEM_RUN_ID): the second shard finds the run stored by the
    first, and ``latest`` still means the newest other run."""
    project.makepyfile(test_app=TESTS)
    monkeypatch.setenv("DEV_SYSTEM_RUN_ID", "ci-run-0")
    assert project.runpytest("--telemetry", "--telemetry-db=t.db").ret == 0
    monkeypatch.setenv("DEV_SYSTEM_RUN_ID", "ci-run-1")
    for shard in ("test_app.py::test_one", "test_app.py::test_two"):
        result = project.runpytest("--telemetry", "--telemetry-db=t.db", "--telemetry-compare=latest", shard)
        assert result.ret == 0, result.stderr.str()
        result.stdout.fnmatch_lines(["*Compared with run ci-run-0*"])
