"""The SQLite sink: the recorder's events, scores and drop counts, written to the telemetry database.

The recorder knows nothing of SQLite. This module is one of the built-in plugins of
:mod:`dev_system.hookspecs` and plugs the sink in through the ``dev_system_sinks`` hook, like any
sink: for the same database path it returns the same sink object, so that switching settings
keeps the open connection and the drop counts not yet stored.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from dev_system.events import TelemetryEvent
from dev_system.hookspecs import hookimpl
from dev_system.record.clock import wall_time
from dev_system.store.db import connect
from dev_system.store.events import insert_events, record_drops
from dev_system.store.scores import insert_scores

_LOCKED_RETRIES = 5
#: Connections a forked child inherited: never used nor closed in the child (closing would
#: release the parent's locks), only kept alive.
_INHERITED: list[Any] = []


class SQLiteSink:
    """Stores events in the telemetry database, reopening it if the file is replaced or deleted.

    Besides ``write`` and ``close`` it keeps the recorder's drop counts (:meth:`add_drop`), which
    are stored with the next write, so that any process's report can show them."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._inode: int | None = None
        self.pending_drops: list[tuple[float, int, str, str | None]] = []
        self.drops_lock = threading.Lock()

    def add_drop(self, count: int, reason: str, run_id: str | None) -> None:
        """Remember that ``count`` events were dropped, to be stored with the next write. One record
        per run of drops of one reason, not one per event (a buffer that overflows for a while drops
        one event per call: a record for each made the list grow by millions and the writer slower)."""
        with self.drops_lock:
            pending = self.pending_drops
            last = pending[-1] if pending else None
            if last is not None and last[2] == reason and last[3] == run_id:
                pending[-1] = (last[0], last[1] + count, reason, run_id)
            else:
                pending.append((wall_time(), count, reason, run_id))

    def take_drops(self) -> list[tuple[float, int, str, str | None]]:
        """The pending drop records, which are forgotten here (give them back if storing fails)."""
        with self.drops_lock:
            drops = self.pending_drops[:]
            self.pending_drops.clear()
        return drops

    def give_back_drops(self, drops: list[tuple[float, int, str, str | None]]) -> None:
        with self.drops_lock:
            self.pending_drops[:0] = drops

    def _connection(self) -> sqlite3.Connection:
        try:
            inode = os.stat(self.path).st_ino
        except OSError:
            inode = None
        if self._conn is None or inode != self._inode:
            self.close()
            self._conn = connect(self.path)
            self._inode = os.stat(self.path).st_ino
        return self._conn

    def write(self, events: list[TelemetryEvent]) -> None:
        def store(conn: sqlite3.Connection) -> None:
            if events:
                insert_events(conn, events)
            drops = self.take_drops()
            if drops:
                try:
                    record_drops(conn, drops)
                except Exception:  # the events are stored; the counts wait for the next write
                    self.give_back_drops(drops)

        self._retrying(store)

    def write_scores(self, scores: list[Any]) -> None:
        """Store recorded scores (:class:`dev_system.record.scores.Score`)."""
        if scores:
            self._retrying(lambda conn: insert_scores(conn, scores))

    def _retrying(self, store: Any) -> None:
        """``store(connection)``, tried again while the database is locked by another writer."""
        for attempt in range(_LOCKED_RETRIES):
            try:
                store(self._connection())
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or attempt == _LOCKED_RETRIES - 1:
                    self.close()
                    raise
                time.sleep(0.05 * (attempt + 1))

    def checkpoint(self) -> None:
        """Copy what the write-ahead log holds into the database file now (``PASSIVE``: waits for
        no other connection, copies what it can). Only saves work: the last connection to close
        copies the rest, so a failure changes nothing."""
        if self._conn is not None:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:
                pass

    def after_fork_in_child(self) -> None:
        """Start afresh in a forked child: the parent's connection must be neither used nor closed
        here, and the parent stores its own drop counts."""
        _INHERITED.append(self._conn)
        self._conn = None
        self.pending_drops.clear()
        self.drops_lock = threading.Lock()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
        self._conn = None


_current: SQLiteSink | None = None


@hookimpl
def dev_system_sinks(settings: Any) -> SQLiteSink | None:
    """The sink of ``settings.db_path`` when telemetry is enabled (the same object while the path
    stays the same)."""
    global _current
    path = getattr(settings, "db_path", None)
    if not getattr(settings, "enabled", False) or path is None:
        return None
    if _current is None or _current.path != Path(path):
        _current = SQLiteSink(path)
    return _current
