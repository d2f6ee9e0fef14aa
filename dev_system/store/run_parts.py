"""A run split across CI jobs: its job sessions (*parts*) and the ``runs`` row built from them.

A run shared by several jobs (one run id through ``DEV_SYSTEM_RUN_ID``) has one ``runs`` row per
job. In a combined database each such row is kept as a part in ``run_parts``, keyed by the run id
and a hash of what identifies the job's session (start time, host, command); the ``runs`` row is
rebuilt from the parts: earliest start, latest end, summed counts, worst status and exit status.
Storing the same part twice adds nothing, so nothing is counted twice, and the rebuilt row does
not depend on the order the parts came in. Used by :mod:`dev_system.store.combine`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from dev_system.json_fields import NOT_READ, load_object
from dev_system.store.schema import has_table, table_columns

if TYPE_CHECKING:
    import sqlite3

#: The columns of ``runs`` (``run_parts`` has them too, after its ``part_id``).
RUN_COLUMNS = ("run_id", "started_at", "ended_at", "status", "command", "git_commit", "git_branch",
               "host", "passed", "failed", "skipped", "errors", "exit_status", "metadata")

#: The key of a ``runs`` row's metadata that says how many parts it was built from.
COMBINED_PARTS = "combined_parts"

#: Run statuses from best to worst (those of dev_system.store.runs); any other status (interrupted,
#: internal error, usage error, exit N) counts as the worst.
_STATUS_RANK = {"passed": 0, "no tests": 1, "running": 2, "failed": 3}


def _part_id(row: dict[str, Any]) -> str:
    ident = json.dumps([row["run_id"], row["started_at"], row["host"], row["command"]], default=str)
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def _part_key(row: dict[str, Any]) -> tuple:
    """Between two snapshots of one job session, the later one wins: a finished one over one still
    running (never the other way round), the later end between two finished ones; ties are broken
    on the other columns, so the choice does not depend on the order the snapshots came in."""
    ended = _as_number(row["ended_at"], float)
    return (ended is not None, ended or 0.0, row["status"] not in (None, "running"),
            json.dumps([row[name] for name in RUN_COLUMNS], default=str))


def _is_aggregate(row: dict[str, Any]) -> bool:
    """True for a ``runs`` row built from several parts (:func:`rebuild_runs`)."""
    return COMBINED_PARTS in load_object(row["metadata"])


def _own_snapshot(row: dict[str, Any], part_ids: set[str]) -> dict[str, Any] | None:
    """The ``runs`` row of a run that has parts, as a part, when it is a snapshot of one of them
    (not the row built from them): a run still running when its database was combined into
    (or combined from) keeps writing its own row, which then holds that part's newer state."""
    if _is_aggregate(row):
        return None
    part_id = _part_id(row)
    if part_id not in part_ids:
        return None
    return {**row, "part_id": part_id}


def _run_rows(conn: sqlite3.Connection, schema: str, table: str, run_id: str | None = None) -> list[dict[str, Any]]:
    if not has_table(conn, table, schema=schema):
        return []
    present = table_columns(conn, table, schema=schema)
    if not {"run_id", "started_at"} <= present:
        return []
    names = [name for name in RUN_COLUMNS if name in present]
    where, params = ("", ()) if run_id is None else (" WHERE run_id = ?", (run_id,))
    rows = conn.execute(f"SELECT {', '.join(names)} FROM {schema}.{table}{where}", params).fetchall()
    out = []
    for row in rows:
        values = dict.fromkeys(RUN_COLUMNS)
        values.update(zip(names, row))
        if values["status"] is None:
            values["status"] = "running"
        out.append(values)
    return out


def parts_of(conn: sqlite3.Connection, schema: str) -> list[dict[str, Any]]:
    """The job sessions a database holds: its ``run_parts`` rows, and its ``runs`` rows for run
    ids that have no parts (an uncombined database: each run row is one part)."""
    parts: list[dict[str, Any]] = []
    if has_table(conn, "run_parts", schema=schema):
        present = table_columns(conn, "run_parts", schema=schema)
        names = [name for name in ("part_id", *RUN_COLUMNS) if name in present]
        for row in conn.execute(f"SELECT {', '.join(names)} FROM {schema}.run_parts"):
            values = dict.fromkeys(RUN_COLUMNS)
            values.update(zip(names, row))
            parts.append(values)
    part_ids: dict[Any, set[str]] = {}
    for part in parts:
        part_ids.setdefault(part["run_id"], set()).add(part["part_id"])
    for row in _run_rows(conn, schema, "runs"):
        if row["run_id"] not in part_ids:
            row["part_id"] = _part_id(row)
            parts.append(row)
            continue
        snapshot = _own_snapshot(row, part_ids[row["run_id"]])
        if snapshot is not None:
            parts.append(snapshot)
    return [_typed(part) for part in parts if part["run_id"] is not None]


