"""A test's figures across runs, and the tests whose figures drifted most.

:func:`test_history` is one test over its last runs (newest first): outcome, calls, tokens, cost,
slowest call and each score, and the trend of each from the oldest run shown to the newest.
:func:`drifting_tests` looks at every test of the last runs and ranks them by how much one
figure (cost, latency or a score) changed between the first and the last run that holds them,
so a slow drift shows before any single comparison flags it.

Reads through :mod:`dev_system.store.history`, :mod:`dev_system.store.runs` and
:mod:`dev_system.store.score_queries`; formats nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any

from dev_system.analysis.compare import Change
from dev_system.store.history import results_of_runs, test_runs
from dev_system.store.runs import list_runs
from dev_system.store.score_queries import run_test_scores
from dev_system.structs import struct

if TYPE_CHECKING:
    import sqlite3

    from dev_system.store.runs import Run, TestResult

#: The figures of a test followed across runs: name, and how to read it from a stored result.
FIGURES = ("cost", "latency", "tokens", "calls")
#: What ``--sort`` accepts besides ``score.NAME``.
SORT_KEYS = ("cost", "latency")
_SCORE_SORT = re.compile(r"^score\.(.+)$")


class HistoryError(ValueError):
    """A test or a sort key that cannot be used; the message is one line for a person."""


def figure(result: TestResult, name: str) -> float | None:
    """One figure of a stored test result: ``cost`` (USD), ``latency`` (its slowest call, ms;
    ``None`` without calls), ``tokens``, ``calls``."""
    if name == "cost":
        return result.cost_usd
    if name == "latency":
        return result.max_latency_ms
    if name == "tokens":
        return float(result.tokens)
    return float(result.events)


@struct
class HistoryRow:
    """One run of a test: the run, the test's stored result, its scores (name to mean)."""

    run: Run
    result: TestResult
    scores: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        result = self.result
        return {"run_id": self.run.run_id, "started_at": self.run.started_at, "git_branch": self.run.git_branch,
                "git_commit": self.run.git_commit, "outcome": result.outcome, "calls": result.events,
                "tokens": result.tokens, "cost_usd": result.cost_usd, "unknown_cost": result.unknown_cost,
                "slowest_call_ms": result.max_latency_ms, "duration_s": result.duration_s,
                "scores": dict(self.scores)}


def _trend_dict(trends: dict[str, Change]) -> dict[str, Any]:
    return {name: change.as_dict() for name, change in trends.items()}


@struct
class TestHistory:
    """A test over its last runs: ``rows`` newest first; ``trends`` each figure (:data:`FIGURES`)
    and each score (``score.NAME``) from the oldest row to the newest that hold it."""

    __test__ = False  # not a pytest test class

    nodeid: str
    rows: list[HistoryRow] = field(default_factory=list)
    trends: dict[str, Change] = field(default_factory=dict)

    @property
    def score_names(self) -> list[str]:
        """Every score name of the rows, sorted."""
        return sorted({name for row in self.rows for name in row.scores})

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"nodeid": self.nodeid, "runs": [row.as_dict() for row in self.rows],
                "trend": _trend_dict(self.trends)}


def _trend(name: str, values_newest_first: Sequence[float | None]) -> Change | None:
    """The change from the oldest known value to the newest (``None`` with fewer than one)."""
    known = [v for v in values_newest_first if v is not None]
    if not known:
        return None
    return Change(name, known[-1], known[0])


def _trends(series: dict[str, list[float | None]]) -> dict[str, Change]:
    out = {}
    for name, values in series.items():
        change = _trend(name, values)
        if change is not None:
            out[name] = change
    return out


