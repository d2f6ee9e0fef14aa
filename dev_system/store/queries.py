"""Selecting stored events: filters, listings, traces and export.

Every query goes through :func:`where_clause`, so a window and a set of filters select the same
events in every report. A database of schema version 0 (the documented columns only, opened
read-only so it is not migrated) is read too: the added columns read as NULL.

A row edited by hand can hold values no report can use (text in a number column, a timestamp
written as a date string, NULL where the schema says NOT NULL): :data:`USABLE` tells them apart
in SQL; reports and listings leave the others out and say how many (:func:`count_unusable`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import fields
from typing import Any, NamedTuple, Protocol

from dev_system.events import DOCUMENTED_COLUMNS, EVENT_COLUMNS, EXTRA_COLUMNS, TelemetryEvent
from dev_system.json_fields import MAX_CHARS, NOT_READ
from dev_system.store.events import row_to_event
from dev_system.store.schema import table_columns
from dev_system.structs import struct


class TimeRange(Protocol):
    """The time a query selects: ``start <= timestamp < end`` (``None``: no bound). A
    :class:`dev_system.analysis.periods.Window` is one; so is :class:`Between`."""

    @property
    def start(self) -> float | None: ...

    @property
    def end(self) -> float | None: ...


class Between(NamedTuple):
    """A :class:`TimeRange` given by its bounds (the default: all time)."""

    start: float | None = None
    end: float | None = None


@struct
class Filters:
    """Exact-match filters on events; ``None`` means no filter on that column."""

    agent: str | None = None
    event_type: str | None = None
    function: str | None = None
    trace_id: str | None = None
    run_id: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """The filters by name (for JSON output)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


_FILTER_COLUMNS = {
    "agent": "agent_name",
    "event_type": "event_type",
    "function": "function_name",
    "trace_id": "trace_id",
    "run_id": "run_id",
}


def column_expr(name: str, present: set[str]) -> str:
    """SQL for column ``name``: the column itself, or a stand-in when an old database lacks it."""
    if name in present:
        return name
    if name == "event_id":
        return "CAST(id AS TEXT)"
    return "NULL"


#: The longest name, id or error type read from a row (longer ones are cut, with a marker).
MAX_TEXT_CHARS = 10_000
#: Columns read as they are (numbers, and the metadata, bounded by :func:`bounded_json_sql`).
_NOT_CUT = {"id", "timestamp", "input_tokens", "output_tokens", "latency_ms", "cost_usd", "success",
            "created_at", "metadata"}


def bounded_json_sql(column: str, limit: int = MAX_CHARS) -> str:
    """SQL reading the JSON text of ``column``, or, when it is longer than ``limit``, the short
    object that says it was not read (:func:`dev_system.json_fields.not_read`): a row of hundreds
    of megabytes never reaches Python."""
    marker = f'{{"{NOT_READ}": "%,d characters, more than the %,d read"}}'
    return f"CASE WHEN length({column}) > {limit} THEN printf('{marker}', length({column}), {limit}) ELSE {column} END"


def read_expr(name: str, present: set[str]) -> str:
    """SQL reading column ``name`` of a row for a listing: :func:`column_expr`, with the metadata
    and the text columns bounded (a database is untrusted input)."""
    expr = column_expr(name, present)
    if name not in present:
        return expr
    if name == "metadata":
        return bounded_json_sql(name)
    if name in _NOT_CUT:
        return expr
    return (f"CASE WHEN length({name}) > {MAX_TEXT_CHARS} THEN substr({name}, 1, {MAX_TEXT_CHARS}) || "
            f"printf('…[%,d more characters not read]', length({name}) - {MAX_TEXT_CHARS}) ELSE {name} END")


def select_events_sql(conn: sqlite3.Connection, present: set[str] | None = None) -> str:
    """``SELECT <every event column> FROM telemetry_events`` that works on old databases too,
    each value bounded (:func:`read_expr`); ``present``: the table's columns, when known."""
    if present is None:
        present = table_columns(conn)
    return "SELECT {} FROM telemetry_events".format(", ".join(read_expr(c, present) for c in EVENT_COLUMNS))


#: Largest timestamp a report can show as a local date (9999-12-30).
MAX_TIMESTAMP = 253_402_214_400

#: SQL true for a row a report can use: a timestamp that is a number from 0 to
#: :data:`MAX_TIMESTAMP`, a latency that is a number, ``success`` 0 or 1, tokens and cost numbers
#: or NULL (0 tokens, unknown cost), a text ``agent_name``. ``x < ''`` is SQLite for "x is a
#: number" (every number sorts before every text, text before blobs), cheaper than ``typeof``.
#: NULL where a number is required makes it NULL, so test it with ``IS 1`` / ``IS NOT 1``.
#: ``+timestamp``: a test, never a range of the timestamp index (SQLite would range the whole
#: index on these bounds instead of the window's).
USABLE = (f"(+timestamp BETWEEN 0 AND {MAX_TIMESTAMP} AND latency_ms < '' AND success IN (0, 1)"
          " AND (input_tokens IS NULL OR input_tokens < '') AND (output_tokens IS NULL OR output_tokens < '')"
          " AND (cost_usd IS NULL OR cost_usd < '') AND typeof(agent_name) = 'text')")


