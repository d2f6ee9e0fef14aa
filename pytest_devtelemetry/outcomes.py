"""Each test's outcome and duration, folded from its reports once the run is over.

No hook implementation of the plugin runs for each of a test's three reports: the reports are
read at the end from the lists pytest's terminal reporter keeps anyway, or, under
``-p no:terminal``, from a :class:`ReportCollector`'s.
"""

from __future__ import annotations

from itertools import repeat
from operator import attrgetter
from typing import Any

import pytest

from pytest_devtelemetry.figures import TestFigures

_NODEID, _DURATION, _WHEN, _OUTCOME = (attrgetter(name) for name in ("nodeid", "duration", "when", "outcome"))
#: The outcome of a test that Ctrl-C (or ``pytest.exit()``) stopped before it finished.
INTERRUPTED = "interrupted"
#: An outcome that a failed teardown turns into an error.
_FINISHED = frozenset({"passed", "xpassed", "skipped", "xfailed"})


def fold_outcomes(report_lists: Any, order: Any = (), read_figures: bool = False,
                  ) -> dict[str, tuple[str, float | None, TestFigures | None]]:
    """Each test's ``(outcome, duration_s, figures)``, folded from its reports once the run is over.

    ``report_lists``: lists of reports in any order across lists (the terminal reporter's
    ``stats``, a list per category); other objects in them are passed over. A test's duration is
    the sum of its reports'; its outcome is decided by its setup, then its call, then its
    teardown report (a failed teardown turns a finished test into an error). A test whose setup
    passed and that has neither a call nor a teardown report was stopped by Ctrl-C (or
    ``pytest.exit()``) while it ran: :data:`INTERRUPTED`. ``order``: node ids in the order the
    tests started, which the result follows; one of them without any report was interrupted in
    its setup (its duration: None). ``read_figures``: take each test's figures from its teardown
    report's ``user_properties`` (an xdist worker's tests), else None.
    """
    report_type = pytest.TestReport
    durations: dict[str, float] = {}
    get = durations.get
    deciding: list[tuple[str, Any]] = []  # the reports that may change an outcome or bring figures
    for reports in report_lists:
        if not all(map(isinstance, reports, repeat(report_type))):
            reports = [report for report in reports if isinstance(report, report_type)]
        # Read with C-level getters: this loop runs three times a test.
        for nodeid, duration, when, outcome, report in zip(
                map(_NODEID, reports), map(_DURATION, reports), map(_WHEN, reports), map(_OUTCOME, reports), reports):
            durations[nodeid] = get(nodeid, 0.0) + (duration or 0.0)
            if when == "call" or outcome != "passed" or read_figures and when == "teardown":
                deciding.append((nodeid, report))
    setups, calls, teardowns = [], [], []
    for nodeid, report in deciding:
        when = report.when
        (setups if when == "setup" else teardowns if when == "teardown" else calls).append((nodeid, report))
    decided: dict[str, str] = {}
    for nodeid, report in setups:
        if report.outcome == "failed":
            decided[nodeid] = "error"
        elif report.outcome == "skipped":
            decided[nodeid] = "xfailed" if hasattr(report, "wasxfail") else "skipped"
    for nodeid, report in calls:
        outcome = report.outcome
        if report.when != "call":  # xdist's report of a test whose worker crashed
            decided[nodeid] = "failed"
        elif outcome == "passed":
            decided[nodeid] = "xpassed" if hasattr(report, "wasxfail") else "passed"
        elif outcome == "failed":
            decided[nodeid] = "failed"
        elif outcome == "skipped":
            decided[nodeid] = "xfailed" if hasattr(report, "wasxfail") else "skipped"
        # any other outcome (a plugin's "rerun" of the test) decides nothing
    figures: dict[str, TestFigures] = {}
    from_properties = TestFigures.from_properties
    for nodeid, report in teardowns:
        if report.outcome == "failed" and decided.get(nodeid, "passed") in _FINISHED:
            decided[nodeid] = "error"
        if read_figures:
            found = from_properties(report.user_properties)
            if found is not None:
                figures[nodeid] = found
    if len(decided) < len(durations):  # tests without a call report: interrupted, or --setup-only
        decided.update(_without_call(report_lists, durations.keys() - decided.keys()))
    if order:
        # A test that started and has no report at all was interrupted in its setup.
        durations = {**{nodeid: durations.get(nodeid) for nodeid in order}, **durations}
        decided.update((nodeid, INTERRUPTED) for nodeid, duration in durations.items() if duration is None)
    outcome_of, figures_of = decided.get, figures.get
    return {nodeid: (outcome_of(nodeid, "passed"), duration, figures_of(nodeid))
            for nodeid, duration in durations.items()}


def _without_call(report_lists: Any, nodeids: set[str]) -> dict[str, str]:
    """The outcomes of tests whose setup passed and that have no call report: passed when they
    have a teardown report (``--setup-only``), else interrupted."""
    torn_down = {nodeid for reports in report_lists for report in reports
                 if getattr(report, "when", None) == "teardown" and (nodeid := getattr(report, "nodeid", None)) in nodeids}
    return {nodeid: "passed" if nodeid in torn_down else INTERRUPTED for nodeid in nodeids}


class ReportCollector:
    """Keeps every test report, for a run whose terminal reporter does not (``-p no:terminal``)."""

    def __init__(self) -> None:
        self.reports: list[pytest.TestReport] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.reports.append(report)
