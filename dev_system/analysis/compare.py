"""Comparing two test runs: totals and per-test changes in cost, tokens, calls, latency and
quality scores, and the regressions beyond given limits (a score regresses when it falls).

Figures only, shared by ``pytest --telemetry-compare`` and ``dev-system compare A B``:

    base = find_baseline(conn, run_id)                 # or runs.resolve_run(conn, "latest~1")
    comparison = compare_runs(conn, base.run_id, run_id)
    failures = regressions(comparison, parse_limits("cost:10%,p95:20%,calls:0"))
    print("\\n".join(comparison_lines(comparison)))      # dev_system.render.compare

Totals are the figures ``dev-system metrics --run`` would show for each run's events (read the
way :func:`dev_system.analysis.metrics.compute_summary` reads them); per-test figures come from
``test_results``, the two runs paired by node id in SQLite and kept as plain rows (a run holds
thousands of tests: a :class:`TestChange` is made only for a test shown); scores from each run's
``scores`` rows (:mod:`dev_system.analysis.scores`: a test's mean, the run's mean over its tests).
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any

from dev_system.analysis.scores import run_score_stats, test_means
from dev_system.store.prune import PRUNED_EVENTS
from dev_system.store.runs import (
    COMPLETED,
    Run,
    TestResult,
    event_totals,
    get_run,
    list_runs,
    paired_test_figures,
    test_results,
)
from dev_system.store.scores import run_scores
from dev_system.structs import struct

if TYPE_CHECKING:
    import sqlite3

    from dev_system.analysis.metrics import Summary

#: The totals compared, in the order they are shown: name -> (label, kind).
TOTALS = {
    "cost": ("cost", "usd"),
    "tokens": ("tokens", "int"),
    "calls": ("calls", "int"),
    "failures": ("failed calls", "int"),
    "p50": ("p50 latency", "ms"),
    "p95": ("p95 latency", "ms"),
    "p99": ("p99 latency", "ms"),
}
#: The per-test figures compared.
TEST_FIGURES = ("cost", "tokens", "calls", "max_latency")

#: The prefix of a score's limit: ``score.correctness:5%`` (the largest fall of its run mean allowed).
SCORE_PREFIX = "score."

LIMIT_HELP = ("comma-separated METRIC:LIMIT, METRIC one of " + ", ".join(TOTALS) + " or score.NAME"
              + "; LIMIT a percentage (10%) or an amount (0.05, 0): the largest increase allowed "
              + "(for a score: the largest fall)")

_LIMIT = re.compile(r"^\s*([a-z0-9_.]+)\s*:\s*([0-9]*\.?[0-9]+)\s*(%?)\s*$", re.IGNORECASE)


class LimitError(ValueError):
    """A ``--telemetry-compare-fail`` / ``--fail`` spec that cannot be parsed (one line for a person)."""


@struct
class Limit:
    """The largest increase of ``metric`` allowed: ``value`` percent when ``relative``, else an amount."""

    metric: str
    value: float
    relative: bool

    def __str__(self) -> str:
        return f"{self.metric}:{_number(self.value)}{'%' if self.relative else ''}"


def parse_limits(spec: str) -> list[Limit]:
    """``"cost:10%,p95:20%,calls:0"`` -> limits. Raises :class:`LimitError`."""
    limits = []
    seen = set()
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        match = _LIMIT.match(part)
        if not match:
            raise LimitError(f"cannot read the limit {part.strip()!r}: use {LIMIT_HELP}")
        metric = match.group(1)
        if metric.lower().startswith(SCORE_PREFIX):
            from dev_system.config import is_score_name

            metric = SCORE_PREFIX + metric[len(SCORE_PREFIX):]  # score names keep their case
            if not is_score_name(metric[len(SCORE_PREFIX):]):
                raise LimitError(f"{metric[len(SCORE_PREFIX):]!r} in {part.strip()!r} is not a score name "
                                 "(an identifier)")
        else:
            metric = metric.lower()
        if metric not in TOTALS and not metric.startswith(SCORE_PREFIX):
            raise LimitError(f"unknown metric {metric!r} in {part.strip()!r}: use one of {', '.join(TOTALS)}, "
                             "or score.NAME")
        if metric in seen:
            raise LimitError(f"{metric!r} is limited twice")
        seen.add(metric)
        limits.append(Limit(metric, float(match.group(2)), bool(match.group(3))))
    if not limits:
        raise LimitError(f"no limits given: use {LIMIT_HELP}")
    return limits


@struct
class Change:
    """One figure in the baseline run and in the new run (``None``: not available, e.g. no events)."""

    metric: str
    base: float | None
    new: float | None

    @property
    def delta(self) -> float | None:
        """``new - base`` (``None`` when either is unknown)."""
        if self.base is None or self.new is None:
            return None
        return self.new - self.base

    @property
    def relative(self) -> float | None:
        """The change in percent of the baseline; ``inf`` from 0 to more, ``None`` when unknown or 0 -> 0."""
        delta = self.delta
        if delta is None:
            return None
        if self.base == 0:
            return None if delta == 0 else math.copysign(math.inf, delta)
        return 100.0 * delta / abs(self.base)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (an infinite relative change is written as ``null`` with ``from_zero``)."""
        rel = self.relative
        return {"base": self.base, "new": self.new, "delta": self.delta,
                "relative_pct": None if rel is None or math.isinf(rel) else rel,
                "from_zero": rel is not None and math.isinf(rel)}


