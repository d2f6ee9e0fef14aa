"""Every figure of compute_summary/compute_breakdown against a reference computed here from the same events."""

from __future__ import annotations

import math
import sqlite3
import uuid
from collections import Counter, defaultdict
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dev_system.analysis.metrics import compute_breakdown, compute_summary, percentile
from dev_system.analysis.periods import PeriodError, Window, parse_duration, parse_period
from dev_system.store import db as store
from dev_system.store.events import record_dropped
from dev_system.store.queries import Filters
from dev_system.store.schema import EVENTS_TABLE
from fakes.eventgen import event, write_events

NOW = 1_793_100_000.0  # a fixed "now" (2026-10-27): the 5 days before it hold the EU end of summer time
DAY = 86400.0


def reference_percentile(values, q):
    """numpy.percentile(values, q) with the default 'linear' method, written the plain way."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    below = math.floor(position)
    above = math.ceil(position)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


latencies = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(st.lists(latencies, min_size=1, max_size=200), st.floats(min_value=0, max_value=100))
def test_percentile_matches_the_linear_method(values, q):
    got = percentile(sorted(values), q)
    assert close(got, reference_percentile(values, q))
    assert min(values) <= got <= max(values)


@given(st.lists(latencies, min_size=1, max_size=100))
def test_percentiles_are_ordered_and_exact_at_the_ends(values):
    ordered = sorted(values)
    p50, p95, p99 = (percentile(ordered, q) for q in (50, 95, 99))
    assert p50 <= p95 <= p99
    assert percentile(ordered, 0) == ordered[0]
    assert percentile(ordered, 100) == ordered[-1]


def test_percentile_known_values_and_empty():
    assert percentile([], 95) is None
    assert percentile([7.0], 95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert close(percentile([float(i) for i in range(1, 11)], 95), 9.55)  # numpy.percentile(range(1, 11), 95)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


# --- summaries over real databases ------------------------------------------------------------

event_strategy = st.builds(
    lambda offset, agent, latency, cost, success, error, tin, tout: event(
        NOW - offset, agent_name=agent, latency_ms=latency, cost_usd=cost, success=success,
        error_type=None if success else error, input_tokens=tin, output_tokens=tout,
    ),
    offset=st.floats(min_value=0, max_value=5 * DAY, allow_nan=False),
    agent=st.sampled_from(["alpha", "beta", "gamma"]),
    latency=latencies,
    cost=st.one_of(st.none(), st.floats(min_value=0, max_value=20, allow_nan=False)),
    success=st.booleans(),
    error=st.sampled_from([None, "TimeoutError", "ValueError"]),
    tin=st.one_of(st.none(), st.integers(0, 10_000)),
    tout=st.one_of(st.none(), st.integers(0, 10_000)),
)


@pytest.fixture(scope="module")
def db_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("metrics")


def fresh_db(folder, events):
    return write_events(folder / f"{uuid.uuid4().hex}.db", events)


def reference_summary(events, window):
    inside = [e for e in events if window.contains(e.timestamp)]
    if not inside:
        return None
    agents = Counter(e.agent_name for e in inside)
    best = max(agents.values())
    days = defaultdict(list)
    for e in inside:
        days[datetime.fromtimestamp(e.timestamp).date().isoformat()].append(e.cost_usd or 0.0)
    return {
        "events": len(inside),
        "successes": sum(e.success for e in inside),
        "success_rate": 100.0 * sum(e.success for e in inside) / len(inside),
        "latencies": [e.latency_ms for e in inside],
        "cost": math.fsum(e.cost_usd for e in inside if e.cost_usd is not None),
        "unknown": sum(e.cost_usd is None for e in inside),
        "top": sorted(name for name, count in agents.items() if count == best)[0],
        "top_count": best,
        "errors": Counter(e.error_type or "unknown" for e in inside if not e.success),
        "days": {day: math.fsum(costs) for day, costs in days.items()},
        "tokens": (sum(e.input_tokens or 0 for e in inside), sum(e.output_tokens or 0 for e in inside)),
    }


def check_summary(summary, expected):
    if expected is None:
        assert summary.empty and summary.events == 0
        assert summary.success_rate is None and summary.p95_latency_ms is None and summary.top_agent is None
        assert summary.total_cost_usd == 0 and summary.daily_cost_usd == {}
        return
    assert summary.events == expected["events"]
    assert summary.successes == expected["successes"]
    assert summary.failures == expected["events"] - expected["successes"]
    assert close(summary.success_rate, expected["success_rate"])
    for q, got in ((50, summary.p50_latency_ms), (95, summary.p95_latency_ms), (99, summary.p99_latency_ms)):
        assert close(got, reference_percentile(expected["latencies"], q))
    assert close(summary.total_cost_usd, expected["cost"])
    assert summary.unknown_cost_events == expected["unknown"]
    assert (summary.top_agent, summary.top_agent_events) == (expected["top"], expected["top_count"])
    assert summary.failures_by_error_type == dict(expected["errors"])
    assert list(summary.failures_by_error_type.values()) == sorted(summary.failures_by_error_type.values(), reverse=True)
    assert summary.daily_cost_usd.keys() == expected["days"].keys()
    for day, cost in expected["days"].items():
        assert close(summary.daily_cost_usd[day], cost)
    assert (summary.input_tokens, summary.output_tokens) == expected["tokens"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(event_strategy, max_size=40), data=st.data())
def test_summary_matches_reference(db_dir, events, data):
    # The window starts at an event's own timestamp when there is one, to test the edges exactly.
    stamps = [e.timestamp for e in events] or [NOW - DAY]
    start = data.draw(st.one_of(st.none(), st.sampled_from(stamps), st.floats(NOW - 6 * DAY, NOW)), label="start")
    end = data.draw(st.one_of(st.none(), st.sampled_from(stamps)), label="end")
    window = Window(start, end)
    conn = store.connect(fresh_db(db_dir, events), readonly=True)
    try:
        check_summary(compute_summary(conn, window), reference_summary(events, window))
    finally:
        conn.close()


@settings(max_examples=30, deadline=None)
@given(events=st.lists(event_strategy, min_size=1, max_size=30), by=st.sampled_from(["agent", "day", "error_type"]))
def test_breakdown_rows_add_up_to_the_summary(db_dir, events, by):
    conn = store.connect(fresh_db(db_dir, events), readonly=True)
    try:
        summary = compute_summary(conn, Window())
        rows = compute_breakdown(conn, Window(), Filters(), by)
    finally:
        conn.close()
    assert sum(r.calls for r in rows) == summary.events
    assert sum(r.successes for r in rows) == summary.successes
    assert close(math.fsum(r.cost_usd for r in rows), summary.total_cost_usd)
    assert sum(r.unknown_cost_events for r in rows) == summary.unknown_cost_events
    if by == "day":
        assert {r.key: r.cost_usd for r in rows}.keys() == summary.daily_cost_usd.keys()
        for r in rows:
            assert close(r.cost_usd, summary.daily_cost_usd[r.key])
    for r in rows:
        group = [e for e in events if _key(e, by) == r.key]
        assert r.calls == len(group)
        assert close(r.p95_latency_ms, reference_percentile([e.latency_ms for e in group], 95))
        assert close(r.p50_latency_ms, reference_percentile([e.latency_ms for e in group], 50))
        assert close(r.p99_latency_ms, reference_percentile([e.latency_ms for e in group], 99))
        assert r.successes == sum(1 for e in group if e.success)
        assert close(r.cost_usd, math.fsum(e.cost_usd for e in group if e.cost_usd is not None))
        assert r.unknown_cost_events == sum(1 for e in group if e.cost_usd is None)
        assert r.input_tokens == sum(e.input_tokens or 0 for e in group)
        assert r.output_tokens == sum(e.output_tokens or 0 for e in group)
    assert [r.key for r in rows] == sorted(
        {_key(e, by) for e in events}, key=lambda k: (k or "") if by == "day" else
        (-sum(1 for e in events if _key(e, by) == k), k is None, k or ""))


def _key(e, by):
    if by == "day":
        return datetime.fromtimestamp(e.timestamp).date().isoformat()
    return {"agent": e.agent_name, "error_type": e.error_type}[by]


def test_one_event_window(tmp_path):
    conn = store.connect(write_events(tmp_path / "t.db", [event(NOW, latency_ms=42.0, cost_usd=None)]), readonly=True)
    summary = compute_summary(conn, Window())
    assert summary.events == 1 and summary.success_rate == 100.0
    assert summary.p50_latency_ms == summary.p95_latency_ms == summary.p99_latency_ms == 42.0
    assert summary.total_cost_usd == 0.0 and summary.unknown_cost_events == 1


def test_top_agent_tie_goes_to_the_smallest_name(tmp_path):
    events = [event(NOW, agent_name=name) for name in ("zeta", "beta", "zeta", "beta", "alpha")]
    conn = store.connect(write_events(tmp_path / "t.db", events), readonly=True)
    summary = compute_summary(conn, Window())
    assert (summary.top_agent, summary.top_agent_events) == ("beta", 2)


def test_filters_and_dropped_events(tmp_path):
    db = tmp_path / "t.db"
    write_events(db, [
        event(NOW, agent_name="a", event_type="model_call", function_name="f", trace_id="t1", run_id="r1", model="m"),
        event(NOW, agent_name="b", event_type="tool_call", function_name="g", trace_id="t2", run_id="r2"),
    ])
    writer = store.connect(db)
    record_dropped(writer, NOW, 3, "buffer full", "r1")
    record_dropped(writer, NOW, 4, "buffer full", "r2")
    writer.close()
    conn = store.connect(db, readonly=True)
    for filters, agent in [(Filters(agent="a"), "a"), (Filters(event_type="tool_call"), "b"),
                           (Filters(function="f"), "a"), (Filters(trace_id="t2"), "b"), (Filters(run_id="r1"), "a")]:
        summary = compute_summary(conn, Window(), filters)
        assert (summary.events, summary.top_agent) == (1, agent)
    assert compute_summary(conn, Window(), Filters(agent="nobody")).empty
    assert compute_summary(conn, Window()).dropped_events == 7
    assert compute_summary(conn, Window(), Filters(run_id="r1")).dropped_events == 3
    assert [r.key for r in compute_breakdown(conn, Window(), Filters(), "model")] == ["m", None]
    with pytest.raises(ValueError):
        compute_breakdown(conn, Window(), Filters(), "colour")


def test_a_reference_database_is_read_without_migrating_it(tmp_path):
    """A database of the reference system (documented columns only, user_version 0) opened read-only."""
    db = tmp_path / "old.db"
    raw = sqlite3.connect(db)
    raw.execute(EVENTS_TABLE)
    raw.execute("INSERT INTO telemetry_events (timestamp, event_type, agent_name, function_name, latency_ms,"
                " cost_usd, success) VALUES (?, 'model_call', 'old', 'f', 5.0, 0.5, 1)", (NOW,))
    raw.commit()
    raw.close()
    conn = store.connect(db, readonly=True)
    summary = compute_summary(conn, Window())
    assert (summary.events, summary.top_agent, summary.total_cost_usd) == (1, "old", 0.5)
    assert compute_summary(conn, Window(), Filters(run_id="r")).empty
    assert [r.key for r in compute_breakdown(conn, Window(), Filters(), "model")] == [None]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0


# --- periods ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds, label", [
    ("30m", 1800, "Last 30 minutes"), ("1h", 3600, "Last 1 hour"), ("24h", 86400, "Last 24 hours"),
    ("1d", 86400, "Last 1 day"), ("7d", 7 * 86400, "Last 7 days"), ("2w", 14 * 86400, "Last 2 weeks"),
])
def test_rolling_periods(text, seconds, label):
    window = parse_period(text, now=NOW)
    assert (window.start, window.end, window.label) == (NOW - seconds, None, label)


def test_today_and_all():
    today = parse_period("today", now=NOW)
    midnight = datetime.fromtimestamp(NOW).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    assert (today.start, today.end, today.label) == (midnight, None, "Today")
    assert parse_period("all", now=NOW) == Window(None, None, "All time", "all")


@pytest.mark.parametrize("text", ["7x", "", "d", "0d", "-1d", "1.5d", "7 days", "week"])
def test_bad_periods(text):
    with pytest.raises(PeriodError, match="unknown period"):
        parse_period(text, now=NOW)
    with pytest.raises(PeriodError):
        parse_duration(text)


@given(st.floats(min_value=NOW - 400 * DAY, max_value=NOW + 400 * DAY))
def test_window_edges_are_half_open(ts):
    window = Window(ts, ts + 1)
    assert window.contains(ts) and not window.contains(ts + 1)


def test_unusable_rows_are_left_out_of_every_figure_and_counted(tmp_path):
    """Rows edited by hand into values no figure can use change nothing but ``skipped_rows``;
    negative numbers are numbers and are used."""
    good = [event(NOW - i * 3600, agent_name=f"a{i % 3}", latency_ms=10.0 * i - 50, cost_usd=None if i == 4 else 0.01 * i,
                  success=i % 5 != 0, error_type=None if i % 5 else "ValueError") for i in range(30)]
    clean = store.connect(write_events(tmp_path / "clean.db", good), readonly=True)
    edited_path = write_events(tmp_path / "edited.db", good)
    bad = [("x", "2026-01-01", 5.0, 1, 0.1, 1), ("slow", NOW, "slow", 1, 0.1, 1), ("y", NOW, 5.0, "yes", 0.1, 1),
           ("z", NOW, 5.0, 1, "cheap", 1), ("w", NOW, 5.0, 1, 0.1, "ten"), ("v", NOW, 5.0, 2, 0.1, 1),
           ("u", 1e300, 5.0, 1, 0.1, 1)]
    with sqlite3.connect(edited_path) as conn:
        conn.executemany("INSERT INTO telemetry_events (agent_name, timestamp, latency_ms, success, cost_usd,"
                         " input_tokens, event_type, function_name) VALUES (?, ?, ?, ?, ?, ?, 'model_call', 'f')", bad)
    edited = store.connect(edited_path, readonly=True)
    for window in (Window(), parse_period("7d", now=NOW + 1)):
        want, got = compute_summary(clean, window), compute_summary(edited, window)
        assert got.skipped_rows == len(bad)  # a text timestamp and 1e300 sort after any window start
        sums = ("total_cost_usd", "daily_cost_usd", "skipped_rows")  # sums: added in another order
        assert {k: v for k, v in got.__dict__.items() if k not in sums} == \
               {k: v for k, v in want.__dict__.items() if k not in sums}
        assert close(got.total_cost_usd, want.total_cost_usd)
        assert got.daily_cost_usd.keys() == want.daily_cost_usd.keys()
        assert all(close(got.daily_cost_usd[day], cost) for day, cost in want.daily_cost_usd.items())
        for by in ("agent", "day", "error_type"):
            assert compute_breakdown(edited, window, Filters(), by) == compute_breakdown(clean, window, Filters(), by)
    assert compute_summary(clean, Window()).skipped_rows == 0
