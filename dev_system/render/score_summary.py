"""A run's quality scores written for people and machines: the "Scores" block of the run summary
and of ``dev-system metrics --run``, its one-line form, and its JSON.

Given :class:`~dev_system.analysis.scores.ScoreStat` figures; names and test ids go through
:func:`~dev_system.formatting.printable`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dev_system.formatting import format_score, plural, printable

if TYPE_CHECKING:
    from dev_system.analysis.scores import ScoreStat


def score_block(stats: Sequence[ScoreStat]) -> list[str]:
    """``Scores (mean over tests):`` and one line per name: its mean, lowest test value and the
    test that gave it, and how many tests recorded it (nothing without scores)."""
    if not stats:
        return []
    width = max(len(printable(stat.name)) for stat in stats)
    lines = ["Scores (mean over tests):"]
    for stat in stats:
        lowest = f"min {format_score(stat.min)}"
        if stat.min < stat.mean and stat.min_nodeid:  # the test that pulled the mean down
            lowest += f" ({printable(stat.min_nodeid)})"
        lines.append(f"  {printable(stat.name):<{width}}  {format_score(stat.mean)}  "
                     f"{plural(stat.tests, 'test')}, {lowest}")
    return lines


def score_parts(stats: Sequence[ScoreStat]) -> list[str]:
    """``correctness 0.80`` for each name: the scores in a one-line summary."""
    return [f"{printable(stat.name)} {format_score(stat.mean)}" for stat in stats]


def score_dicts(stats: Sequence[ScoreStat]) -> list[dict[str, Any]]:
    """The JSON of the scores: ``name``, ``mean``, ``min``, ``min_test``, ``tests``, ``values``."""
    return [stat.as_dict() for stat in stats]