@struct
class TestChange:
    """The changes of one test present in both runs."""

    __test__ = False

    nodeid: str
    changes: dict[str, Change]
    #: The test's mean of each score either run recorded (name -> change; ``None`` on the side
    #: that did not record it).
    scores: dict[str, Change] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """True when any figure or score moved."""
        return any(c.delta not in (None, 0) for c in self.changes.values()) or any(
            c.base != c.new for c in self.scores.values())


@struct
class Regression:
    """A total that grew beyond its limit."""

    limit: Limit
    change: Change
    message: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"metric": self.limit.metric, "limit": str(self.limit), "message": self.message,
                **self.change.as_dict()}


class TestPairs:
    """The tests present in both runs, as plain rows (``dev_system.store.runs.PAIRED_COLUMNS``: node
    id, then each figure in the baseline run and in the new run) and the score changes of the
    tests that recorded scores. A :class:`TestChange` is made only for a test asked for: a run
    holds thousands of tests and a comparison shows ten.

    Tests are ranked by the largest change of cost, then of calls, then of tokens (in absolute
    value), then the largest fall of a score, then node id."""

    __test__ = False

    def __init__(self, rows: Iterable[tuple[Any, ...]] = (), scores: dict[str, dict[str, Change]] | None = None):
        self.rows = list(rows)
        #: node id -> the test's score changes (name -> change), for the tests with scores only.
        self.scores = scores or {}
        self._changed: list[tuple[Any, ...]] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TestPairs):
            return NotImplemented
        return self.rows == other.rows and self.scores == other.scores

    def __repr__(self) -> str:
        return f"TestPairs({len(self.rows)} tests, {len(self.changed_rows())} changed)"

    def changed_rows(self) -> list[tuple[Any, ...]]:
        """The rows of the tests that changed a figure or a score, in node id order."""
        if self._changed is None:
            moved = {nodeid for nodeid, scores in self.scores.items()
                     if any(c.base != c.new for c in scores.values())}
            # cost, tokens and calls are never NULL (NOT NULL columns); a max latency may be
            self._changed = [r for r in self.rows if r[2] - r[1] or r[4] - r[3] or r[6] - r[5]
                             or (r[7] is not None and r[8] is not None and r[8] - r[7]) or r[0] in moved]
        return self._changed

    def ranked(self, limit: int | None = None, *, changed_only: bool = True) -> list[TestChange]:
        """The first ``limit`` tests by rank (``None``: all), of those that changed unless
        ``changed_only`` is false."""
        rows = self.changed_rows() if changed_only else self.rows
        if limit is None or limit < 0 or limit >= len(rows):
            chosen = sorted(rows, key=self._rank_key)[:limit]
        else:
            chosen = heapq.nsmallest(limit, rows, key=self._rank_key)
        return [self._test_change(row) for row in chosen]

    def _rank_key(self, r: tuple[Any, ...]) -> tuple[Any, ...]:
        scores = self.scores.get(r[0])
        fall = max((-(c.delta or 0) for c in scores.values()), default=0.0) if scores else 0.0
        return -abs(r[2] - r[1]), -abs(r[6] - r[5]), -abs(r[4] - r[3]), -fall, r[0]

    def _test_change(self, r: tuple[Any, ...]) -> TestChange:
        changes = {name: Change(name, r[1 + 2 * i], r[2 + 2 * i]) for i, name in enumerate(TEST_FIGURES)}
        return TestChange(r[0], changes, dict(self.scores.get(r[0], {})))


