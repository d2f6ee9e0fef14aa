"""The reads behind ``dev-system history`` and ``scores``: the same rows as a reference computed
from every row, and found through the primary key of ``test_results`` and the ``(run_id, nodeid)``
index of ``scores`` (never a scan of either table)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dev_system.analysis.history import drifting_tests, test_history
from dev_system.store import db as store
from dev_system.store.history import results_of_runs, test_runs
from dev_system.store.runs import Run, TestResult, finish_run, write_test_results
from dev_system.store.score_queries import run_test_scores

NODES = ("t::a", "t::b", "t::c")
RUNS = tuple(f"run-{i}" for i in range(6))

results = st.lists(st.tuples(st.sampled_from(RUNS), st.sampled_from(NODES), st.floats(0, 1, allow_nan=False),
                             st.one_of(st.none(), st.floats(0, 5000, allow_nan=False))), max_size=25)
scores = st.lists(st.tuples(st.sampled_from(RUNS), st.sampled_from((*NODES, None)), st.sampled_from(("x", "y")),
                            st.floats(-1, 1, allow_nan=False)), max_size=25)


def _fill(path: Path, result_rows: list, score_rows: list) -> sqlite3.Connection:
    conn = store.connect(path)
    for i, run_id in enumerate(RUNS):  # run-5 is the newest
        finish_run(conn, Run(run_id, 1000.0 + i, 1000.5 + i, "passed"))
    by_run: dict[str, dict[str, TestResult]] = {}
    for run_id, nodeid, cost, latency in result_rows:
        by_run.setdefault(run_id, {})[nodeid] = TestResult(nodeid, "passed", 0.1, 1, 1, 1, cost, 0, latency)
    for run_id, tests in by_run.items():
        write_test_results(conn, run_id, tests.values())
    conn.executemany("INSERT INTO scores (score_id, timestamp, run_id, nodeid, trace_id, name, value)"
                     " VALUES (?, 0, ?, ?, NULL, ?, ?)",
                     [(f"s{i}", r, n, name, v) for i, (r, n, name, v) in enumerate(score_rows)])
    conn.commit()
    return conn


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(result_rows=results, score_rows=scores, nodeid=st.sampled_from(NODES), limit=st.sampled_from([None, 1, 3]))
def test_the_reads_match_a_reference_over_every_row(tmp_path: Path, result_rows, score_rows, nodeid, limit):
    conn = _fill(tmp_path / f"{os.urandom(4).hex()}.db", result_rows, score_rows)
    try:
        stored: dict[tuple[str, str], tuple] = {}
        for run_id, node, cost, latency in result_rows:  # the last write of a test in a run wins
            stored[(run_id, node)] = (cost, latency)
        newest_first = [r for r in reversed(RUNS) if (r, nodeid) in stored]
        expected = newest_first if limit is None else newest_first[:limit]
        found = test_runs(conn, nodeid, limit=limit)
        assert [run.run_id for run, _ in found] == expected
        assert [(r.cost_usd, r.max_latency_ms) for _, r in found] == [stored[(run_id, nodeid)] for run_id in expected]
        assert {run_id: set(tests) for run_id, tests in results_of_runs(conn, RUNS).items()} == {
            run_id: {n for (r, n) in stored if r == run_id} for run_id in RUNS}

        groups: dict[tuple[str, str, str], list[float]] = {}
        for run_id, node, name, value in score_rows:
            if node is not None:
                groups.setdefault((run_id, node, name), []).append(value)
        got = {(s.run_id, s.nodeid, s.name): (s.mean, s.count) for s in run_test_scores(conn, RUNS)}
        assert got.keys() == groups.keys()
        for key, values in groups.items():
            assert got[key][0] == pytest.approx(sum(values) / len(values))
            assert got[key][1] == len(values)

        if expected:  # the trend runs from the oldest run shown to the newest
            history = test_history(conn, nodeid, runs=limit)
            cost = history.trends["cost"]
            assert (cost.base, cost.new) == (stored[(expected[-1], nodeid)][0], stored[(expected[0], nodeid)][0])
    finally:
        conn.close()


def test_history_reads_use_the_primary_key_and_the_index(tmp_path: Path) -> None:
    conn = _fill(tmp_path / "t.db", [(r, n, 0.1, 5.0) for r in RUNS for n in NODES],
                 [(r, n, "x", 0.5) for r in RUNS for n in NODES])
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        test_history(conn, "t::a", runs=3)
        drifting_tests(conn, runs=4, sort="score.x")
        conn.set_trace_callback(None)
        plans = []
        for sql in statements:
            if sql.lstrip().upper().startswith("SELECT") and ("test_results" in sql or "FROM scores" in sql) \
                    and "sqlite_master" not in sql:  # the schema checks read the catalogue
                plans.append(" | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)))
    finally:
        conn.close()
    assert len(plans) >= 4
    for plan in plans:
        assert "SCAN t" not in plan.replace("SCAN r", "") and "SCAN scores" not in plan, plan
        assert "sqlite_autoindex_test_results_1" in plan or "ix_scores_run_node" in plan, plan


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(result_rows=results, runs=st.sampled_from([None, 2, 4]))
def test_drifting_tests_rank_as_a_reference_does(tmp_path: Path, result_rows, runs):
    conn = _fill(tmp_path / f"{os.urandom(4).hex()}.db", result_rows, [])
    try:
        report = drifting_tests(conn, runs=runs, sort="cost", limit=None)
    finally:
        conn.close()
    stored: dict[tuple[str, str], float] = {}
    for run_id, node, cost, _ in result_rows:
        stored[(run_id, node)] = cost
    recent = list(reversed(RUNS))[:runs]  # newest first
    expected = {}
    for node in NODES:
        costs = [stored[(r, node)] for r in recent if (r, node) in stored]  # newest first
        if len(costs) >= 2:
            first, last = costs[-1], costs[0]
            rel = float("inf") if first == 0 and last != 0 else 0.0 if first == 0 else abs(last - first) / first * 100
            expected[node] = (first, last, rel, abs(last - first))
    assert report.run_ids == recent and report.candidates == len(expected)
    assert {d.nodeid: (d.trends["cost"].base, d.trends["cost"].new) for d in report.tests} == {
        node: values[:2] for node, values in expected.items()}
    sizes = [(expected[d.nodeid][2], expected[d.nodeid][3]) for d in report.tests]
    for (rel_a, abs_a), (rel_b, abs_b) in zip(sizes, sizes[1:]):  # most changed first: relative, then absolute
        assert rel_a > rel_b or (rel_a == pytest.approx(rel_b) and abs_a >= abs_b - 1e-12)
