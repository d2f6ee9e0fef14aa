"""The figures of the HTML report: everything the page shows, computed, nothing written.

:func:`collect_dashboard` gathers them for a window (and, with a run id, for a pytest run against
its baseline): the summary and alerts of :mod:`~dev_system.analysis.metrics` and
:mod:`~dev_system.analysis.alerts` (the text report's figures), the breakdowns, calls, cost,
latency and success rate per time bucket stacked by agent, the newest failed calls, and a few
traces drawn whole. :func:`collect_run_dashboard` does it for a finished pytest run, finding its
baseline. :mod:`dev_system.render.html` turns a :class:`Dashboard` into the page.

Whatever the number of events, the dashboard stays small: everything is aggregated (per local
day, or per hour for a window shorter than two days) and only bounded lists are kept
(:class:`Limits`): the most frequent agents (the rest summed as one series), the newest failed
events, a few traces.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from dev_system.analysis.alerts import Alert, AlertRule, CostScope, Thresholds, evaluate_alerts
from dev_system.analysis.dashboard_scores import PageScores, collect_scores
from dev_system.analysis.metrics import BreakdownRow, Summary, compute_breakdown, compute_summary, percentile, rate
from dev_system.analysis.periods import Window, day_bounds
from dev_system.analysis.traces import trace_tree
from dev_system.events import TelemetryEvent
from dev_system.store import aggregates
from dev_system.store.queries import Filters, list_events
from dev_system.structs import struct


@struct
class Limits:
    """How much the page embeds at most, whatever the number of events."""

    agents: int = 8  #: agents drawn as their own series; the others are summed as one
    error_types: int = 12  #: error types drawn; the others are summed as one bar
    table_rows: int = 50  #: rows of each breakdown table
    failed_events: int = 100  #: newest failed events listed
    traces: int = 20  #: traces embedded for the failed calls listed, and as many for a run's tests
    slow_traces: int = 10  #: traces embedded for the slowest calls
    trace_events: int = 300  #: calls drawn per trace
    tests: int = 10  #: tests in the "most expensive" and "slowest" charts
    text_chars: int = 300  #: longest message or name kept
    hourly_below_s: float = 2 * 86400  #: windows whose events span less than this are drawn per hour


def buckets_for(first: float, last: float, hourly_below_s: float) -> tuple[str, list[tuple[str, float, float]]]:
    """``(unit, [(label, start, end)])``: local days from ``first`` to ``last``, or hours when they
    are less than ``hourly_below_s`` apart."""
    if last - first < hourly_below_s:
        start = datetime.fromtimestamp(first).replace(minute=0, second=0, microsecond=0).timestamp()
        out = []
        while start <= last:
            out.append((datetime.fromtimestamp(start).strftime("%Y-%m-%d %H:00"), start, start + 3600.0))
            start += 3600.0
        return "hour", out
    return "day", [(day.isoformat(), lo, hi) for day, lo, hi in day_bounds(first, last)]


@struct
class Series:
    """Per time bucket: calls and known cost of each drawn agent (and of the others summed, when
    ``other_agents``), calls of unknown cost, calls, p50/p95 latency and success rate."""

    unit: str
    labels: list[str]
    agents: list[str | None]
    other_agents: int
    calls: list[list[int]]
    cost: list[list[float]]
    unknown_cost: list[int]
    events: list[int]
    p50: list[float | None]
    p95: list[float | None]
    success_rate: list[float | None]


def _series(conn: sqlite3.Connection, window: Window, filters: Filters, summary: Summary,
            agent_rows: Sequence[BreakdownRow], limits: Limits) -> Series | None:
    """The page's time series (``None`` for an empty window)."""
    if summary.empty or summary.drawn_first is None or summary.drawn_last is None:
        return None
    unit, buckets = buckets_for(summary.drawn_first, summary.drawn_last, limits.hourly_below_s)
    named = [row.key for row in agent_rows[: limits.agents]]
    others = len(agent_rows) - len(named)
    index = {name: i for i, name in enumerate(named)}
    other_index = len(named) if others else None
    n = len(buckets)
    width = len(named) + (1 if others else 0)
    calls = [[0] * n for _ in range(width)]
    cost = [[0.0] * n for _ in range(width)]
    unknown = [0] * n
    events = [0] * n
    ok = [0] * n
    p50: list[float | None] = []
    p95: list[float | None] = []
    present = None
    for b, (_, start, end) in enumerate(buckets):  # one indexed range per bucket, as the daily costs
        lo = start if window.start is None else max(start, window.start)
        hi = end if window.end is None else min(end, window.end)
        chosen = aggregates.selection(conn, Window(lo, hi), filters, present=present)
        present = chosen.present
        for agent, count, cost_sum, cost_known, good in aggregates.agent_totals(conn, chosen):
            s = index.get(agent, other_index)
            if s is None:  # an agent of no breakdown row: cannot happen, the same filters select both
                continue
            calls[s][b] += count
            cost[s][b] += cost_sum
            unknown[b] += count - cost_known
            events[b] += count
            ok[b] += int(good)
        values = aggregates.numeric_latencies(conn, chosen)  # one bucket's, dropped before the next is read
        p50.append(percentile(values, 50))
        p95.append(percentile(values, 95))
    return Series(
        unit=unit, labels=[label for label, _, _ in buckets], agents=list(named), other_agents=others,
        calls=calls, cost=cost, unknown_cost=unknown, events=events,
        p50=p50, p95=p95,
        success_rate=[rate(good, total) for good, total in zip(ok, events)],
    )