def _as_number(value: Any, kind: type) -> Any:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if number != number or abs(number) == float("inf"):
        return None
    return number if kind is float else int(number)


def _typed(part: dict[str, Any]) -> dict[str, Any]:
    """A part with numbers as numbers (a hand-edited database may hold text there)."""
    for name in ("started_at", "ended_at"):
        part[name] = _as_number(part[name], float)
    if part["started_at"] is None:
        part["started_at"] = 0.0
    for name in ("passed", "failed", "skipped", "errors", "exit_status"):
        part[name] = _as_number(part[name], int)
    for name in ("run_id", "part_id", "status", "command", "git_commit", "git_branch", "host", "metadata"):
        if part.get(name) is not None and not isinstance(part[name], str):
            part[name] = str(part[name])
    if part["status"] is None:
        part["status"] = "running"
    return part


def store_parts(conn: sqlite3.Connection, parts: Sequence[dict[str, Any]]) -> tuple[int, set[str]]:
    """Add ``parts`` to the output's ``run_parts``; returns (new parts, run ids touched)."""
    added = 0
    touched: set[str] = set()
    names = ("part_id", *RUN_COLUMNS)
    for part in parts:
        existing = conn.execute(
            f"SELECT {', '.join(RUN_COLUMNS)} FROM main.run_parts WHERE run_id = ? AND part_id = ?",
            (part["run_id"], part["part_id"]),
        ).fetchone()
        if existing is not None:
            old = dict(zip(RUN_COLUMNS, existing))
            if _part_key(part) <= _part_key(old):
                continue
            conn.execute("DELETE FROM main.run_parts WHERE run_id = ? AND part_id = ?",
                         (part["run_id"], part["part_id"]))
        else:
            added += 1
        conn.execute(
            f"INSERT INTO main.run_parts ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            [part[name] for name in names],
        )
        touched.add(part["run_id"])
    return added, touched


def _joined(values: Iterable[Any]) -> Any:
    distinct = sorted({value for value in values if value is not None}, key=str)
    if not distinct:
        return None
    if len(distinct) == 1:
        return distinct[0]
    return ", ".join(str(value) for value in distinct)


def _total(values: Iterable[Any]) -> int | None:
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def _aggregate(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One ``runs`` row for a run from its parts (independent of their order)."""
    parts = sorted(parts, key=lambda part: (part["started_at"], part["part_id"]))
    if len(parts) == 1:
        return {name: parts[0][name] for name in RUN_COLUMNS}
    ended = [part["ended_at"] for part in parts if part["ended_at"] is not None]
    statuses = sorted({part["status"] for part in parts},
                      key=lambda status: (_STATUS_RANK.get(status, 4), status))
    exits = [part["exit_status"] for part in parts if part["exit_status"] is not None]
    metas = [load_object(part["metadata"]) for part in parts]
    common = {key: value for key, value in metas[0].items()
              if key != NOT_READ and all(meta.get(key) == value for meta in metas[1:])}
    common[COMBINED_PARTS] = len(parts)
    return {
        "run_id": parts[0]["run_id"],
        "started_at": parts[0]["started_at"],
        "ended_at": max(ended) if ended else None,
        "status": statuses[-1],
        "command": _joined(part["command"] for part in parts),
        "git_commit": _joined(part["git_commit"] for part in parts),
        "git_branch": _joined(part["git_branch"] for part in parts),
        "host": _joined(part["host"] for part in parts),
        "passed": _total(part["passed"] for part in parts),
        "failed": _total(part["failed"] for part in parts),
        "skipped": _total(part["skipped"] for part in parts),
        "errors": _total(part["errors"] for part in parts),
        "exit_status": max(exits) if exits else None,
        "metadata": json.dumps(common, sort_keys=True),
    }


def rebuild_runs(conn: sqlite3.Connection, run_ids: Iterable[str]) -> None:
    """Build the ``runs`` row of each of ``run_ids`` from its parts, after taking in the newer
    state of a part that a run still running wrote to its own row since (:func:`_own_snapshot`)."""
    columns = ", ".join(RUN_COLUMNS)
    for run_id in sorted(run_ids):
        rows = conn.execute(f"SELECT part_id, {columns} FROM main.run_parts WHERE run_id = ?", (run_id,)).fetchall()
        parts = [dict(zip(("part_id", *RUN_COLUMNS), row)) for row in rows]
        own = _run_rows(conn, "main", "runs", run_id)
        snapshot = _own_snapshot(own[0], {part["part_id"] for part in parts}) if own else None
        if snapshot is not None and store_parts(conn, [_typed(snapshot)])[1]:
            parts = [part for part in parts if part["part_id"] != snapshot["part_id"]] + [snapshot]
        row = _aggregate(parts)
        conn.execute(f"INSERT OR REPLACE INTO main.runs ({columns}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})",
                     [row[name] for name in RUN_COLUMNS])
