"""The run report's derived lists (the pytest plugin's summary)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dev_system.store.runs import TestResult
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


_raw_rows = st.lists(st.tuples(
    st.booleans(), st.one_of(st.none(), st.integers(0, 10**6)), st.one_of(st.none(), st.integers(0, 10**6)),
    st.one_of(st.none(), st.floats(0, 10, allow_nan=False)), st.floats(0, 100, allow_nan=False),
), max_size=4)


@given(rows=_raw_rows)
@settings(max_examples=300, deadline=None)
def test_a_tests_figures_from_raw_records_equal_those_of_its_events(rows):
    """The plugin reads a test's figures from its raw records (one of them, most often, by a
    shortcut); they must be the figures of the events the writer makes of those records."""
    from dev_system.record.raw import RAW_FIELDS
    from dev_system.record.recorder import get_recorder
    from pytest_devtelemetry.figures import figures_of_events
    from pytest_devtelemetry.running_test import SessionWatcher, TestTelemetry

    raws = []
    for i, (success, tokens_in, tokens_out, cost, latency_s) in enumerate(rows):
        fields = dict.fromkeys(RAW_FIELDS)
        fields.update(start=1.0, event_type="model_call", agent_name="a", function_name="f",
                      input_tokens=tokens_in, output_tokens=tokens_out, latency_s=latency_s, cost_usd=cost,
                      success=success, root_span=i + 1, span=i + 1, trace_id="t")
        raws.append(tuple(fields[name] for name in RAW_FIELDS))
    capture = TestTelemetry("test_x.py::test_y", SessionWatcher(), raws)  # not started: figures only
    events = [get_recorder().finish(raw) for raw in raws]
    assert capture.figures() == figures_of_events(events).as_dict()
