"""Quality scores as figures: a test's value of a score, and a run's.

A test's value of a score name is the mean of the values it recorded under that name. A run's
figures for a name (:class:`ScoreStat`) are taken over the tests that recorded it, each counted
once: the mean of their values, the lowest value and the test that gave it, and how many tests.
Scores recorded outside any test count with their trace as the unit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from dev_system.structs import struct

__all__ = ["ScoreStat", "means_by_name", "run_score_stats", "test_means"]


@struct
class ScoreStat:
    """A run's figures for one score name."""

    name: str
    #: The mean, over the tests that recorded the name, of each test's mean value.
    mean: float
    #: The lowest test value, and the test that gave it (the first in node id order on a tie).
    min: float
    min_nodeid: str | None
    #: How many tests recorded it, and how many values they recorded in all.
    tests: int
    values: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "mean": self.mean, "min": self.min, "min_test": self.min_nodeid,
                "tests": self.tests, "values": self.values}


def _unit(score: Any) -> str | None:
    """What a score's value is averaged over first: its test, else its trace."""
    return score.nodeid if score.nodeid is not None else score.trace_id


def means_by_name(scores: Iterable[Any]) -> dict[str, float]:
    """The mean value of each name among ``scores`` (one test's scores), names in first-seen order."""
    values: dict[str, list[float]] = {}
    for score in scores:
        values.setdefault(score.name, []).append(float(score.value))
    return {name: math.fsum(vals) / len(vals) for name, vals in values.items()}


def test_means(scores: Iterable[Any]) -> dict[tuple[str | None, str], tuple[float, int]]:
    """``(test, name) -> (the test's mean value, how many values)`` of a run's scores."""
    values: dict[tuple[str | None, str], list[float]] = {}
    for score in scores:
        values.setdefault((_unit(score), score.name), []).append(float(score.value))
    return {key: (math.fsum(vals) / len(vals), len(vals)) for key, vals in values.items()}


def run_score_stats(scores: Sequence[Any]) -> list[ScoreStat]:
    """The run's :class:`ScoreStat` per score name, by name."""
    per_name: dict[str, list[tuple[str | None, float, int]]] = {}
    for (test, name), (mean, count) in test_means(scores).items():
        per_name.setdefault(name, []).append((test, mean, count))
    out = []
    for name in sorted(per_name):
        rows = per_name[name]
        lowest = min(rows, key=lambda row: (row[1], row[0] or ""))
        out.append(ScoreStat(name, math.fsum(row[1] for row in rows) / len(rows), lowest[1], lowest[0],
                             len(rows), sum(row[2] for row in rows)))
    return out