@struct
class Comparison:
    """A new run against its baseline."""

    base: Run
    new: Run
    totals: dict[str, Change]
    #: The tests present in both runs (their figures as rows; see :meth:`changed_tests`).
    pairs: TestPairs = field(default_factory=TestPairs)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: The run's mean of each score either run recorded (name -> change), by name.
    scores: dict[str, Change] = field(default_factory=dict)

    @property
    def tests(self) -> list[TestChange]:
        """Every test present in both runs, ranked (those that changed most first). Makes an
        object per test: to show the top few, use :meth:`changed_tests`."""
        return self.pairs.ranked(changed_only=False)

    @property
    def changed_count(self) -> int:
        """How many tests changed a figure or a score."""
        return len(self.pairs.changed_rows())

    def changed_tests(self, limit: int | None = None) -> list[TestChange]:
        """The ``limit`` tests that changed most (``None``: every test that changed), ranked."""
        return self.pairs.ranked(limit)

    def as_dict(self, regressions: Sequence[Regression] = ()) -> dict[str, Any]:
        """A JSON-ready dict (the ``comparison`` of the pytest JSON report, ``dev-system compare --format json``)."""
        return {
            "base_run": self.base.run_id,
            "new_run": self.new.run_id,
            "totals": {name: change.as_dict() for name, change in self.totals.items()},
            "scores": {name: change.as_dict() for name, change in self.scores.items()},
            "tests": {t.nodeid: {**{name: c.as_dict() for name, c in t.changes.items()},
                                 **({"scores": {name: c.as_dict() for name, c in t.scores.items()}} if t.scores else {})}
                      for t in self.changed_tests()},
            "added_tests": list(self.added),
            "removed_tests": list(self.removed),
            "regressions": [r.as_dict() for r in regressions],
        }


def run_totals(conn: sqlite3.Connection, run_id: str, summary: Summary | None = None) -> dict[str, float | None]:
    """The compared totals of one run (latencies are ``None`` when the run recorded no event):
    ``summary``'s figures when given, else the same figures read as
    :func:`dev_system.analysis.metrics.compute_summary` reads them (the same queries, summed in
    the same order), without the rest of a summary."""
    if summary is not None:
        return {
            "cost": summary.total_cost_usd,
            "tokens": summary.input_tokens + summary.output_tokens,
            "calls": summary.events,
            "failures": summary.failures,
            "p50": summary.p50_latency_ms,
            "p95": summary.p95_latency_ms,
            "p99": summary.p99_latency_ms,
        }
    from dev_system.analysis.metrics import group_percentiles
    from dev_system.analysis.periods import Window
    from dev_system.store import aggregates
    from dev_system.store.queries import Filters

    chosen = aggregates.selection(conn, Window(None, None), Filters(run_id=run_id))
    groups = aggregates.summary_groups(conn, chosen)
    if not aggregates.groups_usable(groups):
        chosen = aggregates.usable_only(chosen)
        groups = aggregates.summary_groups(conn, chosen)
    events = successes = 0
    cost = in_tokens = out_tokens = 0.0
    for group in groups:
        events += group.events
        cost += group.cost_usd
        in_tokens += group.input_tokens
        out_tokens += group.output_tokens
        if group.success:
            successes += group.events
    latencies = group_percentiles(conn, chosen, None, {None: events})[None] if groups else [None] * 3
    return {"cost": cost, "tokens": int(in_tokens) + int(out_tokens), "calls": events,
            "failures": events - successes, "p50": latencies[0], "p95": latencies[1], "p99": latencies[2]}


