"""Figures over a window of stored events: summaries, breakdowns, percentiles.

Front-end free: the ``dev-system metrics`` command and the pytest plugin both call
:func:`compute_summary` (the plugin with ``Filters(run_id=...)`` and an open window) and get the
same numbers.

Definitions (also in docs/cli.md):

- success rate: successful events / all events, in percent (``None`` for no events);
- percentiles of ``latency_ms``: linear interpolation between closest ranks, what
  ``numpy.percentile`` does by default (:func:`percentile`);
- total cost: the sum of known costs; events whose cost is NULL are counted separately, and told
  apart: a usage whose model has no known price (per model), a usage without a model name, no
  usage at all (a result that carried none, a stream read without its usage);
- replayed cost: the known cost of the calls answered from a recording (a vcrpy cassette,
  ``"replayed": true`` in their metadata): notional, never paid; it is part of the total cost
  (so budgets and regressions work offline) and shown apart; spent = total cost - replayed cost;
- top agent: the agent with the most events, ties broken by name (smallest first);
- failed calls: unsuccessful events, also counted by ``error_type`` (``"unknown"`` when NULL);
- daily cost: the known cost of each local calendar day, counting the window's events only;
- skipped rows: rows edited by hand into values no figure can use (text in a number column, a
  date string as timestamp, NULL where a number is required; :data:`~dev_system.store.queries.USABLE`)
  are left out of every figure and counted.

Speed: the counts come from one grouped scan over the timestamp index, the latencies from
one more scan sorted in Python, the daily costs from one indexed range query per day (the reads
are :mod:`dev_system.store.aggregates`'). The grouped scan also returns each group's MAX of the
number columns (text sorts after numbers) and counts of the required ones, so clean data is known
clean at no extra scan; only a window holding unusable rows is read again with the
:data:`~dev_system.store.queries.USABLE` condition.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from dataclasses import field
from datetime import timedelta
from typing import Any

from dev_system.analysis.periods import Window, day_bounds, drawn_range, local_day, local_midnight
from dev_system.store import aggregates
from dev_system.store.queries import Filters
from dev_system.structs import struct

#: The keys ``compute_breakdown`` can group by, and the column each one reads.
BREAKDOWN_KEYS = {
    "agent": "agent_name",
    "event_type": "event_type",
    "function": "function_name",
    "model": "model",
    "day": "timestamp",
    "error_type": "error_type",
}

UNKNOWN_ERROR = "unknown"


def _ranks(n: int, q: float) -> tuple[int, int, float]:
    """The two closest ranks (0-based) of the ``q``-th percentile of ``n`` sorted values, and the
    fraction of the way from the first to the second."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be between 0 and 100, not {q}")
    rank = (q / 100) * (n - 1)
    low = math.floor(rank)
    return low, min(low + 1, n - 1), rank - low


