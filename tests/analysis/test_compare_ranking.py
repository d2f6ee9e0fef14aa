"""The ranking of the tests two runs share (dev_system.analysis.compare), against a reference that
makes a TestChange for every test and sorts them all, on real SQLite files."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dev_system.analysis import compare
from dev_system.analysis import scores as score_stats
from dev_system.store import db as store
from dev_system.store import runs
from dev_system.store.scores import insert_scores, run_scores

NODEIDS = ("t::a", "t::b", "t::c", "t::d", "t::é", "t::B", "u::a", "t::a[1]")

# few values, so that tests tie on one figure and the next decides
_result = st.tuples(st.sampled_from([0.0, 0.01, 0.1, 0.30000000000000004]),  # cost
                    st.integers(0, 2), st.integers(0, 1),  # input and output tokens
                    st.integers(0, 1),  # calls
                    st.none() | st.sampled_from([100.0, 150.0]))  # max latency
_run = st.dictionaries(st.sampled_from(NODEIDS), _result, max_size=len(NODEIDS))
_scores = st.lists(st.tuples(st.sampled_from(NODEIDS), st.sampled_from(["q", "r"]),
                             st.sampled_from([0.0, 0.5, 1.0])), max_size=12)


def _store(conn, run_id: str, started: float, tests: dict, scores: list) -> None:
    runs.finish_run(conn, runs.Run(run_id, started, started + 1, "passed", "pytest", None, None, None,
                                   len(tests), 0, 0, 0, 0, {}))
    runs.write_test_results(conn, run_id, [runs.TestResult(nodeid, "passed", 0.1, calls, tin, tout, cost, 0, latency)
                                           for nodeid, (cost, tin, tout, calls, latency) in tests.items()])
    insert_scores(conn, [(f"{run_id}-{i}", started, run_id, nodeid, None, name, value, None)
                         for i, (nodeid, name, value) in enumerate(scores)])


def _reference(conn, base_id: str, new_id: str) -> list[compare.TestChange]:
    """Every shared test as a TestChange, sorted by the documented rank."""
    base_tests, new_tests = runs.test_results(conn, base_id), runs.test_results(conn, new_id)
    base_means, new_means = score_stats.test_means(run_scores(conn, base_id)), score_stats.test_means(run_scores(conn, new_id))
    out = []
    for nodeid in sorted(base_tests.keys() & new_tests.keys()):
        old, now = base_tests[nodeid], new_tests[nodeid]
        figures = {"cost": (old.cost_usd, now.cost_usd), "tokens": (old.tokens, now.tokens),
                   "calls": (old.events, now.events), "max_latency": (old.max_latency_ms, now.max_latency_ms)}
        names = sorted({name for test, name in (*base_means, *new_means) if test == nodeid})
        scores = {name: compare.Change(name, *(m[(nodeid, name)][0] if (nodeid, name) in m else None
                                               for m in (base_means, new_means))) for name in names}
        out.append(compare.TestChange(nodeid, {name: compare.Change(name, *figures[name])
                                               for name in compare.TEST_FIGURES}, scores))

    def fall(test: compare.TestChange) -> float:
        return max((-(c.delta or 0) for c in test.scores.values()), default=0.0)

    return sorted(out, key=lambda t: (-abs(t.changes["cost"].delta or 0), -abs(t.changes["calls"].delta or 0),
                                      -abs(t.changes["tokens"].delta or 0), -fall(t), t.nodeid))


@settings(max_examples=200, deadline=None)
@given(base=_run, new=_run, base_scores=_scores, new_scores=_scores, limit=st.none() | st.integers(0, 9))
def test_ranked_changes_are_the_reference_sorted_over_every_test(base: dict, new: dict, base_scores: list,
                                                                 new_scores: list, limit: int | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        conn = store.connect(Path(folder) / "t.db")
        try:
            _store(conn, "run-1", 1_790_000_000.0, base, base_scores)
            _store(conn, "run-2", 1_790_000_100.0, new, new_scores)
            comparison = compare.compare_runs(conn, "run-1", "run-2")
            expected = _reference(conn, "run-1", "run-2")
        finally:
            conn.close()
    changed = [t for t in expected if t.changed]
    assert comparison.tests == expected
    assert comparison.changed_count == len(changed)
    assert comparison.changed_tests(limit) == (changed if limit is None else changed[:limit])
    assert comparison.added == sorted(new.keys() - base.keys())
    assert comparison.removed == sorted(base.keys() - new.keys())
    assert set(comparison.as_dict()["tests"]) == {t.nodeid for t in changed}


_event = st.tuples(st.sampled_from(["a", "b"]), st.booleans(), st.sampled_from([None, "Timeout"]),
                   st.none() | st.sampled_from([0.1, 0.2, 0.30000000000000004, 1e-7]),  # cost
                   st.none() | st.integers(0, 5000), st.floats(0, 5000))  # input tokens, latency


@settings(max_examples=60, deadline=None)
@given(events=st.lists(_event, max_size=30), unusable=st.integers(0, 2))
def test_run_totals_are_the_metrics_summary_figures(events: list, unusable: int) -> None:
    from dev_system.analysis.metrics import compute_summary
    from dev_system.analysis.periods import Window
    from dev_system.store.queries import Filters
    from fakes.eventgen import event, write_events

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.db"
        write_events(path, [event(1_790_000_000.0 + i, agent_name=agent, success=ok, error_type=None if ok else error,
                                  cost_usd=cost, input_tokens=tin, latency_ms=latency, run_id="run-1")
                            for i, (agent, ok, error, cost, tin, latency) in enumerate(events)])
        conn = store.connect(path)
        try:
            for i in range(unusable):  # rows no report can use: a text latency, a number for an agent
                conn.execute("INSERT INTO telemetry_events (timestamp, event_type, agent_name, function_name,"
                             " latency_ms, success, run_id) VALUES (?, 'model_call', ?, 'f', ?, 1, 'run-1')",
                             (1_790_000_100.0 + i, 7 if i else "a", "slow" if not i else 5.0))
            conn.commit()
            summary = compute_summary(conn, Window(), Filters(run_id="run-1"))
            assert compare.run_totals(conn, "run-1") == compare.run_totals(conn, "run-1", summary)
        finally:
            conn.close()
