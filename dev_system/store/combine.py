"""Merging telemetry databases, the way ``coverage combine`` merges coverage data.

A CI pipeline that splits its tests across jobs leaves one database per job. :func:`combine`
merges any number of them into one output database so that every report works on the whole:

- **events** are keyed by ``event_id`` (unique); an event already in the output is skipped. A
  database written by the reference system has no ``event_id``: its events get a stable id derived
  from the row (``legacy-`` + a hash of its id and content), the same however often it is merged.
- **test results** are keyed by ``(run_id, nodeid)``. When two inputs hold different results for
  the same key (the same test run twice under one shared run id), the worse outcome is kept
  (error > failed > xpassed > xfailed > skipped > passed; ties broken on the other columns), so the
  outcome does not depend on the order of the inputs.
- **runs** are keyed by ``run_id``. A run split across jobs (one run id shared through
  ``DEV_SYSTEM_RUN_ID``) has one ``runs`` row per job; each such row is kept as a *part* in the
  output's ``run_parts`` table, keyed by the run id and a hash of what identifies the job's session
  (start time, host, command), and the output's ``runs`` row is rebuilt from the parts: earliest
  start, latest end, summed counts, worst status and exit status. Merging the same job twice adds
  no part, so nothing is counted twice.
- **dropped-event records** are copied unless an identical record is there already.

Inputs are opened read-only (an older schema is read as it is, never migrated in place); the output
is created or migrated to the current schema. Every input is checked before the output is touched;
then each input is merged in its own transaction (a merge is idempotent, so running an interrupted
combine again completes it). Inputs are deleted only when asked, and only
after the merge is committed. An input that is the output itself is skipped.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import sqlite3
from dataclasses import field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from dev_system.store import db as store
from dev_system.events import DOCUMENTED_COLUMNS, EXTRA_COLUMNS
from dev_system.structs import struct
from dev_system.store.db import shown

__all__ = ["CombineError", "CombineResult", "InputReport", "combine", "expand_inputs"]

_GLOB_CHARS = set("*?[")

#: Outcome severity for choosing between two results of the same test (higher wins).
_OUTCOME_RANK = {"passed": 0, "skipped": 1, "xfailed": 2, "xpassed": 3, "failed": 4, "error": 5}

_RESULT_COLUMNS = ("run_id", "nodeid", "outcome", "duration_s", "events", "input_tokens",
                   "output_tokens", "cost_usd", "unknown_cost", "max_latency_ms")

_RUN_COLUMNS = ("run_id", "started_at", "ended_at", "status", "command", "git_commit", "git_branch",
                "host", "passed", "failed", "skipped", "errors", "exit_status", "metadata")

_RUN_PARTS_TABLE = """CREATE TABLE IF NOT EXISTS run_parts (
    run_id TEXT NOT NULL,
    part_id TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    status TEXT NOT NULL DEFAULT 'running',
    command TEXT,
    git_commit TEXT,
    git_branch TEXT,
    host TEXT,
    passed INTEGER,
    failed INTEGER,
    skipped INTEGER,
    errors INTEGER,
    exit_status INTEGER,
    metadata TEXT,
    PRIMARY KEY (run_id, part_id)
)"""

#: Run statuses from best to worst (those of dev_system.store.runs); any other status (interrupted,
#: internal error, usage error, exit N) counts as the worst.
_STATUS_RANK = {"passed": 0, "no tests": 1, "running": 2, "failed": 3}


class CombineError(Exception):
    """An input or output that cannot be combined; the message is one line for a person."""


@struct(frozen=False)
class InputReport:
    """What happened to one input."""

    path: Path
    status: str  # "combined", "self" (the output itself; skipped)
    events: int = 0  # events the output did not have yet
    test_results: int = 0  # results added or replaced by a worse outcome
    run_parts: int = 0  # job sessions the output did not have yet


@struct(frozen=False)
class CombineResult:
    """The outcome of :func:`combine`."""

    output: Path
    inputs: list[InputReport] = field(default_factory=list)
    deleted: list[Path] = field(default_factory=list)
    total_events: int = 0
    total_runs: int = 0
    total_test_results: int = 0

    @property
    def added_events(self) -> int:
        return sum(report.events for report in self.inputs)


# -- finding the inputs ---------------------------------------------------------------------------


def expand_inputs(patterns: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files named by ``patterns``: paths, glob patterns (``**`` allowed) and folders (every
    ``*.db`` below them, also for folders a pattern matches). Order is kept, duplicates removed; a pattern matching nothing or a
    missing path raises :class:`CombineError`."""
    found: list[Path] = []
    for pattern in patterns:
        text = os.fspath(pattern)
        if _GLOB_CHARS & set(text):
            matches = []
            for match in sorted(Path(m) for m in glob.glob(os.path.expanduser(text), recursive=True)):
                if match.is_dir():
                    matches.extend(sorted(p for p in match.rglob("*.db") if p.is_file()))
                elif match.is_file():
                    matches.append(match)
            if not matches:
                raise CombineError(f"no files match {shown(repr(text))}")
            found.extend(matches)
            continue
        path = Path(text).expanduser()
        if path.is_dir():
            matches = sorted(p for p in path.rglob("*.db") if p.is_file())
            if not matches:
                raise CombineError(f"no *.db files in folder {shown(text)}")
            found.extend(matches)
        elif path.is_file():
            found.append(path)
        else:
            raise CombineError(f"{shown(text)}: no such file")
    seen: set[Path] = set()
    unique = []
    for path in found:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


