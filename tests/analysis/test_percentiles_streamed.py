"""Percentiles of windows too large to sort in memory: read in SQLite's order, the same numbers.

``group_percentiles`` sorts small selections in Python and, beyond a bound, lets SQLite sort
and keeps only the values at the needed ranks. Both must give the reference percentile (numpy's
linear interpolation, written the plain way) of every group, exactly.
"""

from __future__ import annotations

import math
import tempfile
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dev_system.analysis.metrics import PERCENTILES, compute_breakdown, compute_summary, group_percentiles
from dev_system.analysis.periods import Window
from dev_system.store import aggregates
from dev_system.store import db as store
from dev_system.store.queries import Filters
from fakes.eventgen import event, write_events

NOW = 1_793_100_000.0


def reference(values, q):
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    below, above = math.floor(position), math.ceil(position)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


rows = st.lists(st.tuples(st.sampled_from(["a", "b", "c", None]),
                          st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)),
                min_size=1, max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows)
def test_streamed_and_in_memory_percentiles_are_the_reference(data):
    with tempfile.TemporaryDirectory() as folder:
        path = write_events(Path(folder) / "t.db", [
            event(NOW - 1000 + i, model=model, latency_ms=latency) for i, (model, latency) in enumerate(data)])
        conn = store.connect(path, readonly=True)
        try:
            chosen = aggregates.selection(conn, Window(None, None))
            groups = defaultdict(list)
            for model, latency in data:
                groups[model].append(latency)
            counts = {key: len(values) for key, values in groups.items()}
            for limit in (0, 10**9):  # streamed from SQLite, sorted in memory
                got = group_percentiles(conn, chosen, "model", counts, in_memory=limit)
                assert set(got) == set(groups)
                for key, values in groups.items():
                    assert all(close(g, reference(values, q)) for g, q in zip(got[key], PERCENTILES)), (key, limit)
                whole = group_percentiles(conn, chosen, None, {None: len(data)}, in_memory=limit)[None]
                assert all(close(g, reference([v for _, v in data], q)) for g, q in zip(whole, PERCENTILES))
        finally:
            conn.close()


def test_day_breakdown_reads_one_day_at_a_time_and_matches_the_summary(tmp_path):
    events = [event(NOW - 3 * 86400 + i * 977.0, latency_ms=float((i * 37) % 1000), cost_usd=None if i % 7 == 0 else 0.5)
              for i in range(300)]
    conn = store.connect(write_events(tmp_path / "t.db", events), readonly=True)
    try:
        window = Window(NOW - 10 * 86400, None)
        rows = compute_breakdown(conn, window, Filters(), "day")
        summary = compute_summary(conn, window)
    finally:
        conn.close()
    assert sum(r.calls for r in rows) == 300
    assert [r.key for r in rows] == sorted(summary.daily_cost_usd)
    for r in rows:
        assert close(r.cost_usd, summary.daily_cost_usd[r.key])
        day_events = [e for e in events if datetime.fromtimestamp(e.timestamp).date().isoformat() == r.key]
        assert r.calls == len(day_events)
        assert r.unknown_cost_events == sum(e.cost_usd is None for e in day_events)
        assert close(r.p95_latency_ms, reference([e.latency_ms for e in day_events], 95))
