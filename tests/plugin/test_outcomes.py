"""A test's outcome and duration, folded from its reports at the end of the run.

The plugin reads the reports the terminal reporter keeps (a list per category, so a test's reports
are spread over several lists), or its own list under ``-p no:terminal``. The reference is the
plain reading: each test's reports in the order they came (setup, call, teardown).
"""

from __future__ import annotations

import math
import random
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_devtelemetry.figures import TestFigures
from pytest_devtelemetry.outcomes import fold_outcomes

pytest_plugins = ["pytester"]

RESULTS = ("passed", "failed", "skipped")


def reference(tests: list[list[pytest.TestReport]]) -> dict[str, tuple[str, float]]:
    """Each test's reports read in the order they came."""
    out: dict[str, tuple[str, float]] = {}
    for reports in tests:
        outcome, duration = "passed", 0.0
        for report in reports:
            duration += report.duration
            xfail = hasattr(report, "wasxfail")
            if report.when == "setup" and report.outcome != "passed":
                outcome = "error" if report.outcome == "failed" else ("xfailed" if xfail else "skipped")
            elif report.when == "call" and report.outcome in RESULTS:
                outcome = {"passed": "xpassed" if xfail else "passed", "failed": "failed",
                           "skipped": "xfailed" if xfail else "skipped"}[report.outcome]
            elif report.when == "teardown" and report.outcome == "failed" and outcome in (
                    "passed", "xpassed", "skipped", "xfailed"):
                outcome = "error"
            elif report.when not in ("setup", "call", "teardown"):
                outcome = "failed"
        out[reports[0].nodeid] = (outcome, duration)
    return out


def make_report(nodeid: str, when: str, outcome: str, duration: float, xfail: bool) -> pytest.TestReport:
    report = pytest.TestReport(nodeid, ("test_x.py", 0, nodeid), {}, outcome, None, when, duration=duration)
    if xfail:
        report.wasxfail = "reason"
    return report


durations = st.floats(min_value=0, max_value=100, allow_nan=False)


@st.composite
def one_test(draw: st.DrawFn, index: int) -> list[pytest.TestReport]:
    """The reports pytest makes for one test: a setup, a call only when the setup passed (or a
    plugin's reruns before it, or xdist's crash report instead), a teardown unless it crashed."""
    nodeid = f"test_x.py::test_{index}"
    setup = draw(st.sampled_from(RESULTS))
    reports = [make_report(nodeid, "setup", setup, draw(durations), setup == "skipped" and draw(st.booleans()))]
    if setup == "passed":
        kind = draw(st.sampled_from(("call", "call", "rerun", "crash")))
        if kind == "crash":
            return reports + [make_report(nodeid, "???", "failed", 0.0, False)]
        if kind == "rerun":
            reports.append(make_report(nodeid, "call", "rerun", draw(durations), False))
        call = draw(st.sampled_from(RESULTS))
        reports.append(make_report(nodeid, "call", call, draw(durations), call != "failed" and draw(st.booleans())))
    teardown = draw(st.sampled_from(("passed", "passed", "failed")))
    reports.append(make_report(nodeid, "teardown", teardown, draw(durations), False))
    return reports


@st.composite
def suites(draw: st.DrawFn) -> list[list[pytest.TestReport]]:
    return [draw(one_test(i)) for i in range(draw(st.integers(0, 12)))]


def by_category(tests: list[list[pytest.TestReport]], seed: int) -> dict[str, list]:
    """The reports as the terminal reporter keeps them: in the order they came, a list per
    category (the lists in the order their first report came), with objects that are not test
    reports in between."""
    stats: dict[str, list] = {}
    for reports in tests:
        for report in reports:
            category = report.outcome if report.when == "call" or report.outcome != "passed" else ""
            stats.setdefault(category, []).append(report)
    stats.setdefault("warnings", []).append(object())
    keys = list(stats)
    random.Random(seed).shuffle(keys)
    return {key: stats[key] for key in keys}


@settings(max_examples=300, deadline=None)
@given(suites(), st.integers(0, 1000))
def test_the_fold_reads_each_test_as_its_reports_came(tests: list[list[pytest.TestReport]], seed: int) -> None:
    order = [reports[0].nodeid for reports in tests]
    folded = fold_outcomes(by_category(tests, seed).values(), order=order)
    expected = reference(tests)
    assert list(folded) == order
    for nodeid, (outcome, duration) in expected.items():
        assert folded[nodeid][0] == outcome, nodeid
        assert folded[nodeid][1] == pytest.approx(duration, rel=1e-12, abs=1e-12)
        assert folded[nodeid][2] is None  # figures are read only when asked


