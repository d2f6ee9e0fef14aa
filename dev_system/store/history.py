"""A test's results across runs: the stored ``test_results`` rows of many runs, newest run first.

Every read looks rows up by ``test_results``' primary key ``(run_id, nodeid)``, run by run, so
the cost of a read grows with the runs asked for, not with the database's whole history.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from dev_system.store.runs import RUN_WIDTH, SELECT_RUNS, Run, TestResult, run_from_row
from dev_system.store.schema import has_table

if TYPE_CHECKING:
    import sqlite3

_RESULT_COLUMNS = ("t.nodeid, t.outcome, t.duration_s, t.events, t.input_tokens, t.output_tokens, t.cost_usd,"
                   " t.unknown_cost, t.max_latency_ms")
_CHUNK = 500


def test_runs(conn: sqlite3.Connection, nodeid: str, *, limit: int | None = 10) -> list[tuple[Run, TestResult]]:
    """The last ``limit`` runs (``None``: all) that stored a result for test ``nodeid``, newest
    first, each with that result."""
    if not (has_table(conn, "runs") and has_table(conn, "test_results")):
        return []
    # CROSS JOIN keeps runs outside: each run probes test_results by its primary key.
    sql = (f"SELECT r.*, {_RESULT_COLUMNS} FROM ({SELECT_RUNS}) AS r CROSS JOIN test_results AS t"
           " ON t.run_id = r.run_id AND t.nodeid = ? ORDER BY r.started_at DESC, r.run_id DESC")
    params: list[object] = [nodeid]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [(run_from_row(row[:RUN_WIDTH]), TestResult(*row[RUN_WIDTH:])) for row in conn.execute(sql, params)]


test_runs.__test__ = False  # type: ignore[attr-defined]  # not a pytest test function


def results_of_runs(conn: sqlite3.Connection, run_ids: Iterable[str]) -> dict[str, dict[str, TestResult]]:
    """The stored results of the tests of each run in ``run_ids``: run id to node id to result."""
    ids = list(dict.fromkeys(run_ids))
    out: dict[str, dict[str, TestResult]] = {run_id: {} for run_id in ids}
    if not ids or not has_table(conn, "test_results"):
        return out
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        rows = conn.execute(f"SELECT t.run_id, {_RESULT_COLUMNS} FROM test_results AS t"
                            f" WHERE t.run_id IN ({', '.join('?' * len(chunk))})", chunk)
        for row in rows:
            out[row[0]][row[1]] = TestResult(*row[1:])
    return out
