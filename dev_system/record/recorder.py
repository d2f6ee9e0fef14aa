"""The recorder: whether telemetry is on, the in-memory buffer, the background writer, the sinks.

The calling path only appends a finished *raw record* (a plain tuple, see :data:`RAW_FIELDS`) to
a bounded buffer. A daemon thread takes batches from it, turns them into
:class:`~dev_system.events.TelemetryEvent` (ids, metadata JSON) and hands each batch to every
sink: the SQLite store by default, others (the pytest fixture's memory, exporters) when added.
The buffer is flushed at interpreter exit; after ``os.fork()`` the child starts with an empty
buffer, a fresh lock and a fresh writer. With ``sync`` on, each call flushes before it returns.
"""

from __future__ import annotations

import atexit
import collections
import itertools
import json
import math
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Protocol

from dev_system import config as config_module
from dev_system.record.arguments import Redactor, redact_text, sanitize, sanitize_arguments
from dev_system.events import TelemetryEvent
from dev_system.problems import report_problem

#: The fields of a raw record, in order; built on the calling path, finished by the writer.
RAW_FIELDS = (
    "start",  # perf_counter() at the start of the call
    "event_type", "agent_name", "function_name", "input_tokens", "output_tokens",
    "latency_s", "cost_usd", "success", "error_type",
    "trace_id", "root_span", "span", "parent_span",
    "args", "extra", "model", "run_id", "error_message",
)

_BATCH = 5_000
#: Seconds :meth:`Recorder.close` waits at exit for a writer busy in a sink.
CLOSE_WAIT_S = 10.0
#: Seconds after which a writer that has not come back from a sink counts as stuck (longer than a
#: database lock is waited for, so slow is not stuck): a full buffer then drops at once instead of
#: holding each call for a second of back-pressure.
STUCK_WRITER_S = 30.0
_WAKE_AT = 2_000
#: Flush intervals an event delivered by ``flush(store=False)`` may wait for the database.
_UNSTORED_WAIT = 10
_LOCKED_RETRIES = 5

# The writer's per-event work, made cheap. json.dumps(..., ensure_ascii=False, allow_nan=False)
# builds a new encoder on every call; the C encoder is made once here instead. Its input is always
# sanitized (fresh containers, no cycles), so it runs without the circular-reference markers.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)
try:
    from json.encoder import c_make_encoder as _c_make_encoder, encode_basestring as _encode_basestring

    _c_encode = _c_make_encoder(None, _ENCODER.default, _encode_basestring, None, _ENCODER.key_separator,
                                _ENCODER.item_separator, False, False, False)
except (ImportError, TypeError):  # no C accelerator
    _c_encode = None


