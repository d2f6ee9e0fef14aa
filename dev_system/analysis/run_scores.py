"""The scores of a run, aggregated: per name, the mean over the tests that recorded it (each
test's own mean first), the lowest test mean and its test, and how many tests.

Reads through :mod:`dev_system.store.score_queries`; formats nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import field
from typing import TYPE_CHECKING, Any

from dev_system.store.score_queries import TestScore, run_test_scores
from dev_system.structs import struct

if TYPE_CHECKING:
    import sqlite3

    from dev_system.store.runs import Run


@struct
class ScoreStat:
    """One score name over a run's tests: the mean of the test means, the lowest test mean and
    the test that gave it (the first by node id on a tie), and the number of tests."""

    name: str
    mean: float
    min: float
    min_nodeid: str
    tests: int

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"name": self.name, "mean": self.mean, "min": self.min, "min_nodeid": self.min_nodeid,
                "tests": self.tests}


def score_stats(test_scores: Iterable[TestScore]) -> list[ScoreStat]:
    """A :class:`ScoreStat` per name of ``test_scores`` (one entry per test and name), by name."""
    by_name: dict[str, list[tuple[str, float]]] = {}
    for score in test_scores:
        by_name.setdefault(score.name, []).append((score.nodeid, score.mean))
    out = []
    for name in sorted(by_name):
        means = sorted(by_name[name])
        lowest = min(means, key=lambda item: item[1])  # the first of equal lows: node ids are sorted
        out.append(ScoreStat(name, sum(m for _, m in means) / len(means), lowest[1], lowest[0], len(means)))
    return out


@struct
class RunScores:
    """A run's scores: per name (:class:`ScoreStat`) and per test and name (``TestScore``)."""

    run: Run
    stats: list[ScoreStat] = field(default_factory=list)
    by_test: list[TestScore] = field(default_factory=list)

    def as_dict(self, *, by_test: bool = False) -> dict[str, Any]:
        """A JSON-ready dict: the run, and the scores per name, or per test and name."""
        out: dict[str, Any] = {"run_id": self.run.run_id, "started_at": self.run.started_at}
        if by_test:
            out["by_test"] = [{"nodeid": s.nodeid, "name": s.name, "mean": s.mean, "count": s.count}
                              for s in self.by_test]
        else:
            out["scores"] = [stat.as_dict() for stat in self.stats]
        return out


def run_scores(conn: sqlite3.Connection, run: Run) -> RunScores:
    """The :class:`RunScores` of a stored run."""
    per_test = run_test_scores(conn, [run.run_id])
    return RunScores(run, score_stats(per_test), per_test)
