"""Many rows per INSERT statement: the one way the store writes a batch of rows.

``executemany`` costs one statement step (and one hand-off of the GIL) per row; an ``INSERT ...
VALUES (...), (...), ...`` of many rows costs one per statement. :func:`insert_rows` sends the
rows in chunks of as many as fit SQLite's oldest parameter limit (999), in order (so a row given
twice keeps its last version, as ``executemany`` would), and the rest with ``executemany``. The
caller holds the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

#: The most parameters one statement may bind on every SQLite build (the oldest default limit).
MAX_PARAMETERS = 999


def rows_per_statement(width: int) -> int:
    """How many rows of ``width`` values one statement can take."""
    return max(1, MAX_PARAMETERS // width)


def values_sql(width: int, rows: int = 1) -> str:
    """``(?, ?, ...)`` for one row of ``width`` values, ``rows`` times, comma separated."""
    one = "(" + ", ".join("?" * width) + ")"
    return ",".join([one] * rows)


def insert_rows(conn: sqlite3.Connection, rows: Sequence[Any], width: int, one_row_sql: str,
                chunk_statement: Callable[[Sequence[Any]], tuple[str, list[Any]]]) -> None:
    """Insert ``rows`` (each of ``width`` values): every full chunk of :func:`rows_per_statement`
    rows as the one statement ``chunk_statement(chunk)`` returns (``(sql, flat parameters)``), the
    rows left over with ``executemany(one_row_sql, ...)``."""
    step = rows_per_statement(width)
    whole = len(rows) - len(rows) % step
    for i in range(0, whole, step):
        conn.execute(*chunk_statement(rows[i:i + step]))
    if whole < len(rows):
        conn.executemany(one_row_sql, rows[whole:])