@settings(max_examples=100, deadline=None)
@given(suites(), st.integers(0, 1000))
def test_figures_come_from_teardown_properties(tests: list[list[pytest.TestReport]], seed: int) -> None:
    """The controller's case: each worker's test brings its figures on its teardown report."""
    figures = {}
    for i, reports in enumerate(tests):
        if reports[-1].when == "teardown":
            f = figures[reports[-1].nodeid] = TestFigures(calls=i, failures=0, input_tokens=3 * i, output_tokens=i,
                                                          cost_usd=i / 8, unknown_cost=0, max_latency_ms=float(i))
            reports[-1].user_properties = f.properties()
    folded = fold_outcomes(by_category(tests, seed).values(), read_figures=True)
    assert {nodeid: found for nodeid, (_, _, found) in folded.items() if found is not None} == figures


OUTCOMES_SUITE = """
import pytest
from dev_system.ops.telemetry import telemetry_decorator

@telemetry_decorator(agent_name="a", event_type="tool_call")
def tool(x):
    return x

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown")

@pytest.fixture
def broken_setup():
    raise RuntimeError("setup")

def test_pass():
    tool(1)

def test_fail():
    tool(2)
    assert False

def test_skip():
    pytest.skip("no")

@pytest.mark.xfail(strict=False)
def test_xfail():
    tool(3)
    assert False

@pytest.mark.xfail(strict=False)
def test_xpass():
    tool(4)

def test_error_in_setup(broken_setup):
    pass

def test_error_in_teardown(broken_teardown):
    tool(5)
"""

EXPECTED = {
    "test_outcomes_suite.py::test_pass": ("passed", 1),
    "test_outcomes_suite.py::test_fail": ("failed", 1),
    "test_outcomes_suite.py::test_skip": ("skipped", 0),
    "test_outcomes_suite.py::test_xfail": ("xfailed", 1),
    "test_outcomes_suite.py::test_xpass": ("xpassed", 1),
    "test_outcomes_suite.py::test_error_in_setup": ("error", 0),
    "test_outcomes_suite.py::test_error_in_teardown": ("error", 1),
}


@pytest.mark.parametrize("extra", [[], ["-p", "no:terminal"]], ids=["terminal", "no-terminal"])
def test_every_outcome_is_stored_with_or_without_the_terminal_reporter(pytester: pytest.Pytester,
                                                                      extra: list[str]) -> None:
    pytester.makepyfile(test_outcomes_suite=OUTCOMES_SUITE)
    result = pytester.runpytest("--telemetry", "--telemetry-db=t.db", *extra)
    assert result.ret == 1
    with sqlite3.connect(pytester.path / "t.db") as conn:
        rows = conn.execute("SELECT nodeid, outcome, events, duration_s FROM test_results ORDER BY rowid").fetchall()
    assert {nodeid: (outcome, events) for nodeid, outcome, events, _ in rows} == EXPECTED
    assert [nodeid for nodeid, *_ in rows] == list(EXPECTED)  # in the order the tests ran
    assert all(duration > 0 for *_, duration in rows)


_ROWS = st.lists(st.tuples(st.booleans(), st.none() | st.integers(0, 10**6), st.none() | st.integers(0, 10**6),
                           st.none() | st.floats(0, 100, allow_nan=False), st.floats(0, 10**5, allow_nan=False)),
                 max_size=20)


@settings(max_examples=200, deadline=None)
@given(_ROWS, _ROWS)
def test_combined_figures_are_the_figures_of_both_sets_of_events(first, second):
    """A test's figures with its children's added: the same as if every event were one list."""
    from pytest_devtelemetry.figures import combined_figures, figures_of_rows

    both = combined_figures(figures_of_rows(first), figures_of_rows(second))
    reference = figures_of_rows(first + second)
    assert both._replace(cost_usd=0.0) == reference._replace(cost_usd=0.0)
    assert math.isclose(both.cost_usd, reference.cost_usd, rel_tol=1e-12, abs_tol=1e-12)
