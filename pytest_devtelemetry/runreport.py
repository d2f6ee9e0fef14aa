"""The report of one run: what the terminal summary shows, what ``--telemetry-json`` writes and
what the ``pytest_devtelemetry_summary`` hook receives.

The figures and alerts are those of :mod:`dev_system.analysis.metrics` and :mod:`dev_system.analysis.alerts`
for the run's events, written with :mod:`dev_system.render.text` (the lines of
``dev-system metrics``), so both front ends print the same numbers.
"""

from __future__ import annotations

import heapq
import json
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dev_system.render import text as metrics_report
from dev_system.render.formatting import format_int, format_ms, format_usd
from dev_system.structs import struct

if TYPE_CHECKING:
    from dev_system.analysis.alerts import Alert, Thresholds
    from dev_system.analysis.compare import Comparison, Regression
    from dev_system.analysis.metrics import BreakdownRow, Summary
    from dev_system.store.runs import RunRecord, TestResult

JSON_FORMAT = "pytest-devtelemetry-run/1"


@struct(frozen=False)
class RunReport:
    """Everything known about a run once it has ended (see :mod:`pytest_devtelemetry.hooks`)."""

    run_id: str
    db_path: Path
    run: "RunRecord | None" = None
    summary: "Summary | None" = None
    thresholds: "Thresholds | None" = None
    alerts: "list[Alert]" = field(default_factory=list)
    agents: "list[BreakdownRow]" = field(default_factory=list)
    event_types: "list[BreakdownRow]" = field(default_factory=list)
    models: "list[BreakdownRow]" = field(default_factory=list)
    tests: "list[TestResult]" = field(default_factory=list)
    comparison: "Comparison | None" = None
    regressions: "list[Regression]" = field(default_factory=list)
    compare_note: str | None = None
    gate: bool = False
    #: The ``FAIL`` lines: alerts under the gate, regressions beyond --telemetry-compare-fail.
    failures: list[str] = field(default_factory=list)
    #: Problems of the telemetry itself (database unusable, a hook that raised, ...).
    errors: list[str] = field(default_factory=list)
    crashed_workers: dict[str, str] = field(default_factory=dict)
    workers: int = 0
    problems: int = 0
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
            summary = metrics_report.summary_dict(self.summary, self.alerts, self.thresholds, ("agent", self.agents))
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
            "comparison": None if self.comparison is None else self.comparison.as_dict(self.regressions),
            "compare_note": self.compare_note,
            "gate": {"enabled": self.gate, "failures": list(self.failures)},
            "errors": list(self.errors),
            "crashed_workers": dict(self.crashed_workers),
            "workers": self.workers,
            "telemetry_problems": self.problems,
            "dropped_events": self.dropped,
        }

    def write_json(self, path: Path) -> None:
        """Write :meth:`as_dict` to ``path`` (folders made as needed)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_dict(), indent=2, default=str) + "\n", encoding="utf-8")

    # -- derived lists ----------------------------------------------------------------------

    def tests_with_events(self) -> "list[TestResult]":
        """The tests that recorded at least one event."""
        return [t for t in self.tests if t.events]

    def most_expensive(self, n: int) -> "list[TestResult]":
        """The ``n`` tests of highest known cost (then most tokens), among those with events."""
        # nsmallest is sorted(...)[:n], ties included, without sorting every test of a large run
        return heapq.nsmallest(n, self.tests_with_events(),
                               key=lambda t: (-t.cost_usd, -t.input_tokens - t.output_tokens, -t.events, t.nodeid))

    def slowest(self, n: int) -> "list[TestResult]":
        """The ``n`` tests with events that took longest (setup, call and teardown)."""
        return heapq.nsmallest(n, self.tests_with_events(), key=lambda t: (-(t.duration_s or 0.0), t.nodeid))


Line = tuple[str, dict[str, bool]]


def _plain(text: str) -> Line:
    return text, {}


def terminal_lines(report: RunReport, verbosity: int, *, ascii_only: bool = False) -> list[Line]:
    """The terminal summary: ``verbosity`` < 0 (``-q``) a few lines, 0 the summary, the per-agent
    table, the top tests, failed calls, the comparison and the alerts; > 0 (``-v``) more tables."""
    out: list[Line] = []
    summary = report.summary
    red = {"red": True, "bold": True}
    yellow = {"yellow": True}
    if verbosity < 0:
        if summary is not None:
            out.append(_plain(_one_line(report)))
    elif summary is not None:
        out.append(_plain(f"run {report.run_id} -> {report.db_path}"))
        if summary.empty:
            out.append(_plain("No events recorded in this run."))
        else:
            out.append(_plain(f"Events: {format_int(summary.events)} from {len(report.tests_with_events())} of "
                              f"{len(report.tests)} tests"))
            for label, value in metrics_report.summary_lines(summary):
                out.append(_plain(f"{label}: {value}"))
                if label == "P95 Latency" and verbosity > 0:
                    out.append(_plain(f"P50 / P99 Latency: {_ms(summary.p50_latency_ms)} / {_ms(summary.p99_latency_ms)}"))
                if label == "Total Cost":
                    out.append(_plain(f"Tokens: {format_int(summary.input_tokens)} in / "
                                      f"{format_int(summary.output_tokens)} out"))
                if label == "Failed Calls":
                    out.extend(_plain(f"  {name}: {format_int(count)}")
                               for name, count in summary.failures_by_error_type.items())
            tables = [("agent", report.agents)]
            if verbosity > 0:
                tables += [("event_type", report.event_types), ("model", report.models)]
            for by, rows in tables:
                if rows:
                    out.append(_plain(""))
                    out.extend(_plain(line) for line in metrics_report.breakdown_table(by, rows).splitlines())
            top = report.top if verbosity <= 0 else max(report.top, 2 * report.top)
            if top:
                expensive = report.most_expensive(top)
                if expensive:
                    out.append(_plain(""))
                    out.append(_plain(f"Most expensive tests (top {len(expensive)}):"))
                    out.extend(_plain(f"  {format_usd(t.cost_usd):>10}  {format_int(t.tokens):>9} tokens"
                                      f"  {format_int(t.events):>4} calls  {t.nodeid}") for t in expensive)
                slow = report.slowest(top)
                if slow:
                    out.append(_plain(f"Slowest tests with telemetry (top {len(slow)}):"))
                    out.extend(_plain(f"  {t.duration_s or 0.0:>9.2f}s  slowest call {_ms(t.max_latency_ms):>9}"
                                      f"  {t.nodeid}") for t in slow)
    if verbosity >= 0:
        if report.comparison is not None:
            out.append(_plain(""))
            from dev_system.analysis.compare import comparison_lines

            out.extend(_plain(line) for line in comparison_lines(
                report.comparison, max_tests=None if verbosity > 0 else report.top or 0))
        if report.compare_note:
            out.append(_plain(report.compare_note))
    if report.dropped and verbosity >= 0:
        out.append((f"Dropped events: {format_int(report.dropped)} (never stored)", yellow))
    for worker, error in report.crashed_workers.items():
        out.append((f"worker {worker} crashed ({error}); the events it had not stored are lost", red))
    if report.problems and verbosity >= 0:
        out.append((f"Telemetry problems: {format_int(report.problems)} (reported as warnings; the tests went on)",
                    yellow))
    for error in report.errors:
        out.append((f"telemetry error: {error}", red))
    if report.alerts and (verbosity >= 0 or not report.gate):
        icon = "" if ascii_only else metrics_report.EMOJI["alert"] + " "
        out.append(_plain(""))
        out.append((f"{icon}Alerts:", yellow))
        out.extend((f"  - {alert.message}", yellow) for alert in report.alerts)
    for failure in report.failures:
        out.append((f"FAIL {failure}", red))
    return out


def _ms(value: float | None) -> str:
    return "n/a" if value is None else format_ms(value)


def _one_line(report: RunReport) -> str:
    summary = report.summary
    assert summary is not None
    if summary.empty:
        return f"telemetry: no events (run {report.run_id})"
    parts = [f"{format_int(summary.events)} events"]
    if summary.success_rate is not None:
        parts.append(f"{summary.success_rate:.1f}% success")
    parts.append(f"p95 {_ms(summary.p95_latency_ms)}")
    parts.append(format_usd(summary.total_cost_usd))
    if summary.unknown_cost_events:
        parts.append(f"{format_int(summary.unknown_cost_events)} of unknown cost")
    if report.dropped:
        parts.append(f"{format_int(report.dropped)} dropped")
    if report.alerts:
        parts.append(f"{len(report.alerts)} alert{'s' if len(report.alerts) != 1 else ''}")
    return f"telemetry: {', '.join(parts)} (run {report.run_id})"
