"""Merging telemetry databases, the way ``coverage combine`` merges coverage data.

A CI pipeline that splits its tests across jobs leaves one database per job. :func:`combine`
merges any number of them into one output database so that every report works on the whole:

- **events** are keyed by ``event_id`` (unique); an event already in the output is skipped. A
  database of schema version 0 has no ``event_id``: its events get a stable id derived
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
  no part, so nothing is counted twice (:mod:`dev_system.store.run_parts`).
- **dropped-event records** are copied unless an identical record is there already.
- **scores** are keyed by ``score_id`` (unique); a score already in the output is skipped.

Inputs are opened read-only (an older schema is read as it is, never migrated in place); the output
is created or migrated to the current schema. Every input is checked before the output is touched;
then each input is merged in its own transaction (a merge is idempotent, so running an interrupted
combine again completes it). Inputs are deleted only when asked, and only after the merge is
committed. An input that is the output itself is skipped.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import field
from pathlib import Path
from typing import Any

from dev_system.events import DOCUMENTED_COLUMNS, EXTRA_COLUMNS
from dev_system.formatting import plural
from dev_system.messages import shown
from dev_system.store import db as store
from dev_system.store.db import transaction
from dev_system.store.run_parts import parts_of, rebuild_runs, store_parts
from dev_system.store.schema import has_table, not_ours, table_columns
from dev_system.structs import struct

__all__ = ["CombineError", "CombineResult", "InputReport", "combine", "expand_inputs"]

_GLOB_CHARS = set("*?[")

#: Outcome severity for choosing between two results of the same test (higher wins).
_OUTCOME_RANK = {"passed": 0, "skipped": 1, "xfailed": 2, "xpassed": 3, "interrupted": 4, "failed": 5, "error": 6}

_RESULT_COLUMNS = ("run_id", "nodeid", "outcome", "duration_s", "events", "input_tokens",
                   "output_tokens", "cost_usd", "unknown_cost", "max_latency_ms")


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
    scores: int = 0  # scores the output did not have yet


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
    rank = _OUTCOME_RANK.get(outcome, 7)
    return f"{rank}:" + json.dumps(list(values), default=str)


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
        missing = [name for name in _REQUIRED if name not in table_columns(conn)]
        conn.execute("SELECT COUNT(*) FROM telemetry_events").fetchone()
    except sqlite3.Error as exc:
        raise CombineError(f"{shown(path)} cannot be read: {exc}") from None
    finally:
        conn.close()
    if missing:
        raise CombineError(f"{shown(path)} is not a telemetry database: telemetry_events has no {', '.join(missing)}")


def _backfill_event_ids(conn: sqlite3.Connection, schema: str) -> None:
    """Give events without an event_id (a database of schema version 0) their derived id."""
    conn.execute(
        f"UPDATE OR IGNORE {schema}.telemetry_events SET event_id = ds_legacy_id(id, timestamp, event_type, "
        "agent_name, function_name, trace_id, metadata) WHERE event_id IS NULL"
    )
    # A row whose derived id is taken already is a copy of that row.
    conn.execute(f"DELETE FROM {schema}.telemetry_events WHERE event_id IS NULL")


def _merge_events(conn: sqlite3.Connection) -> int:
    present = table_columns(conn, schema="src")
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
    if not has_table(conn, "test_results", schema="src"):
        return 0
    present = table_columns(conn, "test_results", schema="src")
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


def _merge_dropped(conn: sqlite3.Connection) -> None:
    if not has_table(conn, "dropped_events", schema="src"):
        return
    present = table_columns(conn, "dropped_events", schema="src")
    if not {"timestamp", "count", "reason"} <= present:
        return
    run_id = _expr("run_id", present)
    conn.execute(
        f"INSERT INTO main.dropped_events (timestamp, run_id, count, reason) "
        f"SELECT s.timestamp, {run_id}, s.count, s.reason FROM src.dropped_events s WHERE NOT EXISTS ("
        f"SELECT 1 FROM main.dropped_events d WHERE d.timestamp = s.timestamp AND d.count = s.count "
        f"AND d.reason = s.reason AND d.run_id IS {run_id}) ORDER BY s.id"
    )


def _merge_scores(conn: sqlite3.Connection) -> int:
    if not has_table(conn, "scores", schema="src"):
        return 0
    from dev_system.store.scores import SCORE_COLUMNS

    columns = ", ".join(SCORE_COLUMNS)
    before = conn.total_changes
    conn.execute(f"INSERT OR IGNORE INTO main.scores ({columns}) SELECT {columns} FROM src.scores "
                 "WHERE score_id IS NOT NULL ORDER BY id")
    return conn.total_changes - before


def _delete_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            pass


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
        with transaction(conn):
            _backfill_event_ids(conn, "main")
            rebuild_runs(conn, store_parts(conn, parts_of(conn, "main"))[1])
        for path in paths:
            if path.resolve() == out_key:
                result.inputs.append(InputReport(path, "self"))
                if message:
                    message(f"Skipped {shown(path)}: it is the output")
                continue
            conn.execute("ATTACH DATABASE ? AS src", (_uri(path, "ro"),))
            try:
                reason = not_ours(conn, schema="src")  # checked before, but the file may have been replaced since
                if reason is not None:
                    raise CombineError(f"{shown(path)} is not a telemetry database: {reason}")
                report = InputReport(path, "combined")
                with transaction(conn):
                    report.events = _merge_events(conn)
                    report.test_results = _merge_test_results(conn)
                    report.run_parts, touched = store_parts(conn, parts_of(conn, "src"))
                    _merge_dropped(conn)
                    report.scores = _merge_scores(conn)
                    rebuild_runs(conn, touched)
            finally:
                conn.execute("DETACH DATABASE src")
            result.inputs.append(report)
            if message:
                message(f"Combined {shown(path)}: {plural(report.events, 'new event')}, "
                        f"{plural(report.test_results, 'test result')}, {plural(report.run_parts, 'new run part')}"
                        + (f", {plural(report.scores, 'new score')}" if report.scores else ""))
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