def _to_json(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, allow_nan=False)`` for sanitized data."""
    if _c_encode is None:
        return _ENCODER.encode(value)
    return "".join(_c_encode(value, 0))


_new_event = tuple.__new__
#: Rows sent in one INSERT statement: the most whose parameters fit SQLite's oldest limit (999).
_ROWS_PER_STATEMENT = max(1, 999 // len(TelemetryEvent._fields))
_FIELDS = len(TelemetryEvent._fields)
_SUCCESS = TelemetryEvent._fields.index("success")
#: The columns an event may leave empty (None), in their order.
_NULLABLE = tuple(i for i, name in enumerate(TelemetryEvent._fields)
                  if name not in ("timestamp", "event_type", "agent_name", "function_name", "latency_ms", "success"))
#: (rows, columns empty in every row) -> (the INSERT statement with NULL for those columns, the
#: getter of the other columns' values, where ``success`` is among them)
_statements: dict[tuple[int, tuple[int, ...]], tuple[str, Any, int]] = {}


def _statement(rows: int, empty: tuple[int, ...]) -> tuple[str, Any, int]:
    from operator import itemgetter

    from dev_system.store import db as store

    found = _statements.get((rows, empty))
    if found is None:
        kept = [i for i in range(_FIELDS) if i not in empty]
        one = "(" + ", ".join("NULL" if i in empty else "?" for i in range(_FIELDS)) + ")"
        sql = store._INSERT_EVENT[:store._INSERT_EVENT.rindex("(")] + ",".join([one] * rows)
        found = _statements[(rows, empty)] = (sql, itemgetter(*kept), kept.index(_SUCCESS))
        if len(_statements) > 256:  # a handful in practice; never an unbounded cache
            _statements.clear()
            _statements[(rows, empty)] = found
    return found


def _insert_events(conn: sqlite3.Connection, events: list[TelemetryEvent]) -> None:
    """What ``store.insert_events`` does (one transaction; an event whose ``event_id`` is stored
    already is skipped), with the rows sent many to a statement: ``executemany`` costs one
    statement step, and one hand-off of the GIL, per row; this is a third faster. A column empty
    in every row of a statement is written ``NULL`` in it rather than bound: sqlite3 binds None
    (and a bool) only after two failed adapter lookups, a formatted AttributeError each."""
    from dev_system.store import db as store

    step = _ROWS_PER_STATEMENT
    whole = len(events) - len(events) % step
    flat: list[Any] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = conn.total_changes
        for i in range(0, whole, step):
            chunk = events[i:i + step]
            flat.clear()
            for event in chunk:
                flat.extend(event)
            empty = tuple(c for c in _NULLABLE if flat[c::_FIELDS].count(None) == step)
            sql, kept, success = _statement(step, empty)
            if empty:
                flat.clear()
                for event in chunk:
                    flat.extend(kept(event))
            width = _FIELDS - len(empty)
            flat[success::width] = [(1 if s else 0) if s is True or s is False else s for s in flat[success::width]]
            conn.execute(sql, flat)
        if whole < len(events):
            conn.executemany(store._INSERT_EVENT, events[whole:])
        inserted = conn.total_changes - before
        conn.execute("COMMIT")
    except store._VALUE_ERRORS:  # a value SQLite refuses: store.insert_events makes each event storable
        store._rollback(conn)
        inserted = -1
    except BaseException:
        store._rollback(conn)  # not conn.execute("ROLLBACK"): SQLite may have ended it (disk full)
        raise
    if inserted != len(events):  # also NULL in a NOT NULL column, which INSERT OR IGNORE skips silently
        store.insert_events(conn, events)



class Sink(Protocol):
    """Where finished events go. ``write`` is called from the writer thread (or, in ``sync`` mode,
    from the calling thread) with the recorder's ``write_lock`` held; raising counts the batch as
    dropped."""

    def write(self, events: list[TelemetryEvent]) -> None: ...

    def close(self) -> None: ...


class SQLiteSink:
    """Stores events in the telemetry database, reopening it if the file is replaced or deleted."""

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
                pending.append((time.time(), count, reason, run_id))

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
            from dev_system.store import db as store

            self._conn = store.connect(self.path)
            self._inode = os.stat(self.path).st_ino
        return self._conn

    def write(self, events: list[TelemetryEvent]) -> None:
        from dev_system.store import db as store

        for attempt in range(_LOCKED_RETRIES):
            try:
                conn = self._connection()
                _insert_events(conn, events)
                drops = self.take_drops()
                if drops:
                    try:
                        store.record_drops(conn, drops)
                    except Exception:  # the events are stored; the counts wait for the next write
                        self.give_back_drops(drops)
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

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
        self._conn = None


class MemorySink:
    """Keeps every event in a list (for tests and the pytest ``telemetry`` fixture)."""

    def __init__(self) -> None:
        self.events: list[TelemetryEvent] = []

    def write(self, events: list[TelemetryEvent]) -> None:
        self.events.extend(events)

    def close(self) -> None:
        pass


class Recorder:
    """The process-wide recorder; use :func:`get_recorder`. Attributes read on the calling path
    (``on``, ``buffer``, ``limit``, ``sync``, ``capture``, ``sample_rate``, ``default_trace``,
    ``run_id``) are plain attributes so that reading them is cheap."""

    def __init__(self) -> None:
        self.on = False
        self.sync = False
        self.capture = True
        self.sample_rate = 1.0
        self.default_trace: str | None = None
        self.run_id: str | None = None
        self.settings = config_module.Settings()
        self.redactor = Redactor(self.settings.redact_keys)
        self.max_chars = self.settings.max_value_chars
        self.buffer: collections.deque = collections.deque()
        #: Raw records :meth:`set_aside` took out of the buffer, for the writer to finish and deliver.
        self.aside: list[tuple] = []
        self.aside_since = 0.0
        #: Called with each list of raw records taken out of the buffer, before they are finished.
        self.raw_watchers: list[Any] = []
        #: Events delivered to the other sinks by ``flush(store=False)``, not yet to the database.
        self.unstored: list[TelemetryEvent] = []
        self.unstored_since = 0.0
        self.limit = self.settings.buffer_size
        self.wake_at = _WAKE_AT
        #: set by :meth:`checkpoint_soon`, for the writer thread
        self.checkpoint_wanted = False
        self.sinks: list[Any] = []
        self.store_sink: SQLiteSink | None = None
        self.plugin_sinks: list[Any] = []  # from the dev_system_sinks hook (the OTLP exporter, ...)
        self.stored = 0
        self.dropped = 0
        self.writer_beat = time.monotonic()  # when the writer last started a round
        self.closing = False
        self.term_pending = 0
        self.dropped_by_reason: collections.Counter[str] = collections.Counter()
        self._new_process()

    # -- process identity -------------------------------------------------------------------

    def _new_process(self) -> None:
        prefix = os.urandom(8)
        self.process_prefix = prefix.hex()
        self.span_prefix = prefix[:4].hex()
        self.epoch_offset = time.time() - time.perf_counter()
        self.next_span = itertools.count(1).__next__
        #: Held briefly by whoever takes records out of the buffer (and sets them aside): the
        #: buffer, ``aside`` and the watchers' view of them.
        self.lock = threading.RLock()
        #: Held by whoever finishes records and delivers them to the sinks (the writer, flush(),
        #: close()): one delivery at a time, in order; the sinks, ``unstored`` and the database
        #: connection. Taken before :attr:`lock`, never after it, so that a test's thread setting
        #: records aside never waits for the disk.
        self.write_lock = threading.RLock()
        self.wake = threading.Event()
        self.flush_wanted = threading.Event()
        self.thread: threading.Thread | None = None
        self.pid = os.getpid()

    def before_fork(self) -> None:
        """Let the writer finish the batch it is writing before the process forks (waiting at most
        :data:`CLOSE_WAIT_S`). A child forked in the middle of a write transaction inherits the
        parent's connection with SQLite's in-process record of holding the write lock: the child's
        own connection to the same file then finds the database busy for ever."""
        self.flush_wanted.set()
        self._fork_locked = []
        try:
            for lock in (self.write_lock, self.lock):
                if not lock.acquire(timeout=CLOSE_WAIT_S):
                    break
                self._fork_locked.append(lock)
        except BaseException:
            pass
        self.flush_wanted.clear()

    def after_fork_in_parent(self) -> None:
        locked, self._fork_locked = getattr(self, "_fork_locked", []), []
        for lock in reversed(locked):
            lock.release()

    def after_fork_in_child(self) -> None:
        """Start the child afresh: the parent stores what it had buffered."""
        self.buffer.clear()
        self.aside = []
        self.unstored = []
        if self.store_sink is not None:
            # The parent's connection must be neither used nor closed here: keep it alive, unused.
            _INHERITED.append(self.store_sink._conn)
            self.store_sink._conn = None
            self.store_sink.pending_drops.clear()
            self.store_sink.drops_lock = threading.Lock()
        self._new_process()
        if self.on and not self.sync:
            self._start_writer()
        if self.on:
            _watch_multiprocessing(self)

    def close_at_multiprocessing_exit(self) -> None:
        """Flush when this multiprocessing child ends: it ends with ``os._exit``, without ``atexit``
        (the fork and forkserver start methods), but it runs multiprocessing's finalizers."""
        try:
            from multiprocessing import util

            util.Finalize(None, self.close, exitpriority=100)
        except Exception:
            pass

    # -- configuration ----------------------------------------------------------------------

    def apply(self, settings: config_module.Settings) -> None:
        """Switch to ``settings``: flush what is buffered, then (re)open sinks and the writer."""
        with self.write_lock, self.lock:
            if self.on:
                self._drain()
            self.settings = settings
            self.redactor = Redactor(settings.redact_keys)
            self.max_chars = settings.max_value_chars
            self.limit = settings.buffer_size
            self.sync = settings.sync
            self.wake_at = 0 if settings.sync else _WAKE_AT
            self.capture = settings.capture_args
            self.sample_rate = settings.sample_rate
            self.run_id = settings.run_id
            if self.store_sink is not None and (not settings.enabled or self.store_sink.path != settings.db_path):
                self.store_sink.close()
                self.sinks.remove(self.store_sink)
                self.store_sink = None
            if settings.enabled and self.store_sink is None and settings.db_path is not None:
                self.store_sink = SQLiteSink(settings.db_path)
                self.sinks.insert(0, self.store_sink)
            self.on = bool(settings.enabled)
            self._apply_plugin_sinks(settings)
        if self.on and not self.sync:
            self._start_writer()
            self.wake.set()  # a writer waiting out the previous flush interval takes the new one
        if self.on:
            _install_sigterm_handler()
            _watch_multiprocessing(self)

    def _apply_plugin_sinks(self, settings: config_module.Settings) -> None:
        """Close the sinks the plugins gave for the previous settings; ask them again when on."""
        for sink in self.plugin_sinks:
            if sink in self.sinks:
                self.sinks.remove(sink)
            try:
                sink.close()
            except Exception:
                pass
        self.plugin_sinks = _plugin_sinks(settings) if self.on else []
        self.sinks.extend(self.plugin_sinks)

    def add_sink(self, sink: Any) -> None:
        """Send every event recorded from now on to ``sink`` as well."""
        with self.write_lock:
            self._drain(store=False)
            self.sinks.append(sink)

    def remove_sink(self, sink: Any) -> None:
        """Stop sending events to ``sink`` (what is buffered is delivered to it first)."""
        with self.write_lock:
            self._drain(store=False)
            if sink in self.sinks:
                self.sinks.remove(sink)

    # -- the writer -------------------------------------------------------------------------

    def _start_writer(self) -> None:
        with self.lock:
            if self.thread is not None and self.thread.is_alive():
                return
            self.writer_beat = time.monotonic()
            self.thread = threading.Thread(target=self._run, name="dev-system-writer", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        pid = self.pid
        while self.pid == pid:
            self.wake.wait(self.settings.flush_interval_s)
            self.wake.clear()
            self.writer_beat = time.monotonic()
            # What a caller set aside, or delivered with flush(store=False), waits for larger batches:
            # until wake_at of them wait, or for _UNSTORED_WAIT flush intervals. A test run's
            # records are so stored between tests seldom: storing them while the tests run costs
            # the tests more (the two threads hand the GIL to each other at every system call) than
            # storing them in one go when the run ends.
            unstored, aside = self.unstored, self.aside
            held = unstored or aside
            due = not held or len(unstored) + len(aside) + len(self.buffer) >= self.wake_at or (
                time.monotonic() - min(self.unstored_since if unstored else math.inf,
                                       self.aside_since if aside else math.inf)
                >= _UNSTORED_WAIT * self.settings.flush_interval_s)
            if held and not due:
                if self.buffer:  # recorded since: it waits with the rest, in order
                    with self.lock:
                        self.set_aside()
            elif self.buffer or held:
                with self.write_lock:
                    self._drain()
                if self.flush_wanted.is_set():  # let a waiting flush() take the lock (locks are not fair)
                    time.sleep(0.001)
            if self.checkpoint_wanted:
                self.checkpoint_wanted = False
                with self.write_lock:
                    sink = self.store_sink
                    if sink is not None:
                        sink.checkpoint()  # SQLite lets go of the GIL: the caller's thread goes on

    def checkpoint_soon(self) -> None:
        """Have the writer thread copy the database's write-ahead log into the database file now.

        The last connection to close does it anyway, with the disk writes and syncs on the
        closing thread; a caller that has stored what it had to (the pytest plugin, once the
        run's report is written) lets it happen here while it goes on with other work."""
        if self.store_sink is not None and self.thread is not None and self.thread.is_alive():
            self.checkpoint_wanted = True
            self.wake.set()

    def wake_writer(self) -> None:
        """Called from the calling path when the buffer is filling; may wait if it is full."""
        if self.sync:
            self.flush()
            return
        self.wake.set()

    def overflow(self, raw: tuple) -> None:
        """The buffer is full: wait briefly for the writer (back-pressure), else count a drop.

        When the writer has been stuck for :data:`STUCK_WRITER_S` (inside a sink that hangs, or
        waiting for a database locked for long), calls drop at once instead of each waiting its
        second: they go on at full speed, and the drops are counted."""
        self.wake.set()
        now = time.monotonic()
        if now - self.writer_beat > STUCK_WRITER_S:
            self._count_drop(1, "buffer full")
            return
        deadline = now + 1.0
        while len(self.buffer) >= self.limit:
            if time.monotonic() > deadline or self.thread is None or not self.thread.is_alive():
                self._count_drop(1, "buffer full")
                return
            time.sleep(0.001)
        self.buffer.append(raw)

    def flush(self, *, store: bool = True) -> None:
        """Deliver every buffered event to the sinks now; returns when they have it.

        ``store=False``: to every sink but the database, which gets them from the writer thread
        in larger batches (when ``wake_at`` of them wait, or after ``_UNSTORED_WAIT`` flush
        intervals), from the next ``flush()`` or at exit. For a caller that only needs to see the
        events (the pytest plugin after each test), without a database transaction each time.
        """
        lock = self.write_lock
        if not lock.acquire(blocking=False):  # busy: ask the writer to let go (setting an Event costs)
            self.flush_wanted.set()
            lock.acquire()
            self.flush_wanted.clear()
        try:
            self._drain(store)
        finally:
            lock.release()

    def set_aside(self) -> None:
        """Take what is buffered out of the buffer without finishing it (call with :attr:`lock`
        held): the :attr:`raw_watchers` see the raw records now; the writer turns them into events
        and delivers them to every sink once ``wake_at`` of them wait or they waited
        ``_UNSTORED_WAIT`` flush intervals, or with the next ``flush()``.
        For a caller that needs a point in time and the raw figures only (the pytest plugin at
        each test's start and end), without finishing the events on its own thread."""
        buffer = self.buffer
        pop = buffer.popleft
        raws = [pop() for _ in range(len(buffer))]  # only drainers pop, under the lock
        if not raws:
            return
        for watcher in self.raw_watchers:
            watcher(raws)
        aside = self.aside
        if not aside:
            self.aside_since = time.monotonic()
        aside += raws
        if len(aside) >= self.wake_at:
            self.wake.set()

    def _drain(self, store: bool = True) -> None:
        """Deliver what was set aside and what is buffered now (call with :attr:`write_lock` held).
        The records are taken under :attr:`lock`, and finished and delivered after letting it go."""
        if store or self.sync:
            if self.unstored:
                events, self.unstored = self.unstored, []
                if self.store_sink is not None:
                    self._write(self.store_sink, events)
            store = True
        buffer = self.buffer
        with self.lock:
            # Set aside earlier: older than what is buffered, and seen by the watchers already.
            aside, self.aside = self.aside, []
            # Only what is buffered now: threads that keep recording must not keep the writer here
            # for ever, nor keep flush() from returning.
            todo = len(buffer)
        for i in range(0, len(aside), _BATCH):
            self._deliver(aside[i:i + _BATCH], store)
        # A batch at a time: the records taken out are finished while the callers refill the
        # buffer, so what is in memory stays within the buffer's limit plus one batch.
        pop = buffer.popleft
        while todo > 0:
            with self.lock:
                raws = [pop() for _ in range(min(_BATCH, todo, len(buffer)))]  # only drainers pop
                if not raws:
                    break
                for watcher in self.raw_watchers:
                    watcher(raws)
            todo -= len(raws)
            self._deliver(raws, store)

    def _deliver(self, raws: list[tuple], store: bool = True) -> None:
        events = []
        for raw in raws:
            try:
                events.append(self.finish(raw))
            except Exception as exc:
                report_problem("finish", f"an event could not be prepared and was dropped: {exc!r}")
                self._count_drop(1, "unserializable")
        if not events:
            return
        for sink in list(self.sinks):
            if not store and sink is self.store_sink:
                if not self.unstored:
                    self.unstored_since = time.monotonic()
                self.unstored.extend(events)
                if len(self.unstored) >= self.wake_at:
                    self.wake.set()
                continue
            self._write(sink, events)

    def _write(self, sink: Any, events: list[TelemetryEvent]) -> None:
        try:
            sink.write(events)
            if sink is self.store_sink:
                self.stored += len(events)
        except (Exception, SystemExit) as exc:  # a sink's sys.exit() must not end the writer thread
            name = type(sink).__name__
            report_problem(f"sink:{name}:{type(exc).__name__}",
                           f"{name} could not store {len(events)} events ({exc}); they are counted as dropped")
            if sink is self.store_sink:
                self._count_drop(len(events), f"store: {type(exc).__name__}: {exc}"[:200])

    def _count_drop(self, count: int, reason: str) -> None:
        self.dropped += count
        self.dropped_by_reason[reason] += count
        sink = self.store_sink
        if sink is not None:
            sink.add_drop(count, reason, self.run_id)

    def finish(self, raw: tuple) -> TelemetryEvent:
        """Turn a raw record into a :class:`TelemetryEvent` (ids, timestamp, metadata JSON)."""
        (start, event_type, agent_name, function_name, input_tokens, output_tokens, latency_s,
         cost, success, error_type, trace_id, root, span, parent, args, extra, model, run_id,
         error_message) = raw
        metadata: dict[str, Any] = {}
        if args:
            metadata["args"] = sanitize_arguments(args, self.redactor, self.max_chars)
        if extra:
            extra = dict(extra)
            if model is None and isinstance(extra.get("model"), str):
                model = extra.pop("model")
            metadata.update(sanitize(extra, self.redactor, self.max_chars))
        if error_message is not None:
            metadata["error_message"] = redact_text(error_message)  # "Incorrect API key: sk-..."
        span_prefix = self.span_prefix
        process_prefix = self.process_prefix
        return _new_event(TelemetryEvent, (
            start + self.epoch_offset,
            event_type,
            agent_name,
            function_name,
            input_tokens,
            output_tokens,
            latency_s * 1000.0,
            cost,
            success,
            error_type,
            trace_id if trace_id is not None else f"{process_prefix}{span_prefix}{root & 0xFFFFFFFF:08x}",
            _to_json(metadata) if metadata else None,
            f"{process_prefix}{span:x}",
            f"{span_prefix}{span & 0xFFFFFFFF:08x}",
            f"{span_prefix}{parent & 0xFFFFFFFF:08x}" if parent else None,
            run_id,
            model,
        ))

    # -- reporting --------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters of this process: events stored, dropped (by reason), and waiting in the buffer."""
        return {
            "enabled": self.on,
            "stored": self.stored,
            "dropped": self.dropped,
            "dropped_by_reason": dict(self.dropped_by_reason),
            "buffered": len(self.buffer) + len(self.aside) + len(self.unstored),
            "db_path": str(self.store_sink.path) if self.store_sink else None,
        }

    def close(self) -> None:
        """Flush and close every sink (at interpreter exit). Waits at most :data:`CLOSE_WAIT_S`
        for a writer that is inside a sink: one that hangs must not keep the process from ending
        (what is left is counted as dropped and reported)."""
        self.closing = True
        try:
            if not self.write_lock.acquire(timeout=CLOSE_WAIT_S):
                left = len(self.buffer) + len(self.aside)
                if left:
                    self._count_drop(left, "exit: writer stuck in a sink")
                report_problem("exit", f"{left} events were not stored: a sink was still busy after "
                                       f"{CLOSE_WAIT_S:g} s at exit")
                return
            try:
                # Recording ends here: daemon threads still calling decorated functions while the
                # interpreter exits are not recorded, rather than recorded into a buffer no one writes.
                self.on = False
                self._drain()
                if self.store_sink is not None and self.store_sink.pending_drops:
                    try:  # drops after the last write would otherwise never reach the database
                        self.store_sink.write([])
                    except Exception:
                        pass
                for sink in self.sinks:
                    try:
                        sink.close()
                    except Exception:
                        pass
            finally:
                self.write_lock.release()
        except (Exception, SystemExit):
            pass
        if self.term_pending:  # a SIGTERM came while closing (a multiprocessing pool terminating)
            import signal

            signal.signal(self.term_pending, signal.SIG_DFL)
            os.kill(os.getpid(), self.term_pending)


def _may_export_otlp(settings: config_module.Settings) -> bool:
    """Whether an OTLP endpoint is set where ``otel.resolve_endpoint`` looks for one: the exporter's
    module (a few milliseconds to import) is loaded only then."""
    return (getattr(settings, "otlp_endpoint", None) is not None
            or bool(os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip())
            or bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()))


