"""Reading stored scores grouped by run, test and name (the ``scores`` table of
:mod:`dev_system.store.schema`), for a test followed across runs.

Every read groups the rows of a run by test and name and returns each group's mean and count, so
a test that recorded one name several times counts once with its mean. Reads go through the
``(run_id, nodeid)`` index: a run's scores are found without reading the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

from dev_system.store.schema import has_table

if TYPE_CHECKING:
    import sqlite3

#: How many run ids one ``IN (...)`` list holds (below SQLite's smallest variable limit).
_CHUNK = 500


class ScoreMean(NamedTuple):
    """The scores one test recorded under one name in one run: their mean and how many."""

    run_id: str
    nodeid: str
    name: str
    mean: float
    count: int


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start:start + _CHUNK])


def run_test_scores(conn: sqlite3.Connection, run_ids: Iterable[str], nodeid: str | None = None) -> list[ScoreMean]:
    """The :class:`ScoreMean` of every test (only ``nodeid``, when given) and name in the runs
    ``run_ids``, by run, node id and name. Scores recorded outside a test (no node id) are left out."""
    ids = list(dict.fromkeys(run_ids))
    if not ids or not has_table(conn, "scores"):
        return []
    out: list[ScoreMean] = []
    for chunk in _chunks(ids):
        marks = ", ".join("?" * len(chunk))
        if nodeid is None:
            where, params = f"run_id IN ({marks}) AND nodeid IS NOT NULL", chunk
        else:
            where, params = f"run_id IN ({marks}) AND nodeid = ?", [*chunk, nodeid]
        rows = conn.execute(
            f"SELECT run_id, nodeid, name, AVG(value), COUNT(*) FROM scores WHERE {where}"
            " AND typeof(value) IN ('real', 'integer') GROUP BY run_id, nodeid, name"
            " ORDER BY run_id, nodeid, name", params)
        out.extend(ScoreMean(*row) for row in rows)
    return out
