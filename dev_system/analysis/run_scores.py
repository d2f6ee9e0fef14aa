"""The scores of one run as ``dev-system scores`` shows them: per name (the figures of
:func:`dev_system.analysis.scores.run_score_stats`, the same as the run's summary), and per test
and name.

Reads through :mod:`dev_system.store.scores`; formats nothing.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING, Any

from dev_system.analysis.scores import ScoreStat, run_score_stats, test_means
from dev_system.store import scores as stored
from dev_system.structs import struct

if TYPE_CHECKING:
    import sqlite3

    from dev_system.store.runs import Run


@struct
class TestScore:
    """One test's value of one score name in a run: the mean of its ``count`` values."""

    __test__ = False  # not a pytest test class

    nodeid: str | None
    name: str
    mean: float
    count: int

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"nodeid": self.nodeid, "name": self.name, "mean": self.mean, "count": self.count}


@struct
class RunScores:
    """A run's scores: per name (:class:`ScoreStat`) and per test and name (:class:`TestScore`,
    by node id, then name)."""

    run: Run
    stats: list[ScoreStat] = field(default_factory=list)
    by_test: list[TestScore] = field(default_factory=list)

    def as_dict(self, *, by_test: bool = False) -> dict[str, Any]:
        """A JSON-ready dict: the run, and its scores per name, or per test and name."""
        out: dict[str, Any] = {"run_id": self.run.run_id, "started_at": self.run.started_at}
        if by_test:
            out["by_test"] = [score.as_dict() for score in self.by_test]
        else:
            out["scores"] = [stat.as_dict() for stat in self.stats]
        return out


def run_scores(conn: sqlite3.Connection, run: Run) -> RunScores:
    """The :class:`RunScores` of a stored run."""
    scores = stored.run_scores(conn, run.run_id)
    per_test = [TestScore(unit, name, mean, count) for (unit, name), (mean, count) in test_means(scores).items()]
    per_test.sort(key=lambda s: (s.nodeid or "", s.name))
    return RunScores(run, run_score_stats(scores), per_test)