def error_message(event: TelemetryEvent) -> str | None:
    """The ``error_message`` an event's metadata holds, on one line (``None`` when there is none)."""
    message = event.metadata_dict.get("error_message")
    return None if message is None else " ".join(str(message).split())


# --- traces ------------------------------------------------------------------------------------

@struct
class Trace:
    """One trace drawn whole: its first calls in tree order as ``(depth, event, error)`` (``error``:
    ``"ErrorType: message"`` of a failed call, else ``None``), and its totals."""

    trace_id: str
    run_id: str | None
    reason: str  #: why it is embedded: "failed", "test" or "slowest"
    calls: int  #: all the trace's calls, drawn or not
    tree: list[tuple[int, TelemetryEvent, str | None]]
    failed: int
    cost_usd: float
    start: float
    end: float  #: when the last drawn call ended


class _TraceSet:
    """The traces the page embeds, each once, keyed by ``(trace_id, run_id)``."""

    def __init__(self, conn: sqlite3.Connection, window: Window, filters: Filters, limits: Limits) -> None:
        self.conn, self.window, self.filters, self.limits = conn, window, filters, limits
        self.keys: dict[tuple[str, str | None], int] = {}
        self.traces: list[Trace] = []
        self.count: dict[str, int] = {}

    def add(self, trace_id: str | None, run_id: str | None, reason: str) -> int | None:
        """The index of the trace in the page (``None`` when there is no id or no room left)."""
        if not trace_id:
            return None
        run = run_id if run_id is not None else self.filters.run_id
        key = (trace_id, run)
        if key in self.keys:
            return self.keys[key]
        if self.count.get(reason, 0) >= (self.limits.slow_traces if reason == "slowest" else self.limits.traces):
            return None
        try:
            trace = self._load(trace_id, run, reason)
        except (TypeError, ValueError):  # hand-edited rows with text in number columns: not drawn
            trace = None
        if trace is None:
            return None
        self.keys[key] = len(self.traces)
        self.traces.append(trace)
        self.count[reason] = self.count.get(reason, 0) + 1
        return self.keys[key]

    def _load(self, trace_id: str, run_id: str | None, reason: str) -> Trace | None:
        chosen = aggregates.selection(self.conn, self.window, Filters(trace_id=trace_id, run_id=run_id))
        total = aggregates.count_events(self.conn, chosen)
        if not total:
            return None
        events = aggregates.first_events(self.conn, chosen, self.limits.trace_events)
        t0 = min(e.timestamp for e in events)
        end = max(e.timestamp + e.latency_ms / 1000.0 for e in events)
        tree = []
        for depth, e in trace_tree(events):
            error = None
            if not e.success:
                message = error_message(e)
                error = (e.error_type or "error") + (f": {message}" if message else "")
            tree.append((depth, e, error))
        failed = sum(1 for e in events if not e.success)
        cost = sum(e.cost_usd for e in events if e.cost_usd is not None)
        datetime.fromtimestamp(t0)  # the page shows the start as a local time: a trace with none is not drawn
        return Trace(trace_id, run_id, reason, total, tree, failed, cost, t0, end)