# -- SQL helpers ----------------------------------------------------------------------------------


def _legacy_event_id(row_id: Any, *values: Any) -> str:
    digest = hashlib.sha256(json.dumps([row_id, *values], default=str).encode()).hexdigest()
    return "legacy-" + digest[:32]


def _result_key(*values: Any) -> str:
    """A text that sorts like the preference between two results of one test."""
    outcome = values[0]
    rank = _OUTCOME_RANK.get(outcome, 6)
    return f"{rank}:" + json.dumps(list(values), default=str)


def _tables(conn: sqlite3.Connection, schema: str) -> set[str]:
    return {row[0] for row in conn.execute(f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table'")}


def _columns(conn: sqlite3.Connection, schema: str, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA {schema}.table_info({table})")}


def _expr(name: str, present: set[str], alias: str = "s") -> str:
    return f"{alias}.{name}" if name in present else "NULL"


def _uri(path: Path, mode: str | None = None) -> str:
    uri = path.resolve().as_uri()
    return f"{uri}?mode={mode}" if mode else uri


# -- the merge ------------------------------------------------------------------------------------


#: Columns an input's events must have: the output's NOT NULL columns.
_REQUIRED = ("timestamp", "event_type", "agent_name", "function_name", "latency_ms", "success")


def _check_input(path: Path) -> None:
    try:
        conn = store.connect(path, readonly=True)
    except store.StoreError as exc:
        raise CombineError(str(exc)) from None
    except sqlite3.Error as exc:
        raise CombineError(f"{shown(path)} cannot be read: {exc}") from None
    try:
        missing = [name for name in _REQUIRED if name not in _columns(conn, "main", "telemetry_events")]
        conn.execute("SELECT COUNT(*) FROM telemetry_events").fetchone()
    except sqlite3.Error as exc:
        raise CombineError(f"{shown(path)} cannot be read: {exc}") from None
    finally:
        conn.close()
    if missing:
        raise CombineError(f"{shown(path)} is not a telemetry database: telemetry_events has no {', '.join(missing)}")


def _backfill_event_ids(conn: sqlite3.Connection, schema: str) -> None:
    """Give events without an event_id (written by the reference system) their derived id."""
    conn.execute(
        f"UPDATE OR IGNORE {schema}.telemetry_events SET event_id = ds_legacy_id(id, timestamp, event_type, "
        "agent_name, function_name, trace_id, metadata) WHERE event_id IS NULL"
    )
    # A row whose derived id is taken already is a copy of that row.
    conn.execute(f"DELETE FROM {schema}.telemetry_events WHERE event_id IS NULL")


def _merge_events(conn: sqlite3.Connection) -> int:
    present = _columns(conn, "src", "telemetry_events")
    legacy = ("ds_legacy_id(s.id, s.timestamp, s.event_type, s.agent_name, s.function_name, "
              f"{_expr('trace_id', present)}, {_expr('metadata', present)})")
    columns = [*DOCUMENTED_COLUMNS, *EXTRA_COLUMNS, "created_at"]
    exprs = []
    for name in columns:
        if name == "event_id":
            exprs.append(f"COALESCE(s.event_id, {legacy})" if "event_id" in present else legacy)
        elif name == "created_at" and name not in present:
            exprs.append("CURRENT_TIMESTAMP")
        else:
            exprs.append(_expr(name, present))
    before = conn.total_changes
    conn.execute(
        "INSERT OR IGNORE INTO main.telemetry_events ({}) SELECT {} FROM src.telemetry_events s ORDER BY s.id".format(
            ", ".join(columns), ", ".join(exprs))
    )
    return conn.total_changes - before


def _merge_test_results(conn: sqlite3.Connection) -> int:
    if "test_results" not in _tables(conn, "src"):
        return 0
    present = _columns(conn, "src", "test_results")
    if not {"run_id", "nodeid", "outcome"} <= present:
        return 0
    columns = ", ".join(_RESULT_COLUMNS)
    exprs = ", ".join(_expr(name, present) for name in _RESULT_COLUMNS)
    updates = ", ".join(f"{name} = excluded.{name}" for name in _RESULT_COLUMNS[2:])
    key_new = "ds_result_key({})".format(", ".join(f"excluded.{n}" for n in _RESULT_COLUMNS[2:]))
    key_old = "ds_result_key({})".format(", ".join(f"test_results.{n}" for n in _RESULT_COLUMNS[2:]))
    before = conn.total_changes
    conn.execute(
        f"INSERT INTO main.test_results ({columns}) SELECT {exprs} FROM src.test_results s WHERE true "
        f"ON CONFLICT (run_id, nodeid) DO UPDATE SET {updates} WHERE {key_new} > {key_old}"
    )
    return conn.total_changes - before


def _part_id(row: dict[str, Any]) -> str:
    ident = json.dumps([row["run_id"], row["started_at"], row["host"], row["command"]], default=str)
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def _part_key(row: dict[str, Any]) -> str:
    """Between two snapshots of one job session, the later (finished) one wins."""
    return json.dumps([row["ended_at"] is not None, row["ended_at"] or 0.0, row["status"] != "running",
                       [row[name] for name in _RUN_COLUMNS]], default=str)


def _run_rows(conn: sqlite3.Connection, schema: str, table: str) -> list[dict[str, Any]]:
    if table not in _tables(conn, schema):
        return []
    present = _columns(conn, schema, table)
    if not {"run_id", "started_at"} <= present:
        return []
    names = [name for name in _RUN_COLUMNS if name in present]
    rows = conn.execute(f"SELECT {', '.join(names)} FROM {schema}.{table}").fetchall()
    out = []
    for row in rows:
        values = dict.fromkeys(_RUN_COLUMNS)
        values.update(zip(names, row))
        if values["status"] is None:
            values["status"] = "running"
        out.append(values)
    return out


def _parts_of(conn: sqlite3.Connection, schema: str) -> list[dict[str, Any]]:
    """The job sessions a database holds: its ``run_parts`` rows, and its ``runs`` rows for run
    ids that have no parts (an uncombined database: each run row is one part)."""
    parts: list[dict[str, Any]] = []
    if "run_parts" in _tables(conn, schema):
        present = _columns(conn, schema, "run_parts")
        names = [name for name in ("part_id", *_RUN_COLUMNS) if name in present]
        for row in conn.execute(f"SELECT {', '.join(names)} FROM {schema}.run_parts"):
            values = dict.fromkeys(_RUN_COLUMNS)
            values.update(zip(names, row))
            parts.append(values)
    with_parts = {part["run_id"] for part in parts}
    for row in _run_rows(conn, schema, "runs"):
        if row["run_id"] not in with_parts:
            row["part_id"] = _part_id(row)
            parts.append(row)
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


def _store_parts(conn: sqlite3.Connection, parts: Sequence[dict[str, Any]]) -> tuple[int, set[str]]:
    """Add ``parts`` to the output's ``run_parts``; returns (new parts, run ids touched)."""
    added = 0
    touched: set[str] = set()
    names = ("part_id", *_RUN_COLUMNS)
    for part in parts:
        existing = conn.execute(
            f"SELECT {', '.join(_RUN_COLUMNS)} FROM main.run_parts WHERE run_id = ? AND part_id = ?",
            (part["run_id"], part["part_id"]),
        ).fetchone()
        if existing is not None:
            old = dict(zip(_RUN_COLUMNS, existing))
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
        return {name: parts[0][name] for name in _RUN_COLUMNS}
    ended = [part["ended_at"] for part in parts if part["ended_at"] is not None]
    statuses = sorted({part["status"] for part in parts},
                      key=lambda status: (_STATUS_RANK.get(status, 4), status))
    exits = [part["exit_status"] for part in parts if part["exit_status"] is not None]
    metas = []
    for part in parts:
        try:
            value = json.loads(part["metadata"]) if part["metadata"] else {}
        except ValueError:
            value = {}
        metas.append(value if isinstance(value, dict) else {})
    common = {key: value for key, value in metas[0].items() if all(meta.get(key) == value for meta in metas[1:])}
    common["combined_parts"] = len(parts)
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


def _rebuild_runs(conn: sqlite3.Connection, run_ids: Iterable[str]) -> None:
    columns = ", ".join(_RUN_COLUMNS)
    for run_id in sorted(run_ids):
        rows = conn.execute(f"SELECT part_id, {columns} FROM main.run_parts WHERE run_id = ?", (run_id,)).fetchall()
        parts = [dict(zip(("part_id", *_RUN_COLUMNS), row)) for row in rows]
        row = _aggregate(parts)
        conn.execute(f"INSERT OR REPLACE INTO main.runs ({columns}) VALUES ({', '.join('?' * len(_RUN_COLUMNS))})",
                     [row[name] for name in _RUN_COLUMNS])


def _merge_dropped(conn: sqlite3.Connection) -> None:
    if "dropped_events" not in _tables(conn, "src"):
        return
    present = _columns(conn, "src", "dropped_events")
    if not {"timestamp", "count", "reason"} <= present:
        return
    run_id = _expr("run_id", present)
    conn.execute(
        f"INSERT INTO main.dropped_events (timestamp, run_id, count, reason) "
        f"SELECT s.timestamp, {run_id}, s.count, s.reason FROM src.dropped_events s WHERE NOT EXISTS ("
        f"SELECT 1 FROM main.dropped_events d WHERE d.timestamp = s.timestamp AND d.count = s.count "
        f"AND d.reason = s.reason AND d.run_id IS {run_id}) ORDER BY s.id"
    )


def _delete_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            pass


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def combine(inputs: Iterable[str | os.PathLike[str]], into: str | os.PathLike[str], *,
            delete_inputs: bool = False, message: Callable[[str], None] | None = None) -> CombineResult:
    """Merge the telemetry databases named by ``inputs`` (paths, globs, folders) into ``into``.

    Every input is checked before the output is touched: a missing file, a file that is not a
    telemetry database, or one written by a newer version raises :class:`CombineError` and the
    output is left as it was. ``message`` receives one line per input.
    """
    output = Path(into).expanduser()
    paths = expand_inputs(inputs)
    if not paths:
        raise CombineError("no databases to combine")
    out_key = output.resolve()
    for path in paths:
        if path.resolve() != out_key:
            _check_input(path)
    if output.exists() and output.is_dir():
        raise CombineError(f"{shown(output)} is a folder; give the path of the database to write")
    try:
        store.connect(output).close()  # create the output or migrate it to the current schema
    except store.StoreError as exc:
        raise CombineError(str(exc)) from None
    except sqlite3.Error as exc:
        raise CombineError(f"{shown(output)} cannot be written: {exc}") from None

    result = CombineResult(output)
    conn = sqlite3.connect(_uri(output), uri=True, isolation_level=None,
                           timeout=store.BUSY_TIMEOUT_MS / 1000)
    try:
        conn.execute(f"PRAGMA busy_timeout = {store.BUSY_TIMEOUT_MS}")
        conn.create_function("ds_legacy_id", 7, _legacy_event_id, deterministic=True)
        conn.create_function("ds_result_key", len(_RESULT_COLUMNS) - 2, _result_key, deterministic=True)
        conn.execute(_RUN_PARTS_TABLE)
        with _transaction(conn):
            _backfill_event_ids(conn, "main")
            _rebuild_runs(conn, _store_parts(conn, _parts_of(conn, "main"))[1])
        for path in paths:
            if path.resolve() == out_key:
                result.inputs.append(InputReport(path, "self"))
                if message:
                    message(f"Skipped {shown(path)}: it is the output")
                continue
            conn.execute("ATTACH DATABASE ? AS src", (_uri(path, "ro"),))
            try:
                report = InputReport(path, "combined")
                with _transaction(conn):
                    report.events = _merge_events(conn)
                    report.test_results = _merge_test_results(conn)
                    report.run_parts, touched = _store_parts(conn, _parts_of(conn, "src"))
                    _merge_dropped(conn)
                    _rebuild_runs(conn, touched)
            finally:
                conn.execute("DETACH DATABASE src")
            result.inputs.append(report)
            if message:
                message(f"Combined {shown(path)}: {report.events} new events, {report.test_results} test results, "
                        f"{report.run_parts} new run parts")
        result.total_events = conn.execute("SELECT COUNT(*) FROM telemetry_events").fetchone()[0]
        result.total_runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        result.total_test_results = conn.execute("SELECT COUNT(*) FROM test_results").fetchone()[0]
    except sqlite3.Error as exc:
        raise CombineError(f"combining into {shown(output)} failed: {exc}") from None
    finally:
        conn.close()
    if delete_inputs:
        for report in result.inputs:
            if report.status == "combined":
                _delete_database(report.path)
                result.deleted.append(report.path)
    return result
