"""The SQLite store: connection, schema with a version, migrations, inserts.

The schema keeps the reference system's documented ``telemetry_events`` columns in their order
and adds columns after them. ``PRAGMA user_version`` holds :data:`SCHEMA_VERSION`; a database
made by the reference system (version 0, documented columns only) is migrated in place, in one
transaction, when it is opened for writing.

Version 2 replaced the indexes on ``trace_id`` and on ``run_id`` with one on ``(run_id,
trace_id)``: a pytest run's events have the node ids of the same tests as trace ids in every run,
so an index on ``trace_id`` alone took each run's entries at scattered places (the pages a run
wrote grew with the database's history); with the run first, a run's entries are adjacent. A
trace is found through it run by run (:func:`dev_system.store.queries.where_clause`).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from contextlib import contextmanager
from typing import Iterator


SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 10_000

_EVENTS_TABLE = """
CREATE TABLE IF NOT EXISTS telemetry_events (
    id INTEGER PRIMARY KEY,
    timestamp REAL NOT NULL,
    event_type TEXT NOT NULL,
    agent_name TEXT NOT NULL,
    function_name TEXT NOT NULL,
    input_tokens INTEGER DEFAULT 0,
    output_tokens INTEGER DEFAULT 0,
    latency_ms REAL NOT NULL,
    cost_usd REAL DEFAULT 0.0,
    success BOOLEAN NOT NULL,
    error_type TEXT,
    trace_id TEXT,
    metadata TEXT,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP
)"""

#: Columns added after the documented ones, with their SQL types (order matters).
_ADDED_COLUMNS = (
    ("event_id", "TEXT"),
    ("span_id", "TEXT"),
    ("parent_span_id", "TEXT"),
    ("run_id", "TEXT"),
    ("model", "TEXT"),
)

_OTHER_TABLES = (
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
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
        metadata TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS test_results (
        run_id TEXT NOT NULL,
        nodeid TEXT NOT NULL,
        outcome TEXT NOT NULL,
        duration_s REAL,
        events INTEGER NOT NULL DEFAULT 0,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0.0,
        unknown_cost INTEGER NOT NULL DEFAULT 0,
        max_latency_ms REAL,
        PRIMARY KEY (run_id, nodeid)
    )""",
    """CREATE TABLE IF NOT EXISTS dropped_events (
        id INTEGER PRIMARY KEY,
        timestamp REAL NOT NULL,
        run_id TEXT,
        count INTEGER NOT NULL,
        reason TEXT NOT NULL
    )""",
)

_INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS ix_events_event_id ON telemetry_events(event_id)",
    "CREATE INDEX IF NOT EXISTS ix_events_timestamp ON telemetry_events(timestamp)",
    "CREATE INDEX IF NOT EXISTS ix_events_run_trace ON telemetry_events(run_id, trace_id)",
)
#: Indexes of earlier versions, dropped when a database is migrated.
_DROPPED_INDEXES = ("ix_events_trace", "ix_events_run")


class StoreError(Exception):
    """A database that cannot be used; the message is one line for a person."""


class DatabaseMissing(StoreError):
    """The database file does not exist."""


class NotATelemetryDatabase(StoreError):
    """The file is not SQLite, is corrupt, or has no ``telemetry_events`` table."""


class NewerSchema(StoreError):
    """The database was written by a newer version of this project."""


def shown(path: object) -> str:
    """``path`` as text for a one-line message: control characters (a newline, an escape
    sequence) are written as Python escapes, so the message stays one line and inert."""
    text = str(path)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def _make_private_file(path: Path) -> None:
    # Every folder made here is private, not only the last one (mkdir(parents=True) makes the
    # others with the umask's permissions: .dev-system/ world-writable under umask 000).
    missing = []
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open: SQLite ends it by itself on some errors (a full
    disk during COMMIT), and a failing ROLLBACK would hide the error that matters."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back when the block raises (anything, even
    ``KeyboardInterrupt``). Immediate: the write lock is taken at the start, so a writer waits for
    another (the busy timeout) instead of failing at its first write. The connection must be in
    autocommit mode (``isolation_level=None``), as :func:`connect` opens it."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _columns(conn: sqlite3.Connection) -> list[str]:
    return [row[1] for row in conn.execute("PRAGMA table_info(telemetry_events)")]


def _ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise NewerSchema(
            f"{shown(path)} has schema version {version}; this dev-system knows up to {SCHEMA_VERSION}: upgrade pytest-devtelemetry"
        )
    columns = _columns(conn)
    if version == SCHEMA_VERSION and columns:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have migrated while we waited for the write lock.
        if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            conn.execute("COMMIT")
            return
        conn.execute(_EVENTS_TABLE)
        present = set(_columns(conn))
        for name, sql_type in _ADDED_COLUMNS:
            if name not in present:
                conn.execute(f"ALTER TABLE telemetry_events ADD COLUMN {name} {sql_type}")
        for name in _DROPPED_INDEXES:
            conn.execute(f"DROP INDEX IF EXISTS {name}")
        for statement in _OTHER_TABLES + _INDEXES:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _check_readable(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise NewerSchema(
            f"{shown(path)} has schema version {version}; this dev-system knows up to {SCHEMA_VERSION}: upgrade pytest-devtelemetry"
        )
    if not _columns(conn):
        raise NotATelemetryDatabase(f"{shown(path)} is not a telemetry database (no telemetry_events table)")


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """``mode=ro``; for a WAL database nobody has open in a folder we cannot write to (no ``-shm``
    can be made, e.g. another user's database or a read-only mount), ``immutable=1`` instead:
    safe then, because there is no writer and no WAL content to miss."""
    uri = path.resolve().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        wal = Path(f"{path}-wal")
        if "readonly" not in str(exc) or (wal.exists() and wal.stat().st_size > 0):
            raise
        conn.close()
        conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
    return conn


def connect(path: str | os.PathLike[str], *, readonly: bool = False) -> sqlite3.Connection:
    """Open the telemetry database at ``path``.

    For writing (the default) the file, its folder and the schema are created or migrated, with
    WAL journaling and a busy timeout. ``readonly=True`` never creates or changes anything, and
    raises :class:`DatabaseMissing`, :class:`NotATelemetryDatabase` or :class:`NewerSchema` with
    a one-line message for a person.
    """
    path = Path(path)
    try:
        if readonly:
            try:
                present = path.is_file()
            except OSError as exc:  # a name too long for the file system, a folder we may not read
                raise StoreError(f"cannot open {shown(path)}: {exc.strerror or exc}") from None
            if not present:
                raise DatabaseMissing(
                    f"no telemetry database at {shown(path)}: run 'dev-system init --telemetry' or record some events first"
                )
            conn = _connect_readonly(path)
            _check_readable(conn, path)
            return conn
        _make_private_file(path)
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:  # before anything changes the file (even its journal mode)
            conn.close()
            raise NewerSchema(
                f"{shown(path)} has schema version {version}; this dev-system knows up to {SCHEMA_VERSION}: "
                "upgrade pytest-devtelemetry"
            )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        _ensure_schema(conn, path)
        return conn
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise
        raise NotATelemetryDatabase(f"{shown(path)} is not a usable telemetry database: {exc}") from exc
