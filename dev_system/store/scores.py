"""The ``scores`` table: inserting recorded scores and reading them back.

:func:`insert_scores` is the one insert path (the SQLite sink, ``combine``): ``score_id`` is
unique, so a score inserted twice is stored once. Reads return
:class:`~dev_system.record.scores.Score` tuples in the order they were recorded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from dev_system.record.scores import SCORE_COLUMNS, Score
from dev_system.store.db import transaction
from dev_system.store.schema import has_table

if TYPE_CHECKING:
    import sqlite3

_COLUMNS = ", ".join(SCORE_COLUMNS)
INSERT_SCORE = f"INSERT OR IGNORE INTO scores ({_COLUMNS}) VALUES ({', '.join('?' * len(SCORE_COLUMNS))})"
SELECT_SCORES = f"SELECT {_COLUMNS} FROM scores"


def _storable(score: Sequence[Any]) -> tuple[Any, ...] | None:
    """The row of ``score``, or None when it cannot be a score (no id, no name, a value that is not
    a finite number: a hand-made row)."""
    row = tuple(score)
    if len(row) != len(SCORE_COLUMNS):
        return None
    score_id, timestamp, run_id, nodeid, trace_id, name, value, comment = row
    try:
        value = float(value)
        timestamp = float(timestamp)
    except (TypeError, ValueError, OverflowError):
        return None
    if not score_id or not name or not math.isfinite(value) or not math.isfinite(timestamp):
        return None
    return (str(score_id), timestamp, run_id, nodeid, trace_id, str(name), value, comment)


def insert_scores(conn: sqlite3.Connection, scores: Iterable[Sequence[Any]]) -> int:
    """Insert ``scores`` (each a :class:`Score` or a row in its field order) in one transaction;
    a score whose ``score_id`` is stored already is skipped, a row that cannot be a score too.
    Returns how many rows were new."""
    rows = [row for row in map(_storable, scores) if row is not None]
    if not rows:
        return 0
    with transaction(conn):
        before = conn.total_changes
        conn.executemany(INSERT_SCORE, rows)
        return conn.total_changes - before


def row_to_score(row: Sequence[Any]) -> Score:
    """A ``scores`` row (in :data:`SCORE_COLUMNS` order) as a :class:`Score`."""
    return Score(*row)


def run_scores(conn: sqlite3.Connection, run_id: str) -> list[Score]:
    """The scores recorded in run ``run_id``, oldest first."""
    if not has_table(conn, "scores"):
        return []
    rows = conn.execute(f"{SELECT_SCORES} WHERE run_id = ? ORDER BY timestamp, id", (run_id,))
    return [Score(*row) for row in rows]


def scores_between(conn: sqlite3.Connection, since: float | None = None, until: float | None = None,
                   *, run_id: str | None = None, trace_id: str | None = None) -> list[Score]:
    """The scores recorded in ``[since, until)`` (either open), of run ``run_id`` and trace
    ``trace_id`` when given, oldest first."""
    if not has_table(conn, "scores"):
        return []
    clauses, params = [], []
    if since is not None:
        clauses.append("timestamp >= ?")
        params.append(since)
    if until is not None:
        clauses.append("timestamp < ?")
        params.append(until)
    if run_id is not None:
        clauses.append("run_id = ?")
        params.append(run_id)
    if trace_id is not None:
        clauses.append("trace_id = ?")
        params.append(trace_id)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return [Score(*row) for row in conn.execute(f"{SELECT_SCORES}{where} ORDER BY timestamp, id", params)]


def runs_scores(conn: sqlite3.Connection, run_ids: Sequence[str]) -> dict[str, list[Score]]:
    """The scores of each of ``run_ids`` (run id -> its scores, oldest first; runs without any
    are absent)."""
    out: dict[str, list[Score]] = {}
    if not run_ids or not has_table(conn, "scores"):
        return out
    for start in range(0, len(run_ids), 500):
        chunk = list(run_ids[start:start + 500])
        marks = ", ".join("?" * len(chunk))
        for row in conn.execute(f"{SELECT_SCORES} WHERE run_id IN ({marks}) ORDER BY timestamp, id", chunk):
            out.setdefault(row[2], []).append(Score(*row))
    return out
