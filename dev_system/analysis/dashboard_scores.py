"""The scores of the HTML report, computed: the figures of each score name over the page's window
or run (and its baseline), their mean per time bucket of the page's charts, and each test's
history over the last runs (cost, slowest call and scores) for the page of a run.

:func:`collect_scores` is called by :func:`dev_system.analysis.dashboard.collect_dashboard`; the
page data is written by :mod:`dev_system.render.html.data`. Bounded like the rest of the page:
aggregated per bucket, at most :data:`HISTORY_RUNS` runs and the tests of the run's table.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import field
from typing import TYPE_CHECKING

from dev_system.analysis.history import figure
from dev_system.analysis.scores import ScoreStat, run_score_stats
from dev_system.store.history import results_of_runs
from dev_system.store.runs import get_run, list_runs
from dev_system.store.score_queries import run_test_scores
from dev_system.store.scores import scores_between
from dev_system.structs import struct

if TYPE_CHECKING:
    import sqlite3

    from dev_system.analysis.periods import Window
    from dev_system.store.queries import Filters

#: The runs a test's history shows at most: the page's run and the ones before it.
HISTORY_RUNS = 10


@struct
class ScoreSeries:
    """Each score name's run figure (mean of the test means) per time bucket; ``None``: no score."""

    labels: list[str]
    names: list[str]
    means: list[list[float | None]]  #: by name, then bucket


@struct
class TestHistoryChart:
    """The tests of a run over the last runs up to it, oldest first: per node id, its cost, its
    slowest call and its scores (name to values) in each run (``None``: not in that run)."""

    __test__ = False  # not a pytest test class

    run_ids: list[str]
    started: list[float]
    tests: dict[str, dict[str, object]] = field(default_factory=dict)


@struct
class PageScores:
    """The scores part of the page: the figures per name (and the baseline's), the series, the
    tests' histories (only for the page of a run)."""

    stats: list[ScoreStat]
    baseline: list[ScoreStat] | None = None
    series: ScoreSeries | None = None
    history: TestHistoryChart | None = None


def _series(scores: Sequence, names: list[str], buckets: Sequence[tuple[str, float, float]]) -> ScoreSeries:
    """The mean of each name per bucket; a score before the first bucket or after the last counts
    in that bucket (the buckets span the events, and a score may come just after the last call)."""
    starts = [start for _, start, _ in buckets]
    per_bucket: list[list] = [[] for _ in buckets]
    for score in scores:
        per_bucket[max(0, bisect.bisect_right(starts, score.timestamp) - 1)].append(score)
    means = []
    for name in names:
        row: list[float | None] = []
        for bucket in per_bucket:
            stats = {s.name: s for s in run_score_stats([x for x in bucket if x.name == name])}
            row.append(stats[name].mean if name in stats else None)
        means.append(row)
    return ScoreSeries([label for label, _, _ in buckets], names, means)


def test_history_chart(conn: sqlite3.Connection, run_id: str, nodeids: Sequence[str], *,
                       runs: int = HISTORY_RUNS) -> TestHistoryChart | None:
    """The history of the tests ``nodeids`` of run ``run_id`` over the ``runs`` runs up to it
    (``None`` when the run is not stored)."""
    run = get_run(conn, run_id)
    if run is None:
        return None
    earlier = [r for r in list_runs(conn, limit=runs, before=run.started_at) if r.run_id != run_id][: runs - 1]
    chosen = [*reversed(earlier), run]
    ids = [r.run_id for r in chosen]
    results = results_of_runs(conn, ids)
    wanted = set(nodeids)
    scores: dict[tuple[str, str], dict[str, float]] = {}
    for score in run_test_scores(conn, ids):
        if score.nodeid in wanted:
            scores.setdefault((score.run_id, score.nodeid), {})[score.name] = score.mean
    tests: dict[str, dict[str, object]] = {}
    for nodeid in nodeids:
        held = [results[i].get(nodeid) for i in ids]
        names = sorted({name for i in ids for name in scores.get((i, nodeid), {})})
        tests[nodeid] = {
            "cost": [None if r is None else figure(r, "cost") for r in held],
            "latency": [None if r is None else figure(r, "latency") for r in held],
            "scores": {name: [scores.get((i, nodeid), {}).get(name) for i in ids] for name in names},
        }
    return TestHistoryChart(ids, [r.started_at for r in chosen], tests)


test_history_chart.__test__ = False  # type: ignore[attr-defined]  # not a pytest test function


def collect_scores(conn: sqlite3.Connection, window: Window, filters: Filters, *,
                   buckets: Sequence[tuple[str, float, float]] = (), run_id: str | None = None,
                   baseline_run_id: str | None = None, nodeids: Sequence[str] = ()) -> PageScores | None:
    """The scores of the page of ``window`` and ``filters`` (only the run filter applies to
    scores): ``None`` when there are none and no run. ``buckets``: the page's time buckets;
    ``run_id``, ``baseline_run_id``, ``nodeids``: the page's run, its baseline and the tests whose
    history it shows."""
    scores = scores_between(conn, window.start, window.end, run_id=filters.run_id)
    history = test_history_chart(conn, run_id, nodeids) if run_id and nodeids else None
    if not scores and history is None:
        return None
    stats = run_score_stats(scores)
    baseline = run_score_stats(scores_between(conn, run_id=baseline_run_id)) if baseline_run_id else None
    series = _series(scores, [s.name for s in stats], buckets) if scores and buckets else None
    return PageScores(stats, baseline, series, history)