def and_where(where: str, condition: str) -> str:
    """``where`` (from :func:`where_clause`, maybe empty) with ``condition`` added."""
    return f"{where} AND {condition}" if where else f" WHERE {condition}"


def count_unusable(conn: sqlite3.Connection, window: TimeRange, filters: Filters = Filters()) -> int:
    """How many rows of ``window`` passing ``filters`` a report cannot use (see :data:`USABLE`)."""
    where, params = where_clause(window, filters, table_columns(conn))
    return conn.execute(f"SELECT COUNT(*) FROM telemetry_events{and_where(where, USABLE + ' IS NOT 1')}",
                        params).fetchone()[0]


def where_clause(window: TimeRange, filters: Filters, present: set[str] | None = None) -> tuple[str, list[Any]]:
    """``(" WHERE ...", params)`` selecting the events of ``window`` that pass ``filters``."""
    parts: list[str] = []
    params: list[Any] = []
    if window.start is not None:
        parts.append("timestamp >= ?")
        params.append(window.start)
    if window.end is not None:
        parts.append("timestamp < ?")
        params.append(window.end)
    for name, column in _FILTER_COLUMNS.items():
        value = getattr(filters, name)
        if value is None:
            continue
        if present is not None and column not in present:
            parts.append("0")
            continue
        if name == "trace_id" and filters.run_id is None and (present is None or "run_id" in present):
            parts.append(_TRACE_IN_EVERY_RUN)
            params += [value, value]
            continue
        parts.append(f"{column} = ?")
        params.append(value)
    return (" WHERE " + " AND ".join(parts) if parts else ""), params


#: The events of one trace (``?``, twice), found with the ``(run_id, trace_id)`` index: among the
#: events of no run, then in each run, the runs walked one index seek at a time (a trace
#: filter without a run would otherwise read every event).
_TRACE_IN_EVERY_RUN = (
    "id IN (SELECT id FROM telemetry_events WHERE run_id IS NULL AND trace_id = ?"
    " UNION ALL SELECT id FROM telemetry_events WHERE trace_id = ? AND run_id IN ("
    "WITH RECURSIVE runs_seen(run) AS (SELECT MIN(run_id) FROM telemetry_events UNION ALL"
    " SELECT (SELECT MIN(run_id) FROM telemetry_events WHERE run_id > run) FROM runs_seen"
    " WHERE run IS NOT NULL) SELECT run FROM runs_seen))"
)


def list_events(conn: sqlite3.Connection, window: TimeRange, filters: Filters = Filters(), *,
                failed_only: bool = False, limit: int | None = 50) -> list[TelemetryEvent]:
    """The matching usable events (see :data:`USABLE`), newest first, at most ``limit`` (``None``: all)."""
    present = table_columns(conn)
    where, params = where_clause(window, filters, present)
    # NOT success first: SQLite tests these terms in the order written (measured: a third off the
    # listing of failures), and most rows fail it, so the longer USABLE test runs on few.
    where = and_where(where, f"NOT success AND {USABLE}" if failed_only else USABLE)
    sql = select_events_sql(conn, present) + where + " ORDER BY timestamp DESC, id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [row_to_event(row) for row in conn.execute(sql, params)]


def iter_events(conn: sqlite3.Connection, window: TimeRange, filters: Filters = Filters(), *,
                usable_only: bool = False) -> Iterator[TelemetryEvent]:
    """The matching events, oldest first, streamed (for export: every row, as stored; with
    ``usable_only`` only those of :data:`USABLE`)."""
    present = table_columns(conn)
    where, params = where_clause(window, filters, present)
    if usable_only:
        where = and_where(where, USABLE)
    for row in conn.execute(select_events_sql(conn, present) + where + " ORDER BY timestamp, id", params):
        yield row_to_event(row)


#: The columns of ``telemetry_events`` in the table's order: ``id``, the documented ones,
#: ``created_at``, then the added ones (what ``export --format csv`` writes).
TABLE_COLUMNS = ("id", *DOCUMENTED_COLUMNS, "created_at", *EXTRA_COLUMNS)


def iter_table_rows(conn: sqlite3.Connection, window: TimeRange, filters: Filters = Filters()) -> Iterator[tuple]:
    """The matching rows as stored, every column of :data:`TABLE_COLUMNS` in its order, oldest
    first, streamed (an old database's missing columns read as :func:`column_expr` says; values
    too long to read bounded as :func:`read_expr` says)."""
    present = table_columns(conn)
    where, params = where_clause(window, filters, present)
    columns = ", ".join(read_expr(c, present) for c in TABLE_COLUMNS)
    yield from conn.execute(f"SELECT {columns} FROM telemetry_events{where} ORDER BY timestamp, id", params)


def trace_events(conn: sqlite3.Connection, trace_id: str) -> list[TelemetryEvent]:
    """Every usable event of one trace, oldest first."""
    return list(iter_events(conn, Between(), Filters(trace_id=trace_id), usable_only=True))