def _plugin_sinks(settings: config_module.Settings) -> list[Any]:
    """The sinks the ``dev_system_sinks`` hook implementations return for ``settings`` (the
    built-in OTLP exporter included); a plugin that fails is reported once and skipped."""
    try:
        from dev_system.hookspecs import get_plugin_manager

        manager = get_plugin_manager()
        if _may_export_otlp(settings) and manager.get_plugin("dev_system.otel") is None:
            from dev_system.record import otlp as otel

            manager.register(otel, name="dev_system.otel")
        results = manager.hook.dev_system_sinks(settings=settings)
    except Exception as exc:
        report_problem("plugin-sinks", f"sinks from plugins are not used: {exc!r}")
        return []
    sinks: list[Any] = []
    for result in results:
        for sink in result if isinstance(result, (list, tuple)) else [result]:
            if sink is not None:
                sinks.append(sink)
    return sinks


_INHERITED: list[Any] = []
_RECORDER = Recorder()


def get_recorder() -> Recorder:
    """The process-wide recorder."""
    return _RECORDER


def configure(**overrides: Any) -> config_module.Settings:
    """Resolve the settings again (with ``overrides`` as the top layer) and apply them."""
    settings = config_module.load(overrides)
    _RECORDER.apply(settings)
    return settings


_sigterm_installed = False
_multiprocessing_watched = False


