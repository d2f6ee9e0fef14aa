"""Writing events into ``telemetry_events`` and reading rows back as events.

:func:`insert_events` is the one insert path: the recorder's SQLite sink, ``combine`` and the
tools that load history all use it. It sends many rows per statement (:mod:`dev_system.store.batch`;
a third faster than ``executemany``) and writes ``NULL`` for a column that is empty in every row of
a statement instead of binding ``None`` (sqlite3 binds ``None`` and ``bool`` only after two failed
adapter lookups each). A batch SQLite refuses is
inserted again with every event made :func:`storable`, so one odd value never costs the others.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

from dev_system.events import EVENT_COLUMNS, TelemetryEvent
from dev_system.store.batch import insert_rows
from dev_system.store.db import transaction

INSERT_EVENT = "INSERT OR IGNORE INTO telemetry_events ({}) VALUES ({})".format(
    ", ".join(EVENT_COLUMNS), ", ".join("?" * len(EVENT_COLUMNS))
)
SELECT_EVENTS = "SELECT {} FROM telemetry_events".format(", ".join(EVENT_COLUMNS))

#: Errors raised by a value that SQLite cannot take (a lone surrogate, an unsupported type, an
#: integer too large, NULL in a NOT NULL column), as opposed to a database that cannot be used.
VALUE_ERRORS = (UnicodeEncodeError, OverflowError, TypeError, ValueError,
                sqlite3.InterfaceError, sqlite3.ProgrammingError, sqlite3.IntegrityError)
_NOT_NULL_TEXT = {"event_type", "agent_name", "function_name"}
_NOT_NULL_REAL = {"timestamp", "latency_ms"}
_INTEGER = {"input_tokens", "output_tokens"}

_FIELDS = len(EVENT_COLUMNS)
_SUCCESS = EVENT_COLUMNS.index("success")
#: The columns an event may leave empty (None), in their order.
_NULLABLE = tuple(i for i, name in enumerate(EVENT_COLUMNS)
                  if name not in ("timestamp", "event_type", "agent_name", "function_name", "latency_ms", "success"))
#: (rows, columns empty in every row) -> (the INSERT statement with NULL for those columns, the
#: getter of the other columns' values, the position of ``success`` among them)
_statements: dict[tuple[int, tuple[int, ...]], tuple[str, Any, int]] = {}


def _statement(rows: int, empty: tuple[int, ...]) -> tuple[str, Any, int]:
    found = _statements.get((rows, empty))
    if found is None:
        kept = [i for i in range(_FIELDS) if i not in empty]
        one = "(" + ", ".join("NULL" if i in empty else "?" for i in range(_FIELDS)) + ")"
        sql = INSERT_EVENT[:INSERT_EVENT.rindex("(")] + ",".join([one] * rows)
        found = _statements[(rows, empty)] = (sql, itemgetter(*kept), kept.index(_SUCCESS))
        if len(_statements) > 256:  # a handful in practice; never an unbounded cache
            _statements.clear()
            _statements[(rows, empty)] = found
    return found


def _insert_fast(conn: sqlite3.Connection, events: Sequence[TelemetryEvent]) -> int:
    flat: list[Any] = []

    def chunk_statement(chunk: Sequence[TelemetryEvent]) -> tuple[str, list[Any]]:
        rows = len(chunk)
        flat.clear()
        for event in chunk:
            flat.extend(event)
        empty = tuple(c for c in _NULLABLE if flat[c::_FIELDS].count(None) == rows)
        sql, kept, success = _statement(rows, empty)
        if empty:
            flat.clear()
            for event in chunk:
                flat.extend(kept(event))
        width = _FIELDS - len(empty)
        flat[success::width] = [(1 if s else 0) if s is True or s is False else s for s in flat[success::width]]
        return sql, flat

    with transaction(conn):
        before = conn.total_changes
        insert_rows(conn, events, _FIELDS, INSERT_EVENT, chunk_statement)
        return conn.total_changes - before


def _insert_each(conn: sqlite3.Connection, events: Sequence[TelemetryEvent]) -> int:
    with transaction(conn):
        before = conn.total_changes
        conn.executemany(INSERT_EVENT, events)
        return conn.total_changes - before


def insert_events(conn: sqlite3.Connection, events: Sequence[TelemetryEvent]) -> None:
    """Insert ``events`` in one transaction; an event whose ``event_id`` is stored already is skipped.

    One event with a value SQLite cannot take (a lone surrogate in a name, an object as trace id,
    NULL in a NOT NULL column, which ``INSERT OR IGNORE`` would skip without a word) must not cost
    the other events of its batch: the batch is then inserted again with every event made
    :func:`storable`. The check is free on the common path (a count of inserted rows).
    """
    try:
        if _insert_fast(conn, events) == len(events):
            return
    except VALUE_ERRORS:
        pass
    _insert_each(conn, [storable(event) for event in events])


def _text(value: object) -> str:
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:
        text = f"<unrepresentable {type(value).__name__}>"
    return text.encode("utf-8", "replace").decode("utf-8")


def storable(event: TelemetryEvent) -> TelemetryEvent:
    """``event`` with every value made acceptable to SQLite: text without lone surrogates, odd
    objects as their ``str``, out-of-range integers and non-finite numbers as NULL, and NULL in a
    NOT NULL column replaced by ``"(none)"`` or ``0.0`` (so that the event is stored, not skipped)."""
    values = []
    for name, value in zip(EVENT_COLUMNS, event):
        if value is None:
            if name in _NOT_NULL_TEXT:
                value = "(none)"
            elif name in _NOT_NULL_REAL:
                value = 0.0
            elif name == "success":
                value = False
        elif name == "success":
            value = bool(value)
        elif name in _INTEGER or name in _NOT_NULL_REAL or name == "cost_usd":
            try:
                number = float(value) if name not in _INTEGER else int(value)
                if number != number or number in (float("inf"), float("-inf")):
                    raise ValueError(value)
                if name in _INTEGER and not -(2**63) <= number < 2**63:
                    raise OverflowError(value)
                value = number
            except (TypeError, ValueError, OverflowError):
                value = 0.0 if name in _NOT_NULL_REAL else None
        else:
            value = _text(value)
        values.append(value)
    return TelemetryEvent(*values)


def record_dropped(conn: sqlite3.Connection, timestamp: float, count: int, reason: str, run_id: str | None) -> None:
    """Store that ``count`` events were dropped, so that reports in any process can show it."""
    conn.execute(
        "INSERT INTO dropped_events (timestamp, run_id, count, reason) VALUES (?, ?, ?, ?)",
        (timestamp, run_id, count, reason),
    )


def record_drops(conn: sqlite3.Connection, drops: Sequence[tuple[float, int, str, str | None]]) -> None:
    """:func:`record_dropped` for many ``(timestamp, count, reason, run_id)`` records, in one transaction."""
    with transaction(conn):
        conn.executemany("INSERT INTO dropped_events (timestamp, count, reason, run_id) VALUES (?, ?, ?, ?)", drops)


def row_to_event(row: Iterable[object]) -> TelemetryEvent:
    """Build an event from a row selected as ``SELECT {EVENT_COLUMNS} ...``."""
    values = list(row)
    values[_SUCCESS] = bool(values[_SUCCESS])
    return TelemetryEvent(*values)