def _slowest_traces(conn: sqlite3.Connection, window: Window, filters: Filters, traces: _TraceSet,
                    limits: Limits) -> None:
    chosen = aggregates.selection(conn, window, filters)
    for trace_id, run_id in aggregates.slowest_traced(conn, chosen, limits.slow_traces * 3):
        traces.add(trace_id, run_id, "slowest")


# --- a pytest run ------------------------------------------------------------------------------

@struct(frozen=False)
class TestFigures:
    """One test of a run: outcome and duration (as stored) and the figures of its events."""

    __test__ = False

    outcome: str | None
    duration_s: float | None
    calls: int
    cost: float
    tokens: int
    latency_ms: float | None = None  #: the time spent in the test's calls
    unknown_cost: int = 0  #: calls whose cost is unknown (not in ``cost``)

    @property
    def seconds(self) -> float | None:
        """The test's duration, else the time spent in its calls (``None``: neither is known)."""
        if self.duration_s is not None:
            return self.duration_s
        return None if self.latency_ms is None else self.latency_ms / 1000.0


def tests_of_run(conn: sqlite3.Connection, run_id: str) -> dict[str, TestFigures]:
    """Per test of a run: outcome and duration (the ``test_results`` rows the plugin stores) and the
    figures of its events (their trace id is the test's node id)."""
    out: dict[str, TestFigures] = {}
    for nodeid, outcome, duration_s, calls, tokens, cost, unknown in aggregates.test_result_rows(conn, run_id):
        out[nodeid] = TestFigures(outcome, duration_s, calls or 0, cost or 0.0, tokens or 0, unknown_cost=unknown or 0)
    for nodeid, calls, cost, tokens, latency, unknown in aggregates.trace_totals(conn, run_id):
        test = out.get(nodeid)
        if test is None:
            if "::" not in nodeid:  # a trace that is not a test's
                continue
            test = out[nodeid] = TestFigures(None, None, calls, cost, int(tokens), unknown_cost=unknown)
        test.latency_ms = latency
    return out


tests_of_run.__test__ = False  # type: ignore[attr-defined]  # not a pytest test function


def run_figures(summary: Summary) -> dict[str, float | None]:
    """The totals a run is compared on: calls, success rate, p50, p95, cost, tokens."""
    return {"calls": summary.events, "success_rate": summary.success_rate, "p50": summary.p50_latency_ms,
            "p95": summary.p95_latency_ms, "cost": summary.total_cost_usd,
            "tokens": summary.input_tokens + summary.output_tokens}


@struct
class RunBaseline:
    """A run's baseline: its totals, and the tests drawn side by side (the costliest, the slowest)."""

    run_id: str
    figures: dict[str, float | None]
    shared_tests: int
    cost_tests: list[str]
    cost_baseline: list[float | None]
    cost_current: list[float | None]
    time_tests: list[str]
    time_baseline: list[float | None]
    time_current: list[float | None]


@struct
class RunSection:
    """A pytest run: its record, its tests (the costliest, the slowest, a table), against its baseline."""

    run_id: str
    record: dict[str, Any] | None  #: the ``runs`` row by column, ``None`` when not stored
    duration_s: float | None
    tests: int
    expensive: list[tuple[float, str]]  #: ``(cost, nodeid)``, costliest first
    slowest: list[tuple[float, str]]  #: ``(seconds, nodeid)``, slowest first
    slowest_in_calls: bool  #: no stored durations: the seconds are those spent in the tests' calls
    table: list[tuple[str, TestFigures, int | None]]  #: ``(nodeid, figures, trace index)``, costliest first
    figures: dict[str, float | None]
    baseline: RunBaseline | None


