"""The run report's derived lists (the pytest plugin's summary)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings, strategies as st

from dev_system.ops.runs import TestResult
from pytest_devtelemetry.runreport import RunReport

_results = st.builds(
    TestResult,
    nodeid=st.sampled_from([f"test_x.py::test_{i}" for i in range(12)]),
    outcome=st.sampled_from(["passed", "failed"]),
    duration_s=st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0]), st.floats(0, 5)),
    events=st.integers(0, 3),
    input_tokens=st.sampled_from([0, 10, 100]),
    output_tokens=st.sampled_from([0, 5]),
    cost_usd=st.sampled_from([0.0, 0.01, 0.02]),
    unknown_cost=st.integers(0, 1),
    max_latency_ms=st.none(),
)


@given(tests=st.lists(_results, max_size=40), n=st.integers(0, 8))
@settings(max_examples=300, deadline=None)
def test_top_lists_are_the_first_n_of_the_whole_ranking(tests, n):
    """most_expensive and slowest pick the top n without sorting every test: they must still be
    exactly the first n of the full ranking, ties broken the same way."""
    report = RunReport("run", Path("t.db"), tests=tests)
    with_events = [t for t in tests if t.events]
    assert report.most_expensive(n) == sorted(
        with_events, key=lambda t: (-t.cost_usd, -t.tokens, -t.events, t.nodeid))[:n]
    assert report.slowest(n) == sorted(with_events, key=lambda t: (-(t.duration_s or 0.0), t.nodeid))[:n]