def _watch_multiprocessing(rec: Recorder) -> None:
    """Have every multiprocessing child flush at its end (see
    :meth:`Recorder.close_at_multiprocessing_exit`). Registered once, when multiprocessing is in
    use; multiprocessing runs the registered function in each child it starts."""
    global _multiprocessing_watched
    util = sys.modules.get("multiprocessing.util")
    if util is None or _multiprocessing_watched:
        return
    try:
        util.register_after_fork(rec, Recorder.close_at_multiprocessing_exit)
        _multiprocessing_watched = True
    except Exception:
        pass


def _flush_on_sigterm(signum: int, frame: Any) -> None:
    """Python's default for SIGTERM ends the process at once, without ``atexit``: what is in the
    buffer would be lost. Store it (waiting at most 5 s for the writer), then end the process by
    SIGTERM as it would have ended without telemetry (same exit status for the parent)."""
    import signal

    rec = _RECORDER
    try:
        owned = getattr(rec.write_lock, "_is_owned", lambda: False)()
    except Exception:
        owned = False
    if owned and getattr(rec, "closing", False):  # interrupted inside close() at exit: it ends the process
        rec.term_pending = signum
        return
    try:
        # Interrupted inside a flush of this very thread: a second one would nest in its transaction.
        if not owned and rec.write_lock.acquire(timeout=5.0):
            try:
                rec.close()
            finally:
                rec.write_lock.release()
    except BaseException:
        pass
    finally:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install_sigterm_handler() -> None:
    """Flush on SIGTERM, only where the process left SIGTERM to its default action, and only from
    the main thread (where Python lets handlers be set). A handler of the application's own, set
    before or after, is left alone: it decides, and ``sys.exit`` from it runs ``atexit``, which
    flushes."""
    global _sigterm_installed
    if _sigterm_installed:
        return
    try:
        import signal

        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _flush_on_sigterm)
        _sigterm_installed = True
    except (AttributeError, ValueError, OSError):  # no SIGTERM here, or not allowed
        pass


def _initial_configure() -> None:
    try:
        configure()
    except Exception as exc:  # a broken pyproject must not break an import of the user's code
        report_problem("config", f"telemetry stays off: {exc}")


atexit.register(_RECORDER.close)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_RECORDER.before_fork, after_in_parent=_RECORDER.after_fork_in_parent,
                        after_in_child=_RECORDER.after_fork_in_child)
_initial_configure()