def find_baseline(conn: sqlite3.Connection, run_id: str, *, nodeids: Iterable[str] | None = None,
                  branch: str | None = None, scan: int = 200) -> Run | None:
    """The most recent run before ``run_id`` that completed (passed or failed) with the same set
    of tests (``nodeids``, default: those stored for ``run_id``) and still holds its data,
    preferring one of ``branch`` (default: ``run_id``'s branch). ``None`` when there is none among
    the last ``scan`` runs.

    A run holds its data unless a prune took some of its events (``pruned_events`` in its
    metadata) or its tests recorded calls of which no event is left (deleted by hand or by a
    prune that did not mark runs): compared with it, every figure would rise "from zero"."""
    current = get_run(conn, run_id)
    if nodeids is None:
        nodeids = test_results(conn, run_id).keys()
    wanted = set(nodeids)
    if branch is None and current is not None:
        branch = current.git_branch
    before = current.started_at if current is not None else None
    candidates = [r for r in list_runs(conn, limit=scan, before=before, statuses=COMPLETED) if r.run_id != run_id]
    if branch is not None:
        candidates.sort(key=lambda r: r.git_branch != branch)  # stable: newest first within each group
    for run in candidates:
        stored = run.metadata.get("tests")
        if isinstance(stored, int) and stored != len(wanted):
            continue
        results = test_results(conn, run.run_id)
        if set(results) == wanted and _holds_its_data(conn, run, results):
            return run
    return None


def _holds_its_data(conn: sqlite3.Connection, run: Run, results: dict[str, TestResult]) -> bool:
    if run.metadata.get(PRUNED_EVENTS):
        return False
    return not any(r.events for r in results.values()) or run.run_id in event_totals(conn, [run.run_id])


def compare_runs(conn: sqlite3.Connection, base_id: str, new_id: str, *,
                 new_summary: Summary | None = None) -> Comparison:
    """Compare run ``new_id`` with run ``base_id`` (both must be stored)."""
    base = get_run(conn, base_id)
    new = get_run(conn, new_id)
    if base is None or new is None:
        from dev_system.store.runs import RunNotFound

        raise RunNotFound(f"no run {base_id if base is None else new_id!r} in this database")
    base_totals = run_totals(conn, base_id)
    new_totals = run_totals(conn, new_id, new_summary)
    totals = {name: Change(name, base_totals[name], new_totals[name]) for name in TOTALS}
    rows, added, removed = paired_test_figures(conn, base_id, new_id)
    base_scores, new_scores = run_scores(conn, base_id), run_scores(conn, new_id)
    base_means, new_means = test_means(base_scores), test_means(new_scores)
    names_of: dict[str | None, set[str]] = {}
    for test, name in (*base_means, *new_means):
        names_of.setdefault(test, set()).add(name)
    paired = {row[0] for row in rows} if names_of else set()
    test_scores = {nodeid: {name: Change(name, _mean(base_means.get((nodeid, name))),
                                         _mean(new_means.get((nodeid, name)))) for name in sorted(names)}
                   for nodeid, names in names_of.items() if nodeid in paired}
    base_stats = {stat.name: stat.mean for stat in run_score_stats(base_scores)}
    new_stats = {stat.name: stat.mean for stat in run_score_stats(new_scores)}
    run_changes = {name: Change(name, base_stats.get(name), new_stats.get(name))
                   for name in sorted(base_stats.keys() | new_stats.keys())}
    return Comparison(base, new, totals, TestPairs(rows, test_scores), added, removed, run_changes)