def test_history(conn: sqlite3.Connection, nodeid: str, *, runs: int | None = 10) -> TestHistory:
    """Test ``nodeid`` over the last ``runs`` runs that hold a result for it (``None``: all).
    Raises :class:`HistoryError` when no run holds it."""
    found = test_runs(conn, nodeid, limit=runs)
    if not found:
        raise HistoryError(f"no run holds a result for test {nodeid!r} (see 'dev-system history --tests')")
    scores: dict[str, dict[str, float]] = {}
    for score in run_test_scores(conn, [run.run_id for run, _ in found], nodeid):
        scores.setdefault(score.run_id, {})[score.name] = score.mean
    rows = [HistoryRow(run, result, scores.get(run.run_id, {})) for run, result in found]
    history = TestHistory(nodeid, rows)
    series: dict[str, list[float | None]] = {name: [figure(r.result, name) for r in rows] for name in FIGURES}
    for name in history.score_names:
        series[f"score.{name}"] = [r.scores.get(name) for r in rows]
    history.trends.update(_trends(series))
    return history


test_history.__test__ = False  # type: ignore[attr-defined]  # not a pytest test function


def parse_sort(text: str) -> str:
    """A ``--sort`` key: ``cost``, ``latency`` or ``score.NAME``; raises :class:`HistoryError`."""
    if text in SORT_KEYS or (_SCORE_SORT.match(text) and text.strip() != "score."):
        return text
    raise HistoryError(f"cannot sort by {text!r}: use cost, latency or score.NAME")


@struct
class Drift:
    """One test over the last runs: in how many it ran, and the trend of each figure and score
    (``cost``, ``latency``, ``score.NAME``) from the first run that holds it to the last."""

    nodeid: str
    runs: int
    trends: dict[str, Change] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"nodeid": self.nodeid, "runs": self.runs, "trend": _trend_dict(self.trends)}


@struct
class DriftReport:
    """The tests of the last runs that changed most by ``sort``, most first (``tests``), out of
    ``candidates`` tests that ran at least twice with that figure; ``run_ids`` newest first."""

    sort: str
    run_ids: list[str]
    candidates: int
    tests: list[Drift] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"sort": self.sort, "runs": list(self.run_ids), "candidates": self.candidates,
                "tests": [drift.as_dict() for drift in self.tests]}


def _size(change: Change) -> tuple[float, float]:
    """How much a trend changed, for ranking: the relative change first (from zero counts as the
    most), then the absolute one."""
    delta = abs(change.delta or 0.0)
    rel = change.relative
    return (math.inf if rel is not None and math.isinf(rel) else abs(rel or 0.0)), delta


def drifting_tests(conn: sqlite3.Connection, *, runs: int | None = 10, sort: str = "cost",
                   limit: int | None = 10) -> DriftReport:
    """The tests of the last ``runs`` runs (``None``: all) whose ``sort`` figure (``cost``,
    ``latency``, ``score.NAME``) changed most from the first run that holds it to the last, at
    most ``limit`` (``None``: all). A test needs two runs with that figure to be ranked."""
    sort = parse_sort(sort)
    recent = list_runs(conn, limit=runs)
    run_ids = [run.run_id for run in recent]
    results = results_of_runs(conn, run_ids)
    scores: dict[tuple[str, str], dict[str, float]] = {}
    for score in run_test_scores(conn, run_ids):
        scores.setdefault((score.run_id, score.nodeid), {})[score.name] = score.mean
    nodeids = sorted({nodeid for per_run in results.values() for nodeid in per_run})
    ranked = []
    for nodeid in nodeids:
        held = [(run_id, results[run_id][nodeid]) for run_id in run_ids if nodeid in results[run_id]]
        series: dict[str, list[float | None]] = {name: [figure(r, name) for _, r in held] for name in SORT_KEYS}
        named = sorted({name for run_id, _ in held for name in scores.get((run_id, nodeid), {})})
        for name in named:
            series[f"score.{name}"] = [scores.get((run_id, nodeid), {}).get(name) for run_id, _ in held]
        if sum(v is not None for v in series.get(sort, ())) < 2:
            continue
        ranked.append(Drift(nodeid, len(held), _trends(series)))
    ranked.sort(key=lambda d: tuple(-x for x in _size(d.trends[sort])))  # stable: node id order on ties
    shown = ranked if limit is None else ranked[:limit]
    return DriftReport(sort, run_ids, len(ranked), shown)
