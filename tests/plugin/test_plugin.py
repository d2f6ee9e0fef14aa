"""The pytest plugin, through real pytest runs (pytester, in-process) on real SQLite files.

Subprocess and xdist runs are in test_plugin_xdist.py.
"""

from __future__ import annotations

import json
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dev_system.cli import main as cli_main
from fakes.fake_llm_server import llm, llm_server  # noqa: F401  (fixtures)

APP = '''
"""The application under test: an agent with a priced model call, an unpriced one and a tool."""
import time
from dev_system.ops.telemetry import telemetry_decorator


def price(result):
    return 0.01


@telemetry_decorator(agent_name="writer", event_type="model_call", cost_calculator=price)
def write(prompt):
    return prompt.upper()


@telemetry_decorator(agent_name="writer", event_type="model_call")
def unpriced(prompt):
    return prompt  # no usage in the result: the cost is unknown


@telemetry_decorator(agent_name="search", event_type="tool_call")
def search(query):
    if query == "boom":
        raise TimeoutError("slow backend")
    return [query]
'''


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project folder with the agent module importable and a pyproject marking its root."""
    pytester.makepyfile(agent_app=APP)
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    pytester.syspathinsert()
    return pytester


def query(db: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def last_run(db: Path) -> dict:
    cols = ("run_id", "started_at", "ended_at", "status", "command", "git_commit", "git_branch", "host",
            "passed", "failed", "skipped", "errors", "exit_status", "metadata")
    row = query(db, f"SELECT {', '.join(cols)} FROM runs ORDER BY started_at DESC LIMIT 1")[0]
    run = dict(zip(cols, row))
    run["metadata"] = json.loads(run["metadata"] or "{}")
    return run


def events_by_trace(db: Path, run_id: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for trace_id, function in query(db, "SELECT trace_id, function_name FROM telemetry_events WHERE run_id = ?"
                                        " ORDER BY id", run_id):
        out.setdefault(trace_id, []).append(function)
    return out


ATTRIBUTION_TESTS = '''
import asyncio, threading
import pytest
from agent_app import write, search, unpriced

@pytest.fixture
def warmed():
    search("setup")
    yield
    search("teardown")

def test_plain():
    write("a"); search("b")

def test_fixture_phases(warmed):
    write("call")

def test_thread():
    t = threading.Thread(target=search, args=("in thread",))
    t.start(); t.join()

def test_asyncio_tasks():
    async def main():
        await asyncio.gather(asyncio.to_thread(search, "worker"), asyncio.create_task(asyncio.sleep(0)))
        async def child():
            write("task")
        await asyncio.create_task(child())
    asyncio.run(main())

def test_explicit_trace_wins():
    search("x", _trace_id="chosen-trace")
    search("y")

def test_failing_call():
    with pytest.raises(TimeoutError):
        search("boom")
    unpriced("u")

def test_fails():
    write("z")
    assert False

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass
'''


def test_every_event_is_tagged_with_its_test_and_the_run_is_stored(project: pytest.Pytester) -> None:
    project.makepyfile(test_attr=ATTRIBUTION_TESTS)
    result = project.runpytest("--telemetry", "--telemetry-db=t.db", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6, failed=1, skipped=1)
    assert result.ret == 1
    db = project.path / "t.db"
    run = last_run(db)
    traces = events_by_trace(db, run["run_id"])
    prefix = "test_attr.py::"
    assert traces == {
        prefix + "test_plain": ["write", "search"],
        prefix + "test_fixture_phases": ["search", "write", "search"],  # setup, call, teardown
        prefix + "test_thread": ["search"],
        prefix + "test_asyncio_tasks": ["search", "write"],
        "chosen-trace": ["search"],
        prefix + "test_explicit_trace_wins": ["search"],
        prefix + "test_failing_call": ["search", "unpriced"],
        prefix + "test_fails": ["write"],
    }
    assert query(db, "SELECT COUNT(*) FROM telemetry_events WHERE run_id IS NOT ?", run["run_id"]) == [(0,)]
    assert run["status"] == "failed" and run["exit_status"] == 1
    assert (run["passed"], run["failed"], run["skipped"], run["errors"]) == (6, 1, 1, 0)
    assert run["command"].startswith("pytest --telemetry --telemetry-db=t.db -p no:cacheprovider")
    assert run["host"] and run["ended_at"] >= run["started_at"]
    results = {row[0]: row[1:] for row in query(
        db, "SELECT nodeid, outcome, events, cost_usd, unknown_cost FROM test_results WHERE run_id = ?",
        run["run_id"])}
    assert results[prefix + "test_plain"] == ("passed", 2, pytest.approx(0.01), 0)
    assert results[prefix + "test_fixture_phases"] == ("passed", 3, pytest.approx(0.01), 0)
    # the explicit trace's event was still recorded by this test
    assert results[prefix + "test_explicit_trace_wins"][:2] == ("passed", 2)
    assert results[prefix + "test_failing_call"] == ("passed", 2, 0.0, 1)
    assert results[prefix + "test_fails"][:2] == ("failed", 1)
    assert results[prefix + "test_skipped"][:2] == ("skipped", 0)


KEYED_TESTS = '''
import pytest
from agent_app import search, write


@pytest.mark.parametrize("key", ["sk-proj-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "sk-proj-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"])
def test_keyed(key):
    write("a")
    search("b")
'''


def test_a_test_id_holding_a_key_is_stored_redacted_and_still_matches_its_events(project: pytest.Pytester) -> None:
    """Two tests parametrized by keys: neither key is stored, they stay two tests (the redacted id
    ends with a digest of the original), and each test's events carry its stored id as trace id,
    so per-test figures and the HTML report's test-to-trace join still work."""
    project.makepyfile(test_keyed=KEYED_TESTS)
    result = project.runpytest("--telemetry", "--telemetry-db=t.db", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    db = project.path / "t.db"
    run = last_run(db)
    results = dict(query(db, "SELECT nodeid, events FROM test_results WHERE run_id = ?", run["run_id"]))
    traces = events_by_trace(db, run["run_id"])
    assert len(results) == 2 and set(traces) == set(results)
    assert all(events == 2 and "[REDACTED]" in nodeid and "sk-proj-" not in nodeid
               for nodeid, events in results.items())
    assert all(functions == ["write", "search"] for functions in traces.values())
    assert b"AAAAAAAAAAAAAAAA" not in (project.path / "t.db").read_bytes()
    assert "AAAAAAAAAAAAAAAA" not in result.stdout.str()


def test_git_commit_and_branch_are_stored(project: pytest.Pytester) -> None:
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(("git", *args), cwd=project.path, check=True, capture_output=True)

    git("init", "-q", "-b", "feature-x")
    git("-c", "user.email=a@b.c", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "one")
    project.makepyfile(test_one="from agent_app import write\ndef test_one():\n    write('a')\n")
    project.runpytest("--telemetry", "--telemetry-db=t.db").assert_outcomes(passed=1)
    run = last_run(project.path / "t.db")
    assert run["git_branch"] == "feature-x" and len(run["git_commit"]) == 40


SUMMARY_TESTS = '''
from agent_app import write, search, unpriced

def test_cheap():
    search("a")

def test_expensive():
    write("a"); write("b"); write("c")

def test_failing_calls():
    for _ in range(2):
        try:
            search("boom")
        except TimeoutError:
            pass
    unpriced("u")
'''


def test_summary_shows_the_figures_of_dev_system_metrics_for_this_run(project: pytest.Pytester,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    project.makepyfile(test_sum=SUMMARY_TESTS)
    result = project.runpytest("--telemetry", "--telemetry-db=t.db", "--telemetry-json=out/report.json")
    result.assert_outcomes(passed=3)
    assert result.ret == 0
    out = result.stdout.str()
    db = project.path / "t.db"
    run_id = last_run(db)["run_id"]
    # The same figures as the command, for this run only.
    capsys.readouterr()
    assert cli_main(["metrics", "--db", str(db), "--period", "all", "--run", run_id]) == 0
    cli = capsys.readouterr().out
    for label in ("Success Rate", "P95 Latency", "Total Cost", "Unknown Cost", "Top Agent", "Failed Calls"):
        line = next(line for line in cli.splitlines() if line.startswith(label + ":"))
        assert line in result.stdout.lines, line
    assert "Success Rate: 71.4%" in out and "Total Cost: $0.03" in out and "Failed Calls: 2" in out
    assert "  TimeoutError: 2" in out
    result.stdout.fnmatch_lines([
        "*- telemetry -*",
        f"run {run_id} -> *t.db",
        "Events: 7 from 3 of 3 tests",
        "agent *calls*success*cost*",
        "*",
        "writer * 4 *",
        "search * 3 *",
        "Most expensive tests (top 3):",
        "*$0.03 * 3 calls  test_sum.py::test_expensive",
        "*Slowest tests with telemetry*",
    ])
    # The JSON report: the run, the same summary document as `dev-system metrics --format json`, the tests.
    report = json.loads((project.path / "out" / "report.json").read_text())
    assert report["format"] == "pytest-devtelemetry-run/1" and report["run_id"] == run_id
    assert report["exit_status"] == 0 and report["run"]["status"] == "passed"
    capsys.readouterr()
    cli_main(["metrics", "--db", str(db), "--period", "all", "--run", run_id, "--format", "json"])
    metrics = json.loads(capsys.readouterr().out)
    for key in ("events", "success_rate", "latency_ms", "tokens", "failed_calls", "failures_by_error_type"):
        assert report["summary"][key] == metrics[key], key
    assert report["summary"]["cost_usd"]["total"] == metrics["cost_usd"]["total"]
    assert {t["nodeid"]: t["events"] for t in report["tests"]} == {
        "test_sum.py::test_cheap": 1, "test_sum.py::test_expensive": 3, "test_sum.py::test_failing_calls": 3}
    assert report["alerts"] and report["alerts"][0]["rule"] == "success_rate"


def test_quiet_shortens_and_verbose_lengthens_the_summary(project: pytest.Pytester) -> None:
    project.makepyfile(test_sum=SUMMARY_TESTS)
    quiet = project.runpytest("--telemetry", "--telemetry-db=t.db", "-q")
    assert "Most expensive tests" not in quiet.stdout.str()
    quiet.stdout.fnmatch_lines(["telemetry: 7 events, 71.4% success, p95 *, $0.03, 1 of unknown cost, 1 alert (run *)"])
    normal = project.runpytest("--telemetry", "--telemetry-db=t.db")
    verbose = project.runpytest("--telemetry", "--telemetry-db=t.db", "-v")
    assert "event_type " not in normal.stdout.str() and "P50 / P99 Latency" not in normal.stdout.str()
    verbose.stdout.fnmatch_lines(["P50 / P99 Latency: *", "event_type *calls*", "model *calls*"])
    assert len(quiet.outlines) < len(normal.outlines) < len(verbose.outlines)


def test_top_n_option(project: pytest.Pytester) -> None:
    project.makepyfile(test_sum=SUMMARY_TESTS)
    result = project.runpytest("--telemetry", "--telemetry-db=t.db", "--telemetry-top=1")
    result.stdout.fnmatch_lines(["Most expensive tests (top 1):", "*test_sum.py::test_expensive",
                                 "Slowest tests with telemetry (top 1):"])
    none = project.runpytest("--telemetry", "--telemetry-db=t.db", "--telemetry-top=0")
    assert "Most expensive" not in none.stdout.str()
    bad = project.runpytest("--telemetry", "--telemetry-top=many")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*invalid value 'many' for --telemetry-top (a whole number, 0 or more)*"])


COSTLY = '''
from agent_app import write

def test_costly():
    write("a"); write("b")
'''


@pytest.mark.parametrize(("failing", "gate", "expected"), [
    (False, False, 0),   # an alert without the gate changes nothing
    (False, True, 1),    # the gate fails a passing run
    (True, False, 1),
    (True, True, 1),     # and leaves a failing one failing
])
def test_gate_exit_status(project: pytest.Pytester, failing: bool, gate: bool, expected: int) -> None:
    project.makepyfile(test_gate=COSTLY + ("\ndef test_broken():\n    assert 0\n" if failing else ""))
    args = ["--telemetry", "--telemetry-db=t.db", "--telemetry-cost-usd-max=0.01"] + (["--telemetry-gate"] if gate else [])
    result = project.runpytest(*args)
    assert result.ret == expected
    out = result.stdout.str()
    assert "High cost: $0.02 (threshold $0.01)" in out
    if gate:
        result.stdout.fnmatch_lines(["FAIL telemetry gate: High cost: $0.02 (threshold $0.01)"])
    else:
        assert "FAIL telemetry" not in out
    # pytest's own summary line is intact: the tests' real outcomes
    result.stdout.fnmatch_lines(["=* 1 failed, 1 passed in *" if failing else "=* 1 passed in *"])
    run = last_run(project.path / "t.db")
    assert run["exit_status"] == expected and run["metadata"]["pytest_exit_status"] == (1 if failing else 0)


def test_gate_without_alerts_passes_and_ini_key_switches_it_on(project: pytest.Pytester) -> None:
    project.makepyfile(test_gate=COSTLY)
    project.makeini("[pytest]\ntelemetry = true\ntelemetry_gate = true\ntelemetry_db = t.db\n")
    assert project.runpytest().ret == 0
    project.makeini("[pytest]\ntelemetry = true\ntelemetry_gate = true\ntelemetry_db = t.db\n"
                    "telemetry_cost_usd_max = 0.01\n")
    result = project.runpytest()
    assert result.ret == 1
    result.stdout.fnmatch_lines(["FAIL telemetry gate: High cost*"])
    assert project.runpytest("--no-telemetry").ret == 0


def test_gate_never_hides_an_interruption_or_an_internal_error(project: pytest.Pytester) -> None:
    project.makepyfile(test_stop=COSTLY + "\ndef test_stop():\n    raise KeyboardInterrupt\n")
    args = ("--telemetry", "--telemetry-db=t.db", "--telemetry-gate", "--telemetry-cost-usd-max=0.01")
    recorder = project.inline_run(*args, no_reraise_ctrlc=True)
    assert recorder.ret == pytest.ExitCode.INTERRUPTED
    run = last_run(project.path / "t.db")
    assert run["status"] == "interrupted" and run["exit_status"] == 2
    # the events recorded before the interruption were flushed and stored with the run
    assert query(project.path / "t.db", "SELECT COUNT(*) FROM telemetry_events WHERE run_id = ?",
                 run["run_id"]) == [(2,)]
    project.makeconftest('''
from agent_app import write
def pytest_collection_modifyitems(items):
    write("a"); write("b")
    raise RuntimeError("broken plugin")
''')
    result = project.runpytest(*args)
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    assert last_run(project.path / "t.db")["status"] == "internal error"


def test_thresholds_from_pyproject_ini_and_options(project: pytest.Pytester) -> None:
    project.makepyfile(test_gate=COSTLY)
    project.makefile(".toml", pyproject="[tool.dev-system]\ndaily-cost-usd-max = 0.01\n")
    result = project.runpytest("--telemetry", "--telemetry-db=t.db")
    result.stdout.fnmatch_lines(["*High cost: $0.02 (threshold $0.01)"])
    project.makeini("[pytest]\ntelemetry_cost_usd_max = 0.5\n")  # the pytest ini beats pyproject
    assert "High cost" not in project.runpytest("--telemetry", "--telemetry-db=t.db").stdout.str()
    result = project.runpytest("--telemetry", "--telemetry-db=t.db", "--telemetry-cost-usd-max=0.019")
    result.stdout.fnmatch_lines(["*High cost: $0.020 (threshold $0.019)"])  # the option beats both
    project.makeini("[pytest]\n")
    off = project.runpytest("--telemetry", "--telemetry-db=t.db", "--telemetry-cost-usd-max=off", "--telemetry-gate")
    assert off.ret == 0 and "High cost" not in off.stdout.str()
    bad = project.runpytest("--telemetry", "--telemetry-cost-usd-max=cheap")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*telemetry: invalid value 'cheap' for --telemetry-cost-usd-max (*"])


def test_environment_switch_off_beats_the_option(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEV_SYSTEM_TELEMETRY", "0")
    project.makepyfile(test_gate=COSTLY)
    result = project.runpytest("--telemetry", "--telemetry-db=t.db")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["telemetry: off (DEV_SYSTEM_TELEMETRY=0 beats --telemetry)"])
    assert not (project.path / "t.db").exists()


BUDGETS = '''
import pytest
from agent_app import write, search

@pytest.mark.telemetry_budget(max_calls=2, max_cost_usd=0.015, max_tokens=1000)
def test_over_budget():
    write("a"); write("b"); search("c")

@pytest.mark.telemetry_budget(max_calls=3, max_cost_usd=0.05)
def test_within_budget():
    write("a"); search("c")

@pytest.mark.telemetry_budget(max_latency_ms=0.0)
def test_too_slow():
    search("a")

@pytest.mark.telemetry_budget(max_calls="two")
def test_bad_budget():
    pass

@pytest.fixture
def chatty():
    yield
    write("teardown 1"); write("teardown 2")

@pytest.mark.telemetry_budget(max_calls=1)
def test_over_in_teardown(chatty):
    pass
'''


@pytest.mark.parametrize("telemetry_on", [True, False])
def test_budgets_fail_the_test_naming_what_was_exceeded(project: pytest.Pytester, telemetry_on: bool) -> None:
    project.makepyfile(test_budget=BUDGETS)
    args = ["--telemetry", "--telemetry-db=t.db"] if telemetry_on else []
    result = project.runpytest(*args, "-rfE", "-W", "error::pytest.PytestUnknownMarkWarning")
    result.assert_outcomes(passed=2, failed=3, errors=1)  # test_over_in_teardown passes, then errors
    out = result.stdout.lines
    assert ("telemetry budget exceeded: cost $0.020 > max_cost_usd $0.015 (over by $0.0050);"
            " calls 3 > max_calls 2 (over by 1)") in out
    result.stdout.fnmatch_lines([
        "telemetry budget exceeded: slowest call *ms > max_latency_ms 0*ms (over by *ms)",
        "telemetry_budget: max_calls must be a number >= 0, not 'two'",
    ], consecutive=False)
    assert "telemetry budget exceeded: calls 2 > max_calls 1 (over by 1)" in out  # at teardown
    result.stdout.fnmatch_lines(["ERROR test_budget.py::test_over_in_teardown*"])
    assert (project.path / "t.db").exists() == telemetry_on
    assert not (project.path / ".dev-system").exists()


MODULE_BUDGET = '''
import pytest
from agent_app import write

pytestmark = pytest.mark.telemetry_budget(max_calls=1)

class TestSteps:
    def test_one_call(self):
        write("a")

    def test_two_calls(self):
        write("a"); write("b")
'''

NO_BUDGET = '''
def test_checker(request):
    print("BUDGET CHECKER", request.config.pluginmanager.has_plugin("devtelemetry-budgets"))
'''


@pytest.mark.parametrize("telemetry_on", [True, False])
def test_a_module_budget_holds_for_its_tests_and_no_budget_means_no_checker(
        project: pytest.Pytester, telemetry_on: bool) -> None:
    project.makepyfile(test_module_budget=MODULE_BUDGET, test_no_budget=NO_BUDGET)
    args = ["--telemetry", "--telemetry-db=t.db"] if telemetry_on else []
    result = project.runpytest(*args, "-s", "test_module_budget.py")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*telemetry budget exceeded: calls 2 > max_calls 1 (over by 1)*"])
    alone = project.runpytest(*args, "-s", "test_no_budget.py")
    alone.assert_outcomes(passed=1)
    alone.stdout.fnmatch_lines(["*BUDGET CHECKER False*"])


FIXTURE_TESTS = '''
import pytest
from agent_app import write, search, unpriced

@pytest.fixture
def primed():
    search("during setup")

def test_counts(telemetry):
    assert telemetry.calls == 0
    write("a"); write("b"); search("x"); unpriced("u")
    try:
        search("boom")
    except TimeoutError:
        pass
    assert telemetry.calls == 5
    assert telemetry.count(agent="writer", event_type="model_call") == 3
    assert telemetry.by_agent == {"writer": 3, "search": 2}
    assert telemetry.by_event_type == {"model_call": 3, "tool_call": 2}
    assert telemetry.by_error_type == {"TimeoutError": 1}
    assert telemetry.failures == 1 and telemetry.unknown_cost_calls == 1
    assert telemetry.total_cost_usd == pytest.approx(0.02)
    assert [e.function_name for e in telemetry.select(agent="writer")] == ["write", "write", "unpriced"]
    telemetry.clear()
    write("c")
    assert telemetry.calls == 1 and telemetry.total_cost_usd == pytest.approx(0.01)

def test_isolated_per_test(primed, telemetry):
    write("only me")
    names = [e.function_name for e in telemetry.events]
    # with --telemetry the capture began with the test's setup, so the fixture's call is there too
    assert names in (["write"], ["search", "write"])
    print("NAMES", names)
'''


def test_fixture_works_without_telemetry_and_without_a_database(project: pytest.Pytester) -> None:
    project.makepyfile(test_fixture=FIXTURE_TESTS)
    result = project.runpytest("-s")
    result.assert_outcomes(passed=2)
    assert "NAMES ['write']" in result.stdout.str()
    assert not list(project.path.rglob("*.db"))
    from dev_system.record.recorder import get_recorder

    assert not get_recorder().on  # switched back off after the test


def test_fixture_with_telemetry_sees_setup_events(project: pytest.Pytester) -> None:
    project.makepyfile(test_fixture=FIXTURE_TESTS)
    result = project.runpytest("-s", "--telemetry", "--telemetry-db=t.db")
    result.assert_outcomes(passed=2)
    assert "NAMES ['search', 'write']" in result.stdout.str()


def test_junit_xml_gets_the_figures_of_each_test(project: pytest.Pytester) -> None:
    project.makepyfile(test_sum=SUMMARY_TESTS)
    project.runpytest("--telemetry", "--telemetry-db=t.db", "--junitxml=junit.xml").assert_outcomes(passed=3)
    root = ET.parse(project.path / "junit.xml").getroot()
    props = {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
             for case in root.iter("testcase")}
    assert props["test_expensive"]["telemetry_calls"] == "3"
    assert float(props["test_expensive"]["telemetry_cost_usd"]) == pytest.approx(0.03)
    assert props["test_failing_calls"]["telemetry_failed_calls"] == "2"
    assert props["test_failing_calls"]["telemetry_unknown_cost_calls"] == "1"
    assert float(props["test_cheap"]["telemetry_max_latency_ms"]) >= 0


def test_compare_with_the_baseline_and_fail_on_regression(project: pytest.Pytester) -> None:
    db = project.path / "t.db"
    base = ["--telemetry", "--telemetry-db=t.db", "-p", "no:cacheprovider"]
    project.makepyfile(test_cmp="from agent_app import write\ndef test_a():\n    write('x')\ndef test_b():\n    pass\n")
    first = project.runpytest(*base, "--telemetry-compare")
    first.stdout.fnmatch_lines(["Telemetry comparison: no earlier completed run of the same tests*"])
    assert first.ret == 0
    first_id = last_run(db)["run_id"]
    # a run of other tests is no baseline for this set
    project.makepyfile(test_other="def test_c():\n    pass\n")
    project.runpytest(*base, "test_other.py")
    project.makepyfile(test_cmp="from agent_app import write\n"
                                "def test_a():\n    write('x'); write('y')\ndef test_b():\n    write('z')\n")
    second = project.runpytest(*base, "test_cmp.py", "--telemetry-compare-fail=cost:10%,p95:10000%")
    assert second.ret == 1
    second.stdout.fnmatch_lines([
        f"Compared with run {first_id}*",
        "  cost: $0.01 -> $0.03  +$0.02 (+200%)",
        "  calls: 1 -> 3  +2 (+200%)",
        "Tests that changed:",
        "*test_cmp.py::test_a *+$0.01 (+100%)*",
        f"FAIL telemetry compare: cost rose from $0.01 to $0.03 (+$0.02, +200.0%) against run {first_id} (limit +10%)",
    ])
    second.stdout.fnmatch_lines(["=* 2 passed in *"])
    second_id = last_run(db)["run_id"]
    # an explicit baseline, and a limit that holds
    third = project.runpytest(*base, "test_cmp.py", f"--telemetry-compare={second_id[:21]}",
                              "--telemetry-compare-fail=calls:0,cost:0.001")
    assert third.ret == 0
    third.stdout.fnmatch_lines([f"Compared with run {second_id}*", "  cost: $0.03 -> $0.03  =", "  calls: 3 -> 3  ="])
    swallowed = project.runpytest(*base, "--telemetry-compare", "test_cmp.py")
    assert swallowed.ret == pytest.ExitCode.USAGE_ERROR
    swallowed.stderr.fnmatch_lines(["*--telemetry-compare took 'test_cmp.py' as the run to compare with*"])
    bad = project.runpytest(*base, "--telemetry-compare-fail=speed:5%")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*unknown metric 'speed'*"])


def test_plugin_hooks_add_alerts_and_receive_the_report(project: pytest.Pytester) -> None:
    project.makeconftest('''
from dev_system.analysis.alerts import Alert
SEEN = []

def pytest_devtelemetry_alerts(config, summary, thresholds):
    if summary.events > 1:
        return [Alert("too_many_calls", f"Too many calls: {summary.events} (threshold 1)")]

def pytest_devtelemetry_summary(config, report):
    SEEN.append(report)
    print("\\nREPORT", report.run_id == config.pluginmanager.get_plugin("devtelemetry-run").run_id,
          [a.rule for a in report.alerts], report.failures, report.exit_status)
''')
    project.makepyfile(test_gate=COSTLY)
    result = project.runpytest("--telemetry", "--telemetry-db=t.db", "--telemetry-gate", "-s")
    assert result.ret == 1
    out = result.stdout.str()
    assert "REPORT True ['too_many_calls'] ['telemetry gate: Too many calls: 2 (threshold 1)'] 1" in out
    result.stdout.fnmatch_lines(["FAIL telemetry gate: Too many calls: 2 (threshold 1)"])


def test_a_broken_alert_hook_is_reported_and_fails_the_gate(project: pytest.Pytester) -> None:
    project.makeconftest("def pytest_devtelemetry_alerts(config, summary, thresholds):\n    raise KeyError('x')\n")
    project.makepyfile(test_gate=COSTLY)
    result = project.runpytest("--telemetry", "--telemetry-db=t.db", "--telemetry-gate")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["telemetry error: a pytest_devtelemetry_alerts hook failed: KeyError: 'x'",
                                 "FAIL telemetry gate: a pytest_devtelemetry_alerts hook failed*"])


def test_an_unusable_database_is_reported_not_raised(project: pytest.Pytester) -> None:
    (project.path / "not-a-db").write_text("this is not sqlite " * 100)
    project.makepyfile(test_gate=COSTLY)
    plain = project.runpytest("--telemetry", "--telemetry-db=not-a-db")
    assert plain.ret == 0
    plain.stdout.fnmatch_lines(["Dropped events: 2 (never stored)", "telemetry error: *not-a-db*"])
    gated = project.runpytest("--telemetry", "--telemetry-db=not-a-db", "--telemetry-gate")
    assert gated.ret == 1
    gated.stdout.fnmatch_lines(["FAIL telemetry gate: the run's telemetry could not be evaluated"])


def test_exitfirst_last_failed_and_warnings_as_errors(project: pytest.Pytester) -> None:
    project.makepyfile(test_x='''
from agent_app import write
def test_1():
    write("a")
def test_2():
    write("b"); assert 0
def test_3():
    write("c")
''')
    db = project.path / "t.db"
    args = ("--telemetry", "--telemetry-db=t.db", "-W", "error")
    first = project.runpytest(*args, "-x")
    first.assert_outcomes(passed=1, failed=1)
    run = last_run(db)
    assert (run["status"], run["passed"], run["failed"]) == ("failed", 1, 1)
    assert query(db, "SELECT COUNT(*) FROM test_results WHERE run_id = ?", run["run_id"]) == [(2,)]
    second = project.runpytest(*args, "--lf")
    second.assert_outcomes(failed=1)
    run = last_run(db)
    assert [r[0] for r in query(db, "SELECT nodeid FROM test_results WHERE run_id = ?", run["run_id"])] == [
        "test_x.py::test_2"]
    third = project.runpytest(*args, "-p", "no:cacheprovider", "-p", "no:xdist")
    third.assert_outcomes(passed=2, failed=1)
    assert "Warning" not in third.stdout.str()


def test_no_telemetry_means_no_database_and_no_summary(project: pytest.Pytester) -> None:
    project.makepyfile(test_gate=COSTLY)
    result = project.runpytest("-W", "error")
    result.assert_outcomes(passed=1)
    assert "- telemetry -" not in result.stdout.str() and "telemetry: run" not in result.stdout.str()
    assert not list(project.path.rglob("*.db"))


def test_instrument_option_records_sdk_calls_and_restores_the_sdk(project: pytest.Pytester, llm) -> None:
    pytest.importorskip("openai")
    # In a process of its own: an in-process run would drop the SDK's lazily imported modules
    # from sys.modules when it ends, and later tests of this process would meet two copies of
    # the HTTP library's exception classes. The project's own cleanup, which runs after the
    # plugin's, writes down what is still instrumented once the session has ended.
    project.makeconftest('''
import json

def pytest_configure(config):
    def after_the_plugin():
        from dev_system.record.instrument import instrumented
        with open("instrumented-after.json", "w") as out:
            json.dump(instrumented(), out)
    config.add_cleanup(after_the_plugin)
''')
    project.makepyfile(test_sdk=f'''
import openai
from dev_system.record.instrument import instrumented

def test_chat():
    assert instrumented() == ["openai"]
    client = openai.OpenAI(base_url="{llm.url}/v1", api_key="sk-test", max_retries=0, timeout=5.0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{{"role": "user", "content": "hi"}}])
    client.close()
''')
    result = project.runpytest_subprocess("--telemetry", "--telemetry-db=t.db", "--telemetry-instrument=openai")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["telemetry: instrumented openai"])
    rows = query(project.path / "t.db", "SELECT trace_id, event_type, input_tokens, output_tokens, model"
                                        " FROM telemetry_events")
    assert rows == [("test_sdk.py::test_chat", "model_call", 42, 7, "gpt-4o-mini")]
    assert json.loads((project.path / "instrumented-after.json").read_text()) == []  # restored at the end
    bad = project.runpytest("--telemetry", "--telemetry-instrument=cohere")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*invalid value 'cohere' for --telemetry-instrument (openai, anthropic, *"])
    from dev_system.record.recorder import get_recorder

    assert not get_recorder().on and get_recorder().store_sink is None  # the recorder is as it was


def test_a_separate_database_path_outside_the_project_is_warned_of(pytester: pytest.Pytester,
                                                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    """pytest takes ``--telemetry-db PATH``'s PATH for a test path when it chooses the rootdir and
    ini file: outside the folder pytest starts in, the project's ini file is then not read. The
    plugin says so; ``--telemetry-db=PATH`` is read as the option it is."""
    pytester.makeini("[pytest]\npython_functions = check_*\n")
    pytester.makepyfile(test_one="def check_one():\n    pass\n")
    db = tmp_path_factory.mktemp("elsewhere") / "t.db"

    joined = pytester.runpytest("--telemetry", f"--telemetry-db={db}")
    joined.assert_outcomes(passed=1)  # the ini file was read: check_* are tests
    assert "took" not in joined.stdout.str()
    assert db.exists()

    separate = pytester.runpytest("--telemetry", "--telemetry-db", str(db))
    separate.stdout.fnmatch_lines([f"*--telemetry-db {db}: pytest took {db} for a test path*write --telemetry-db={db}*"])
    separate.assert_outcomes()  # what pytest did: no ini file, so no check_* test collected

    inside = pytester.runpytest("--telemetry", "--telemetry-db", "local.db")
    inside.assert_outcomes(passed=1)
    inside = pytester.runpytest("--telemetry", "--telemetry-db", "local.db")  # now it exists: still harmless
    inside.assert_outcomes(passed=1)
    assert "took" not in inside.stdout.str()