def _mean(entry: tuple[float, int] | None) -> float | None:
    return None if entry is None else entry[0]


def regressions(comparison: Comparison, limits: Iterable[Limit]) -> list[Regression]:
    """The totals that grew by more than their limit (an increase from 0 exceeds every percentage),
    and the scores whose run mean fell by more than theirs (or that the new run no longer records)."""
    out = []
    for limit in limits:
        if limit.metric.startswith(SCORE_PREFIX):
            found = _score_regression(comparison, limit)
            if found is not None:
                out.append(found)
            continue
        change = comparison.totals[limit.metric]
        delta = change.delta
        if delta is None or delta <= 0:
            continue
        grown = change.relative if limit.relative else delta
        # a hair of float rounding (1.1 / 1.0 is 10.000000000000009%) is not a regression
        if grown is None or grown <= limit.value + 1e-9 * max(1.0, abs(limit.value)):
            continue
        label, kind = TOTALS[limit.metric]
        allowed = f"{_number(limit.value)}%" if limit.relative else format_value(kind, limit.value)
        out.append(Regression(limit, change, (
            f"{label} rose {describe_change(change, kind)} against run {comparison.base.run_id}"
            f" (limit +{allowed})"
        )))
    return out


def _score_regression(comparison: Comparison, limit: Limit) -> Regression | None:
    name = limit.metric[len(SCORE_PREFIX):]
    change = comparison.scores.get(name)
    if change is None or change.base is None:
        return None  # the baseline has no such score: nothing to fall from
    allowed = f"{_number(limit.value)}%" if limit.relative else format_value("score", limit.value)
    against = f"against run {comparison.base.run_id} (limit -{allowed})"
    if change.new is None:
        return Regression(limit, change, f"score {name} was not recorded (it was "
                                         f"{format_value('score', change.base)}) {against}")
    fall = -(change.delta or 0.0)
    if fall <= 0:
        return None
    fallen = fall if not limit.relative else (math.inf if change.base == 0 else 100.0 * fall / abs(change.base))
    if fallen <= limit.value + 1e-9 * max(1.0, abs(limit.value)):
        return None
    return Regression(limit, change, f"score {name} fell {describe_change(change, 'score')} {against}")


def format_value(kind: str, value: float | None) -> str:
    """A figure for people."""
    from dev_system.formatting import format_int, format_ms, format_score, format_usd

    if value is None:
        return "n/a"
    if kind == "score":
        return format_score(value)
    if kind == "usd":
        return format_usd(value)
    if kind == "ms":
        size = abs(value)
        return format_ms(value, 0 if size >= 100 or size == 0 else 1 if size >= 1 else 3)
    return format_int(int(value))


def _number(value: float) -> str:
    return f"{value:g}"


def describe_change(change: Change, kind: str) -> str:
    """``from $0.10 to $0.12 (+$0.02, +20.0%)``."""
    delta = change.delta
    if delta is None:
        return f"from {format_value(kind, change.base)} to {format_value(kind, change.new)}"
    sign = "+" if delta >= 0 else "-"
    parts = [f"{sign}{format_value(kind, abs(delta))}"]
    rel = change.relative
    if rel is not None:
        parts.append("from zero" if math.isinf(rel) else f"{rel:+.1f}%")
    return f"from {format_value(kind, change.base)} to {format_value(kind, change.new)} ({', '.join(parts)})"