def _run_section(conn: sqlite3.Connection, run_id: str, baseline_run_id: str | None, summary: Summary,
                 traces: _TraceSet, limits: Limits) -> RunSection:
    record = aggregates.run_row(conn, run_id)
    tests = tests_of_run(conn, run_id)
    by_cost = sorted(((t.cost or 0.0, k) for k, t in tests.items() if (t.cost or 0) > 0), reverse=True)
    timed = [(t.duration_s, k) for k, t in tests.items() if t.duration_s is not None]
    in_calls = False
    if not timed:  # no stored results: the time spent in the test's calls
        timed = [(t.latency_ms / 1000.0, k) for k, t in tests.items() if t.latency_ms]
        in_calls = True
    table = [(nodeid, tests[nodeid], traces.add(nodeid, run_id, "test"))
             for nodeid in sorted(tests, key=lambda k: (-(tests[k].cost or 0.0), k))[: limits.table_rows]]
    duration = None
    if record is not None and record.get("ended_at") is not None and record.get("started_at") is not None:
        duration = record["ended_at"] - record["started_at"]
    baseline = None
    if baseline_run_id:
        base_summary = compute_summary(conn, Window(label=f"Run {baseline_run_id}"), Filters(run_id=baseline_run_id))
        base_tests = tests_of_run(conn, baseline_run_id)
        both = set(tests) | set(base_tests)

        def cost(t: TestFigures | None) -> float | None:
            return None if t is None else t.cost

        def seconds(t: TestFigures | None) -> float | None:
            return None if t is None else t.seconds

        cost_keys = sorted(both, key=lambda k: (-max(cost(tests.get(k)) or 0.0, cost(base_tests.get(k)) or 0.0),
                                                k))[: limits.tests]
        time_keys = sorted(both, key=lambda k: (-max(seconds(tests.get(k)) or 0.0, seconds(base_tests.get(k)) or 0.0),
                                                k))[: limits.tests]
        baseline = RunBaseline(
            run_id=baseline_run_id, figures=run_figures(base_summary),
            shared_tests=sum(1 for k in tests if k in base_tests),
            cost_tests=cost_keys, cost_baseline=[cost(base_tests.get(k)) for k in cost_keys],
            cost_current=[cost(tests.get(k)) for k in cost_keys],
            time_tests=time_keys, time_baseline=[seconds(base_tests.get(k)) for k in time_keys],
            time_current=[seconds(tests.get(k)) for k in time_keys],
        )
    return RunSection(
        run_id=run_id, record=record, duration_s=duration, tests=len(tests),
        expensive=by_cost[: limits.tests], slowest=sorted(timed, reverse=True)[: limits.tests],
        slowest_in_calls=in_calls, table=table, figures=run_figures(summary), baseline=baseline,
    )


# --- the dashboard -----------------------------------------------------------------------------

@struct
class FailedCall:
    """One of the newest failed calls, with its message and the index of its trace in the page."""

    event: TelemetryEvent
    message: str | None
    trace: int | None


@struct
class Dashboard:
    """Everything the HTML report shows, as figures (see the module docstring)."""

    window: Window
    filters: Filters
    thresholds: Thresholds
    cost_scope: CostScope
    limits: Limits
    summary: Summary
    alerts: list[Alert]
    series: Series | None  #: ``None`` for an empty window
    errors: list[tuple[str, int]]  #: the most frequent error types and their failed calls
    other_errors: tuple[int, int] | None  #: ``(types, failed calls)`` summed as one bar, if any
    tables: dict[str, list[BreakdownRow]]  #: by agent, model and function (empty for an empty window)
    failed: list[FailedCall]
    run: RunSection | None
    traces: list[Trace]
    scores: PageScores | None = None  #: the scores part (``None``: no scores and no run)


