"""Aggregate reads of stored events: the SQL behind every figure of a report.

Analysis asks, this module reads: grouped counts and sums, latencies in order, the cost of a
time range, per-bucket series, the slowest traces, a run's record and its tests' figures. Each
read takes a :class:`Selection` (the events of a time range passing filters, made once by
:func:`selection` and shared by the reads of one figure set, so the event table's columns are
looked up once), and returns rows or plain values; no figure is computed here beyond what SQL
sums. Every query keeps the shape the timestamp and ``(run_id, trace_id)`` indexes serve.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from dev_system.events import TelemetryEvent
from dev_system.store.events import row_to_event
from dev_system.store.queries import (
    MAX_TIMESTAMP,
    USABLE,
    Filters,
    and_where,
    column_expr,
    select_events_sql,
    table_columns,
    where_clause,
)


class Selection(NamedTuple):
    """The events of one time range passing filters: ``" WHERE ..."`` (maybe empty), its
    parameters, and the columns the event table has (old databases lack the added ones)."""

    where: str
    params: list[Any]
    present: set[str]


def selection(conn: sqlite3.Connection, window: Any, filters: Filters = Filters(), *,
              present: set[str] | None = None) -> Selection:
    """The events of ``window`` (anything with ``start`` and ``end``) passing ``filters``;
    ``present`` (the columns of an earlier selection) saves looking them up again."""
    if present is None:
        present = table_columns(conn)
    where, params = where_clause(window, filters, present)
    return Selection(where, params, present)


def usable_only(chosen: Selection) -> Selection:
    """``chosen`` without the rows no report can use (:data:`~dev_system.store.queries.USABLE`)."""
    return Selection(and_where(chosen.where, USABLE), chosen.params, chosen.present)


# --- a window's summary ------------------------------------------------------------------------

_GROUPED = ("SELECT agent_name, success, error_type, COUNT(*), TOTAL(cost_usd), COUNT(cost_usd),"
            " TOTAL(input_tokens), TOTAL(output_tokens), MIN(timestamp), MAX(timestamp),"
            " COUNT(timestamp), COUNT(latency_ms), MAX(latency_ms), MAX(cost_usd), MAX(input_tokens), MAX(output_tokens)"
            " FROM telemetry_events{} GROUP BY agent_name, success, error_type")


class SummaryGroup(NamedTuple):
    """The events of one ``(agent_name, success, error_type)``: counts, sums, and the MIN/MAX and
    counts that tell whether every row of the group is usable (:func:`groups_usable`)."""

    agent_name: Any
    success: Any
    error_type: Any
    events: int
    cost_usd: float  #: the sum of known costs
    known_costs: int  #: events whose cost is not NULL
    input_tokens: float
    output_tokens: float
    first: Any  #: the smallest timestamp
    last: Any  #: the largest timestamp
    timestamps: int
    latencies: int
    max_latency_ms: Any
    max_cost_usd: Any
    max_input_tokens: Any
    max_output_tokens: Any


def summary_groups(conn: sqlite3.Connection, chosen: Selection) -> list[SummaryGroup]:
    """The selected events grouped by agent, success and error type (one scan of the timestamp index)."""
    return [SummaryGroup._make(row) for row in conn.execute(_GROUPED.format(chosen.where), chosen.params)]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))


def groups_usable(groups: Sequence[SummaryGroup]) -> bool:
    """True when every row of every group is usable (the test of ``USABLE``, read from the groups'
    aggregates: a text value in a number column makes its MAX a text)."""
    return all(
        isinstance(g.agent_name, str) and g.success in (0, 1)
        and g.timestamps == g.events and _is_number(g.first) and _is_number(g.last)
        and 0 <= g.first and g.last <= MAX_TIMESTAMP
        and g.latencies == g.events and _is_number(g.max_latency_ms)
        and all(value is None or _is_number(value) for value in (g.max_cost_usd, g.max_input_tokens, g.max_output_tokens))
        for g in groups
    )


#: Selections of at most this many events have their latencies read into lists and sorted in
#: memory (about 32 MB at most); larger ones are sorted by SQLite (in bounded memory, spilling to a
#: temporary file) and read once, in order, keeping only the values at the ranks asked for.
IN_MEMORY_LATENCIES = 1_000_000


def latencies_by(conn: sqlite3.Connection, chosen: Selection, column: str | None = None) -> dict[Any, list[float]]:
    """The latencies of the selected events per value of ``column`` (``None``: one group keyed
    ``None``), in no order."""
    if column is None:
        return {None: [row[0] for row in conn.execute(f"SELECT latency_ms FROM telemetry_events{chosen.where}",
                                                      chosen.params)]}
    groups: dict[Any, list[float]] = {}
    sql = f"SELECT {column_expr(column, chosen.present)}, latency_ms FROM telemetry_events{chosen.where}"
    for key, latency in conn.execute(sql, chosen.params):
        values = groups.get(key)
        if values is None:
            values = groups[key] = []
        values.append(latency)
    return groups


def ordered_latencies(conn: sqlite3.Connection, chosen: Selection, column: str | None = None) -> Iterator[tuple[Any, Any]]:
    """``(key, latency)`` of the selected events ordered by ``column`` (``None``: one key,
    ``None``) then latency, sorted by SQLite."""
    key_sql = "NULL" if column is None else column_expr(column, chosen.present)
    order = "latency_ms" if column is None else "1, 2"
    return conn.execute(f"SELECT {key_sql}, latency_ms FROM telemetry_events{chosen.where} ORDER BY {order}",
                        chosen.params)


def count_and_cost(conn: sqlite3.Connection, chosen: Selection) -> tuple[int, float]:
    """How many events are selected and the sum of their known costs (one indexed range)."""
    count, total = conn.execute(
        f"SELECT COUNT(*), TOTAL(cost_usd) FROM telemetry_events{chosen.where}", chosen.params
    ).fetchone()
    return count, total


#: The events answered from a recording (``"replayed": true`` in their metadata, see
#: ``dev_system.record.replay``); the LIKE keeps the JSON functions off every other row.
REPLAYED = ("metadata LIKE '%\"replayed\"%' AND json_valid(metadata)"
            " AND json_extract(metadata, '$.replayed') = 1")


def replayed_count_and_cost(conn: sqlite3.Connection, chosen: Selection) -> tuple[int, float]:
    """How many of the selected events were answered from a recording, and their known cost."""
    count, total = conn.execute(
        f"SELECT COUNT(*), TOTAL(cost_usd) FROM telemetry_events{and_where(chosen.where, REPLAYED)}", chosen.params
    ).fetchone()
    return count, total


def unknown_cost_models(conn: sqlite3.Connection, chosen: Selection) -> list[tuple[Any, int, int]]:
    """``(model, events with a usage, events without one)`` of the selected events whose cost is
    unknown (NULL), per model (``None``: no model name). "With a usage": both token counts known,
    so only the price was missing."""
    model_sql = column_expr("model", chosen.present)
    return conn.execute(
        f"SELECT {model_sql}, SUM(input_tokens IS NOT NULL AND output_tokens IS NOT NULL),"
        " SUM(input_tokens IS NULL OR output_tokens IS NULL)"
        f" FROM telemetry_events{and_where(chosen.where, 'cost_usd IS NULL')} GROUP BY 1 ORDER BY 1",
        chosen.params).fetchall()


def dropped_count(conn: sqlite3.Connection, window: Any, run_id: str | None = None) -> int:
    """How many events were recorded as dropped in ``window`` (of run ``run_id`` when given)."""
    present = table_columns(conn, "dropped_events")
    if not present:
        return 0
    where, params = where_clause(window, Filters(run_id=run_id), present)
    return int(conn.execute(f"SELECT TOTAL(count) FROM dropped_events{where}", params).fetchone()[0])


# --- breakdowns --------------------------------------------------------------------------------

def breakdown_sums(conn: sqlite3.Connection, chosen: Selection, column: str) -> list[tuple[Any, ...]]:
    """``(key, calls, successes, known cost, unknown-cost calls, input tokens, output tokens)`` per
    value of ``column``."""
    key_sql = column_expr(column, chosen.present)
    return conn.execute(
        f"SELECT {key_sql}, COUNT(*), SUM(CASE WHEN success THEN 1 ELSE 0 END), TOTAL(cost_usd),"
        f" COUNT(*) - COUNT(cost_usd), SUM(COALESCE(input_tokens, 0)), SUM(COALESCE(output_tokens, 0))"
        f" FROM telemetry_events{chosen.where} GROUP BY 1", chosen.params).fetchall()


def totals(conn: sqlite3.Connection, chosen: Selection) -> tuple[int, int, float, int, int, int]:
    """``(calls, successes, known cost, unknown-cost calls, input tokens, output tokens)`` of the selection."""
    calls, ok, cost, unknown, tin, tout = conn.execute(
        "SELECT COUNT(*), TOTAL(success), TOTAL(cost_usd), COUNT(*) - COUNT(cost_usd), TOTAL(input_tokens),"
        f" TOTAL(output_tokens) FROM telemetry_events{chosen.where}", chosen.params).fetchone()
    return calls, int(ok), cost, unknown, int(tin), int(tout)


def first_timestamp(conn: sqlite3.Connection, chosen: Selection) -> float | None:
    """The smallest timestamp of the selection (``None``: no event)."""
    # ORDER BY ... LIMIT 1 walks the timestamp index and stops at the first match (MIN() with
    # more conditions than the range may read the rest of the range).
    row = conn.execute(f"SELECT timestamp FROM telemetry_events{chosen.where} ORDER BY timestamp LIMIT 1",
                       chosen.params).fetchone()
    return None if row is None else row[0]


# --- time series, traces -----------------------------------------------------------------------

def agent_totals(conn: sqlite3.Connection, chosen: Selection) -> list[tuple[Any, ...]]:
    """``(agent, calls, known cost, calls of known cost, successes)`` per agent."""
    return conn.execute(
        "SELECT agent_name, COUNT(*), TOTAL(cost_usd), COUNT(cost_usd), TOTAL(success)"
        f" FROM telemetry_events{chosen.where} GROUP BY agent_name", chosen.params).fetchall()


def numeric_latencies(conn: sqlite3.Connection, chosen: Selection) -> list[float]:
    """The latencies of the selected events that are numbers (a hand-edited row may hold text), smallest first."""
    return sorted(row[0] for row in conn.execute(f"SELECT latency_ms FROM telemetry_events{chosen.where}", chosen.params)
                  if isinstance(row[0], (int, float)))


def count_events(conn: sqlite3.Connection, chosen: Selection) -> int:
    """How many events are selected."""
    return conn.execute(f"SELECT COUNT(*) FROM telemetry_events{chosen.where}", chosen.params).fetchone()[0]


def first_events(conn: sqlite3.Connection, chosen: Selection, limit: int) -> list[TelemetryEvent]:
    """The first ``limit`` selected events, oldest first (ties by id)."""
    rows = conn.execute(select_events_sql(conn) + chosen.where + " ORDER BY timestamp, id LIMIT ?",
                        [*chosen.params, limit]).fetchall()
    return [row_to_event(row) for row in rows]


def slowest_traced(conn: sqlite3.Connection, chosen: Selection, limit: int) -> list[tuple[Any, Any]]:
    """``(trace_id, run_id)`` of the ``limit`` slowest selected events that belong to a trace."""
    where = chosen.where + (" AND " if chosen.where else " WHERE ") + "trace_id IS NOT NULL"
    sql = (f"SELECT trace_id, {column_expr('run_id', chosen.present)} FROM telemetry_events{where}"
           " ORDER BY latency_ms DESC LIMIT ?")
    return conn.execute(sql, [*chosen.params, limit]).fetchall()


# --- a pytest run ------------------------------------------------------------------------------

def run_row(conn: sqlite3.Connection, run_id: str) -> dict[str, Any] | None:
    """Every column of the ``runs`` row of ``run_id`` by name (``None``: no such run, or no ``runs`` table)."""
    if not table_columns(conn, "runs"):
        return None
    cursor = conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,))
    row = cursor.fetchone()
    return None if row is None else dict(zip((d[0] for d in cursor.description), row))


def test_result_rows(conn: sqlite3.Connection, run_id: str) -> list[tuple[Any, ...]]:
    """``(nodeid, outcome, duration_s, events, tokens, cost_usd, unknown_cost)`` of the stored
    results of a run's tests, as stored (empty without a ``test_results`` table)."""
    columns = table_columns(conn, "test_results")
    if not columns:
        return []
    unknown = "unknown_cost" if "unknown_cost" in columns else "0"
    return conn.execute("SELECT nodeid, outcome, duration_s, events, input_tokens + output_tokens, cost_usd,"
                        f" {unknown} FROM test_results WHERE run_id = ?", (run_id,)).fetchall()


test_result_rows.__test__ = False  # type: ignore[attr-defined]  # not a pytest test function


def trace_totals(conn: sqlite3.Connection, run_id: str) -> list[tuple[Any, ...]]:
    """``(trace_id, calls, known cost, tokens, total latency, calls of unknown cost)`` of each
    trace of a run's events (a test's trace id is its node id); empty when the events have no run
    column."""
    if "run_id" not in table_columns(conn):
        return []
    return conn.execute(
        "SELECT trace_id, COUNT(*), TOTAL(cost_usd), TOTAL(input_tokens) + TOTAL(output_tokens), TOTAL(latency_ms),"
        " COUNT(*) - COUNT(cost_usd)"
        " FROM telemetry_events WHERE run_id = ? AND trace_id IS NOT NULL GROUP BY trace_id",
        (run_id,),
    ).fetchall()