def _interpolate(a: float, b: float, fraction: float) -> float:
    # numpy's formula on each half of the interval (the same float result as numpy.percentile)
    if fraction >= 0.5:
        return b - (b - a) * (1 - fraction)
    return a + (b - a) * fraction


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) of already sorted values; ``None`` when there are none.

    Linear interpolation between the closest ranks, computed as ``numpy.percentile`` does by
    default (including its choice of interpolation formula on each half of the interval).
    """
    n = len(sorted_values)
    if n == 0:
        return None
    low, high, fraction = _ranks(n, q)
    return _interpolate(sorted_values[low], sorted_values[high], fraction)


#: The latency percentiles every report shows.
PERCENTILES = (50, 95, 99)


def group_percentiles(conn: sqlite3.Connection, chosen: aggregates.Selection, column: str | None,
                      counts: dict[Any, int], qs: Sequence[float] = PERCENTILES, *,
                      in_memory: int = aggregates.IN_MEMORY_LATENCIES) -> dict[Any, list[float | None]]:
    """The ``qs`` percentiles of the latencies of the selected events per value of ``column``
    (``None``: all of them, keyed ``None``); ``counts`` is how many events each key has.

    Up to ``in_memory`` events (:data:`~dev_system.store.aggregates.IN_MEMORY_LATENCIES`), the latencies are read
    and sorted here; beyond, SQLite sorts them and only the values at the needed ranks are kept,
    so memory does not grow with the window. Both give the same numbers."""
    if sum(counts.values()) <= in_memory:
        out = {}
        for key, values in aggregates.latencies_by(conn, chosen, column).items():
            values.sort()
            out[key] = [percentile(values, q) for q in qs]
        return out
    wanted = {key: {r for q in qs for r in _ranks(n, q)[:2]} for key, n in counts.items() if n}
    picked: dict[Any, dict[int, float]] = {key: {} for key in wanted}
    key, position, ranks, values = object(), 0, set(), {}
    for row_key, latency in aggregates.ordered_latencies(conn, chosen, column):
        if row_key != key:
            key, position = row_key, 0
            ranks, values = wanted.get(key, set()), picked.setdefault(key, {})
        if position in ranks:
            values[position] = latency
        position += 1
    out = {}
    for key, n in counts.items():
        if not n:
            continue
        values = picked[key]
        out[key] = [_interpolate(values[low], values[high], fraction)
                    for low, high, fraction in (_ranks(n, q) for q in qs)]
    return out


@struct
class Summary:
    """The figures of one window after filters (see the module docstring for definitions)."""

    window: Window
    filters: Filters
    events: int = 0
    successes: int = 0
    failures: int = 0
    success_rate: float | None = None
    p50_latency_ms: float | None = None
    p95_latency_ms: float | None = None
    p99_latency_ms: float | None = None
    total_cost_usd: float = 0.0
    unknown_cost_events: int = 0
    #: Of the events of unknown cost: those with a usage, per model that has no known price.
    unpriced_models: dict[str, int] = field(default_factory=dict)
    #: Of the events of unknown cost: those with a usage but no model name.
    unknown_cost_without_model: int = 0
    #: Of the events of unknown cost: those without a (whole) usage.
    unknown_cost_without_usage: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    top_agent: str | None = None
    top_agent_events: int = 0
    failures_by_error_type: dict[str, int] = field(default_factory=dict)
    daily_cost_usd: dict[str, float] = field(default_factory=dict)
    dropped_events: int = 0
    skipped_rows: int = 0
    first_timestamp: float | None = None
    last_timestamp: float | None = None
    #: events answered from a recording, and their known (notional, unpaid) cost, in the total
    replayed_events: int = 0
    replayed_cost_usd: float = 0.0
    #: the part of first .. last drawn day by day (:func:`~dev_system.analysis.periods.drawn_range`:
    #: not in the future, at most ten years), ``None`` when nothing is drawn
    drawn_first: float | None = None
    drawn_last: float | None = None
    #: events of the window dated outside ``drawn_first .. drawn_last``: in every figure, in no
    #: daily cost nor chart
    undrawn_events: int = 0

    @property
    def empty(self) -> bool:
        """True when no event is in the window."""
        return self.events == 0

    @property
    def spent_cost_usd(self) -> float:
        """The known cost of the calls that were really made (the total less the replayed cost)."""
        return max(self.total_cost_usd - self.replayed_cost_usd, 0.0)


@struct
class BreakdownRow:
    """The figures of one group of a breakdown (``key`` is ``None`` for events without a value)."""

    key: str | None
    calls: int
    successes: int
    success_rate: float
    p50_latency_ms: float
    p95_latency_ms: float
    p99_latency_ms: float
    input_tokens: int
    output_tokens: int
    cost_usd: float
    unknown_cost_events: int


def rate(successes: int, total: int) -> float | None:
    """``successes / total`` in percent, ``None`` when ``total`` is 0."""
    return None if total == 0 else 100.0 * successes / total


def top_by_count(counts: dict[str, int]) -> tuple[str | None, int]:
    """The key with the highest count, ties broken by the smallest key; ``(None, 0)`` when empty."""
    if not counts:
        return None, 0
    key = min(counts, key=lambda k: (-counts[k], k))
    return key, counts[key]


def compute_summary(conn: sqlite3.Connection, window: Window, filters: Filters = Filters()) -> Summary:
    """The :class:`Summary` of the usable events in ``window`` that pass ``filters``."""
    chosen = aggregates.selection(conn, window, filters)
    groups = aggregates.summary_groups(conn, chosen)
    skipped = 0
    if not aggregates.groups_usable(groups):
        skipped = sum(group.events for group in groups)
        chosen = aggregates.usable_only(chosen)
        groups = aggregates.summary_groups(conn, chosen)
        skipped -= sum(group.events for group in groups)
    dropped = aggregates.dropped_count(conn, window, filters.run_id)
    if not groups:
        return Summary(window, filters, dropped_events=dropped, skipped_rows=skipped)
    events = successes = unknown_cost = 0
    cost = in_tokens = out_tokens = 0.0
    agents: dict[str, int] = {}
    errors: dict[str, int] = {}
    first, last = math.inf, -math.inf
    for agent, success, error_type, count, cost_sum, cost_known, tin, tout, lo, hi, *_ in groups:
        events += count
        cost += cost_sum
        unknown_cost += count - cost_known
        in_tokens += tin
        out_tokens += tout
        first, last = min(first, lo), max(last, hi)
        agents[agent] = agents.get(agent, 0) + count
        if success:
            successes += count
        else:
            key = error_type or UNKNOWN_ERROR
            errors[key] = errors.get(key, 0) + count
    p50, p95, p99 = group_percentiles(conn, chosen, None, {None: events})[None]
    top, top_count = top_by_count(agents)
    unpriced: dict[str, int] = {}
    without_model = without_usage = 0
    if unknown_cost:
        for model, priced_usage, no_usage in aggregates.unknown_cost_models(conn, chosen):
            without_usage += no_usage or 0
            if priced_usage:
                if model is None or model == "":
                    without_model += priced_usage
                else:
                    unpriced[str(model)] = unpriced.get(str(model), 0) + priced_usage
    replayed, replayed_cost = aggregates.replayed_count_and_cost(conn, chosen)
    drawn = drawn_range(first, last)
    undrawn = events
    if drawn is not None:
        undrawn -= aggregates.count_and_cost(conn, _range(conn, window, filters, chosen.present, *drawn,
                                                          usable_only=bool(skipped)))[0]
    return Summary(
        window=window,
        filters=filters,
        events=events,
        successes=successes,
        failures=events - successes,
        success_rate=rate(successes, events),
        p50_latency_ms=p50,
        p95_latency_ms=p95,
        p99_latency_ms=p99,
        total_cost_usd=cost,
        unknown_cost_events=unknown_cost,
        unpriced_models=dict(sorted(unpriced.items(), key=lambda kv: (-kv[1], kv[0]))),
        unknown_cost_without_model=without_model,
        unknown_cost_without_usage=without_usage,
        input_tokens=int(in_tokens),
        output_tokens=int(out_tokens),
        top_agent=top,
        top_agent_events=top_count,
        failures_by_error_type=dict(sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))),
        daily_cost_usd={} if drawn is None else _daily_costs(conn, window, filters, chosen.present, *drawn,
                                                             usable_only=bool(skipped)),
        dropped_events=dropped,
        skipped_rows=skipped,
        first_timestamp=first,
        last_timestamp=last,
        replayed_events=replayed,
        replayed_cost_usd=replayed_cost,
        drawn_first=None if drawn is None else drawn[0],
        drawn_last=None if drawn is None else drawn[1],
        undrawn_events=undrawn,
    )


def _range(conn: sqlite3.Connection, window: Window, filters: Filters, present: set[str], first: float,
           last: float, *, usable_only: bool) -> aggregates.Selection:
    """The events of ``window`` from ``first`` to ``last`` included."""
    lo = first if window.start is None else max(first, window.start)
    hi = math.nextafter(last, math.inf)
    hi = hi if window.end is None else min(hi, window.end)
    chosen = aggregates.selection(conn, Window(lo, hi), filters, present=present)
    return aggregates.usable_only(chosen) if usable_only else chosen


def _daily_costs(conn: sqlite3.Connection, window: Window, filters: Filters, present: set[str],
                 first: float, last: float, *, usable_only: bool = False) -> dict[str, float]:
    out = {}
    for day, start, end in day_bounds(first, last):
        lo = start if window.start is None else max(start, window.start)
        hi = end if window.end is None else min(end, window.end)
        chosen = aggregates.selection(conn, Window(lo, hi), filters, present=present)
        if usable_only:
            chosen = aggregates.usable_only(chosen)
        count, total = aggregates.count_and_cost(conn, chosen)
        if count:
            out[day.isoformat()] = total
    return out


def _row(key: Any, calls: int, ok: int, cost: float, unknown: int, tin: int, tout: int,
         latencies: Sequence[float | None]) -> BreakdownRow:
    p50, p95, p99 = latencies
    return BreakdownRow(
        key=None if key is None else str(key), calls=calls, successes=ok, success_rate=100.0 * ok / calls,
        p50_latency_ms=p50, p95_latency_ms=p95, p99_latency_ms=p99, input_tokens=tin, output_tokens=tout,
        cost_usd=cost, unknown_cost_events=unknown,
    )


def compute_breakdown(conn: sqlite3.Connection, window: Window, filters: Filters, by: str) -> list[BreakdownRow]:
    """The usable events of ``window`` passing ``filters`` grouped by ``by`` (a key of :data:`BREAKDOWN_KEYS`).

    Rows are ordered by calls (most first) then key; a ``day`` breakdown is ordered by day.
    """
    if by not in BREAKDOWN_KEYS:
        raise ValueError(f"unknown breakdown {by!r}: use one of {', '.join(BREAKDOWN_KEYS)}")
    if by == "day":
        rows = _day_breakdown(conn, window, filters)
        rows.sort(key=lambda r: r.key or "")
        return rows
    # The sums by SQL, the latencies of each group read in order: summing every event in Python
    # would be most of a run summary's time.
    chosen = aggregates.usable_only(aggregates.selection(conn, window, filters))
    column = BREAKDOWN_KEYS[by]
    sums = aggregates.breakdown_sums(conn, chosen, column)
    latencies = group_percentiles(conn, chosen, column, {row[0]: row[1] for row in sums})
    rows = [_row(key, calls, ok, cost, unknown, tin, tout, latencies.get(key, [None] * 3))
            for key, calls, ok, cost, unknown, tin, tout in sums]
    rows.sort(key=lambda r: (-r.calls, r.key is None, r.key or ""))
    return rows


def _day_breakdown(conn: sqlite3.Connection, window: Window, filters: Filters) -> list[BreakdownRow]:
    """The events by local calendar day: each day with events is one indexed range (a day is a
    range of timestamps that SQL cannot name without the local time zone), found by seeking the
    first event after the previous day, so that memory holds one day's latencies at most."""
    rows: list[BreakdownRow] = []
    present = None

    def between(lo: float | None, hi: float | None) -> aggregates.Selection:
        # One lower and one upper bound: SQLite ranges the index on one of each only.
        nonlocal present
        lo = window.start if lo is None else lo if window.start is None else max(lo, window.start)
        hi = window.end if hi is None else hi if window.end is None else min(hi, window.end)
        chosen = aggregates.selection(conn, Window(lo, hi), filters, present=present)
        present = chosen.present
        return aggregates.usable_only(chosen)

    timestamp = aggregates.first_timestamp(conn, between(None, None))
    while timestamp is not None:
        day = local_day(timestamp)
        start, end = local_midnight(day), local_midnight(day + timedelta(days=1))
        if end <= timestamp:  # a clock change that repeats an hour: never loop on one day
            end = math.nextafter(timestamp, math.inf)
        day_chosen = between(start, end)
        calls, ok, cost, unknown, tin, tout = aggregates.totals(conn, day_chosen)
        if calls:
            latencies = group_percentiles(conn, day_chosen, None, {None: calls})[None]
            rows.append(_row(day.isoformat(), calls, ok, cost, unknown, tin, tout, latencies))
        timestamp = aggregates.first_timestamp(conn, between(end, None))
    return rows