def collect_dashboard(conn: sqlite3.Connection, window: Window, filters: Filters = Filters(),
                      thresholds: Thresholds = Thresholds(), *, extra_rules: Iterable[AlertRule] = (),
                      cost_scope: CostScope = "day", run_id: str | None = None,
                      baseline_run_id: str | None = None, limits: Limits = Limits(),
                      alerts: Sequence[Alert] | None = None) -> Dashboard:
    """The figures of the page of ``window``'s events passing ``filters``.

    ``run_id`` adds the section of a pytest run (its tests; against ``baseline_run_id`` when given);
    pass ``Filters(run_id=run_id)`` and ``cost_scope="total"`` too for the figures of the run alone.
    ``alerts``, when given, are shown instead of evaluating the thresholds again (the plugin passes
    the alerts its own rules and hooks raised for the run).
    """
    summary = compute_summary(conn, window, filters)
    if alerts is None:
        alerts = evaluate_alerts(summary, thresholds, extra_rules, cost_scope=cost_scope)
    by_agent = compute_breakdown(conn, window, filters, "agent") if not summary.empty else []
    traces = _TraceSet(conn, window, filters, limits)
    series = _series(conn, window, filters, summary, by_agent, limits)
    errors = list(summary.failures_by_error_type.items())
    other_errors = None
    if len(errors) > limits.error_types:
        rest = errors[limits.error_types - 1:]
        errors = errors[: limits.error_types - 1]
        other_errors = (len(rest), sum(c for _, c in rest))
    tables: dict[str, list[BreakdownRow]] = {}
    failed: list[FailedCall] = []
    if not summary.empty:
        tables = {
            "agent": by_agent,
            "model": compute_breakdown(conn, window, filters, "model"),
            "function": compute_breakdown(conn, window, filters, "function"),
        }
        failed = [FailedCall(e, error_message(e), traces.add(e.trace_id, e.run_id, "failed"))
                  for e in list_events(conn, window, filters, failed_only=True, limit=limits.failed_events)]
    run = _run_section(conn, run_id, baseline_run_id, summary, traces, limits) if run_id else None
    if not summary.empty:
        _slowest_traces(conn, window, filters, traces, limits)
    scores = collect_scores(
        conn, window, filters, run_id=run_id, baseline_run_id=baseline_run_id,
        buckets=() if series is None else buckets_for(summary.first_timestamp, summary.last_timestamp,  # type: ignore[arg-type]
                                                      limits.hourly_below_s)[1],
        nodeids=[] if run is None else [nodeid for nodeid, _, _ in run.table])
    return Dashboard(window, filters, thresholds, cost_scope, limits, summary, list(alerts), series, errors,
                     other_errors, tables, failed, run, traces.traces, scores)


def collect_run_dashboard(report: Any, *, limits: Limits = Limits()) -> Dashboard:
    """The dashboard of a finished pytest run: ``report`` is the plugin's
    :class:`pytest_devtelemetry.runreport.RunReport` (run id, database, thresholds, alerts, and the
    comparison when ``--telemetry-compare`` made one). The baseline is the comparison's, else the
    most recent earlier run of the same tests (:func:`dev_system.analysis.compare.find_baseline`)."""
    from dev_system.analysis.compare import find_baseline
    from dev_system.store import db

    conn = db.connect(report.db_path, readonly=True)
    try:
        comparison = getattr(report, "comparison", None)
        if comparison is not None:
            baseline: str | None = comparison.base.run_id
        else:
            tests = getattr(report, "tests", None) or []
            found = find_baseline(conn, report.run_id, nodeids=[t.nodeid for t in tests] if tests else None)
            baseline = None if found is None else found.run_id
        return collect_dashboard(
            conn, Window(None, None, f"Run {report.run_id}", "run"), Filters(run_id=report.run_id),
            getattr(report, "thresholds", None) or Thresholds(), cost_scope="total", run_id=report.run_id,
            baseline_run_id=baseline, limits=limits,
            alerts=list(report.alerts) if getattr(report, "summary", None) is not None else None,
        )
    finally:
        conn.close()

