"""Opening the telemetry database (read-write or read-only), the one ``transaction()`` helper,
and the errors a database that cannot be used raises.

Opening for writing creates the file (private) and its folder, and migrates an older schema in
place, in one transaction (:mod:`dev_system.store.schema`); opening read-only changes nothing, so
an older database is read as it is. A database written by a newer version, and a database that is
not a telemetry database (an application's, or one with a view where a table belongs), are
refused either way, before anything touches the file.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dev_system.messages import shown
from dev_system.store.schema import SCHEMA_VERSION, migrate, not_ours, schema_version, table_columns

BUSY_TIMEOUT_MS = 10_000



class StoreError(Exception):
    """A database that cannot be used; the message is one line for a person."""


class DatabaseMissing(StoreError):
    """The database file does not exist."""


class NotATelemetryDatabase(StoreError):
    """The file is not SQLite, is corrupt, or is someone else's database (see
    :func:`dev_system.store.schema.not_ours`); it is neither read nor written."""


class NewerSchema(StoreError):
    """The database was written by a newer version of this project."""


def newer_schema(path: object, version: int) -> NewerSchema:
    """The error for a database at ``path`` whose schema ``version`` is newer than this code knows."""
    return NewerSchema(
        f"{shown(path)} has schema version {version}; this dev-system knows up to {SCHEMA_VERSION}: "
        "upgrade pytest-devtelemetry"
    )


def cannot_create(path: Path, exc: OSError, *, folder: bool = False, verb: str = "create") -> StoreError:
    """The one-line error for ``path`` (a ``folder`` or a file) that could not be made (or
    written: ``verb``): which part of it is a file where a folder must be, or why the system said no."""
    below = [*reversed(path.parents), *([path] if folder else [])]
    for part in below:
        try:
            blocked = part.exists() and not part.is_dir()
        except OSError:
            blocked = False
        if blocked:
            return StoreError(f"cannot {verb} {shown(path)}: {shown(part)} is a file, not a folder")
    reason = (exc.strerror or str(exc)).lower()
    return StoreError(f"cannot {verb} {shown(path)}: {reason}")


def _not_a_file(path: Path) -> StoreError | None:
    """The error for a database path that names a folder or a device, if it does."""
    try:
        if not path.exists() or path.is_file():
            return None
        kind = "a folder" if path.is_dir() else "not a regular file"
    except OSError:
        return None
    if kind == "a folder":
        return StoreError(f"{shown(path)} is a folder, not a database file: give the path of the database file")
    return StoreError(f"{shown(path)} is {kind}: give the path of a database file")


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


def _ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise newer_schema(path, version)
    if version == SCHEMA_VERSION and table_columns(conn):
        return
    with transaction(conn):
        # Another process may have migrated while we waited for the write lock.
        if schema_version(conn) == SCHEMA_VERSION:
            return
        migrate(conn)


def _check_ours(conn: sqlite3.Connection, path: Path, *, writing: bool) -> None:
    reason = not_ours(conn)
    if reason is None:
        return
    conn.close()
    advice = "; it is left as it is: give the path of a telemetry database or of a new file" if writing else ""
    raise NotATelemetryDatabase(f"{shown(path)} is not a telemetry database: {reason}{advice}")


def check_ours(path: str | os.PathLike[str]) -> None:
    """Raise :class:`NotATelemetryDatabase` when the file at ``path`` exists and is not a
    telemetry database (see :func:`dev_system.store.schema.not_ours`); read-only, changes nothing.
    For a front end that wants to refuse such a file before anything starts writing to it."""
    path = Path(path)
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return
        conn = _connect_readonly(path)
    except (OSError, sqlite3.Error):
        return  # the writer reports what is wrong with it, as for any file it cannot open
    try:
        _check_ours(conn, path, writing=True)
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return
        raise NotATelemetryDatabase(f"{shown(path)} is not a usable telemetry database: {exc}") from None
    finally:
        conn.close()


def _check_readable(conn: sqlite3.Connection, path: Path) -> None:
    _check_ours(conn, path, writing=False)
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise newer_schema(path, version)
    if not table_columns(conn):
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
    WAL journaling and a busy timeout; a file or folder that cannot be made raises
    :class:`StoreError`. ``readonly=True`` never creates or changes anything, and raises
    :class:`DatabaseMissing`, :class:`NotATelemetryDatabase` or :class:`NewerSchema`. A path that
    names a folder raises :class:`StoreError` either way. Every message is one line for a person.
    """
    path = Path(path)
    problem = _not_a_file(path)
    if problem is not None:
        raise problem
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
        try:
            _make_private_file(path)
        except OSError as exc:
            raise cannot_create(path, exc) from None
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _check_ours(conn, path, writing=True)  # someone else's database is never written to
        version = schema_version(conn)
        if version > SCHEMA_VERSION:  # before anything changes the file (even its journal mode)
            conn.close()
            raise newer_schema(path, version)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        _ensure_schema(conn, path)
        return conn
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise
        raise NotATelemetryDatabase(f"{shown(path)} is not a usable telemetry database: {exc}") from exc
