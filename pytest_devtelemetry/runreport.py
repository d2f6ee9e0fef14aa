"""The report of one run: what the terminal summary shows, what ``--telemetry-json`` writes and
what the ``pytest_devtelemetry_summary`` hook receives.

The figures and alerts are those :mod:`dev_system.analysis.evaluation` computes for the run's
events (the evaluation ``dev-system metrics`` uses); the terminal summary is written by
:mod:`dev_system.render.run_summary`, the JSON with :mod:`dev_system.render.text`, so both front
ends print the same numbers.
"""

from __future__ import annotations

import heapq
import json
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dev_system.render import text as metrics_report
from dev_system.structs import struct

if TYPE_CHECKING:
    from dev_system.analysis.alerts import Alert, Thresholds
    from dev_system.analysis.compare import Comparison, Regression
    from dev_system.analysis.metrics import BreakdownRow, Summary
    from dev_system.analysis.scores import ScoreStat
    from dev_system.store.runs import Run, TestResult

JSON_FORMAT = "pytest-devtelemetry-run/1"


@struct(frozen=False)
class RunReport:
    """Everything known about a run once it has ended (see :mod:`pytest_devtelemetry.hooks`)."""

    run_id: str
    db_path: Path
    run: Run | None = None
    summary: Summary | None = None
    thresholds: Thresholds | None = None
    alerts: list[Alert] = field(default_factory=list)
    agents: list[BreakdownRow] = field(default_factory=list)
    event_types: list[BreakdownRow] = field(default_factory=list)
    models: list[BreakdownRow] = field(default_factory=list)
    tests: list[TestResult] = field(default_factory=list)
    #: The run's quality scores by name (mean over the tests that recorded each, lowest, count).
    scores: list[ScoreStat] = field(default_factory=list)
    comparison: Comparison | None = None
    regressions: list[Regression] = field(default_factory=list)
    compare_note: str | None = None
    gate: bool = False
    #: The ``FAIL`` lines: alerts under the gate, regressions beyond --telemetry-compare-fail.
    failures: list[str] = field(default_factory=list)
    #: Problems of the telemetry itself (database unusable, a hook that raised, ...).
    errors: list[str] = field(default_factory=list)
    crashed_workers: dict[str, str] = field(default_factory=dict)
    workers: int = 0
    problems: int = 0
    #: The first message of each kind of telemetry problem (kind -> message), from every process.
    problem_messages: dict[str, str] = field(default_factory=dict)
    #: Events dropped in this run: the larger of what the database holds and what the processes counted
    #: (a database that cannot be written cannot hold its own drop counts either).
    dropped: int = 0
    pytest_exit_status: int | None = None
    exit_status: int | None = None
    top: int = 5

    def as_dict(self) -> dict[str, Any]:
        """The JSON report (format ``pytest-devtelemetry-run/1``)."""
        summary = None
        if self.summary is not None:
            summary = metrics_report.summary_dict(self.summary, self.alerts, self.thresholds, ("agent", self.agents),
                                                   scores=self.scores)
        return {
            "format": JSON_FORMAT,
            "run_id": self.run_id,
            "database": str(self.db_path),
            "run": None if self.run is None else self.run.as_dict(),
            "exit_status": self.exit_status,
            "pytest_exit_status": self.pytest_exit_status,
            "summary": summary,
            "alerts": [alert.as_dict() for alert in self.alerts],
            "tests": [test.as_dict() for test in self.tests],
            "scores": [stat.as_dict() for stat in self.scores],
            "comparison": None if self.comparison is None else self.comparison.as_dict(self.regressions),
            "compare_note": self.compare_note,
            "gate": {"enabled": self.gate, "failures": list(self.failures)},
            "errors": list(self.errors),
            "crashed_workers": dict(self.crashed_workers),
            "workers": self.workers,
            "telemetry_problems": self.problems,
            "telemetry_problem_messages": dict(self.problem_messages),
            "dropped_events": self.dropped,
        }

    def write_json(self, path: Path) -> None:
        """Write :meth:`as_dict` to ``path`` (folders made as needed), mode 0600 like the database."""
        from dev_system.render.files import write_private_text

        write_private_text(path, json.dumps(self.as_dict(), indent=2, default=str) + "\n")

    # -- derived lists ----------------------------------------------------------------------

    def tests_with_events(self) -> list[TestResult]:
        """The tests that recorded at least one event."""
        return [t for t in self.tests if t.events]

    def most_expensive(self, n: int) -> list[TestResult]:
        """The ``n`` tests of highest known cost (then most tokens), among those with events."""
        # nsmallest is sorted(...)[:n], ties included, without sorting every test of a large run
        return heapq.nsmallest(n, self.tests_with_events(),
                               key=lambda t: (-t.cost_usd, -t.input_tokens - t.output_tokens, -t.events, t.nodeid))

    def slowest(self, n: int) -> list[TestResult]:
        """The ``n`` tests with events that took longest (setup, call and teardown)."""
        return heapq.nsmallest(n, self.tests_with_events(), key=lambda t: (-(t.duration_s or 0.0), t.nodeid))
