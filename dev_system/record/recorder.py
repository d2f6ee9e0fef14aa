"""The recorder: whether telemetry is on, the in-memory buffer, the background writer, delivery to sinks.

The calling path only appends a *raw record* (a plain tuple, see :mod:`dev_system.record.raw`)
to a bounded buffer. A daemon thread takes batches from it, finishes them into
:class:`~dev_system.events.TelemetryEvent` (:mod:`dev_system.record.finish`) and hands each batch
to every sink (:mod:`dev_system.record.sinks`): those the plugins give for the settings (the
SQLite store, the OTLP exporter) and those added in code (the pytest fixture's memory). With
``sync`` on, each call flushes before it returns. :mod:`dev_system.record.process` stores what is
buffered however the process ends (exit, fork, multiprocessing, SIGTERM).

:func:`get_recorder` gives the process-wide recorder; :func:`configure` resolves the settings
and applies them to it.
"""

from __future__ import annotations

import collections
import itertools
import math
import os
import threading
import time
from typing import Any

from dev_system import config as config_module
from dev_system.events import TelemetryEvent
from dev_system.formatting import plural
from dev_system.problems import report_problem
from dev_system.record import clock, pricing, process, run_context
from dev_system.record.arguments import Redactor
from dev_system.record.finish import finish_raw
from dev_system.record.redaction import notice_environment_changes
from dev_system.record.sinks import plugin_sinks

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
        #: Scores (:class:`dev_system.record.scores.Score`) waiting for the next delivery, and
        #: those delivered by ``flush(store=False)`` to the other sinks, not yet to the database.
        self.scores: list[Any] = []
        self.unstored_scores: list[Any] = []
        self.limit = self.settings.buffer_size
        self.wake_at = _WAKE_AT
        #: set by :meth:`checkpoint_soon`, for the writer thread
        self.checkpoint_wanted = False
        self.sinks: list[Any] = []
        #: The sink that stores events for good and keeps the drop counts (the one with
        #: ``add_drop``: the SQLite database), if any.
        self.store_sink: Any = None
        self.plugin_sinks: list[Any] = []  # from the dev_system_sinks hook (SQLite, OTLP, ...)
        self.stored = 0
        self.dropped = 0
        self.writer_beat = clock.monotonic()  # when the writer last started a round
        self.closing = False
        #: Set by :meth:`close`: a record pushed from now on (a call that began before the close and
        #: ended after it) goes to :meth:`overflow`, which stores it at once.
        self.closed = False
        self.term_pending = 0
        self.dropped_by_reason: collections.Counter[str] = collections.Counter()
        self._new_process()

    # -- process identity -------------------------------------------------------------------

    def _new_process(self) -> None:
        prefix = os.urandom(8)
        self.process_prefix = prefix.hex()
        self.span_prefix = prefix[:4].hex()
        self.epoch_offset = clock.wall_time() - clock.perf_counter()
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
        self.scores = []
        self.unstored_scores = []
        for sink in self.sinks:
            reset = getattr(sink, "after_fork_in_child", None)
            if reset is not None:
                try:
                    reset()
                except Exception:
                    pass
        self._new_process()
        run_context.forked_in_test_run(self)
        if self.on and not self.sync:
            self._start_writer()
        if self.on:
            process.watch_multiprocessing(self)

    # -- configuration ----------------------------------------------------------------------

    def apply(self, settings: config_module.Settings) -> None:
        """Switch to ``settings``: flush what is buffered, then (re)open sinks and the writer."""
        with self.write_lock, self.lock:
            if self.on:
                self._drain()
            self.settings = settings
            pricing.use_configured_prices(settings.prices)
            self.redactor = Redactor(settings.redact_keys)
            self.max_chars = settings.max_value_chars
            self.limit = settings.buffer_size
            self.sync = settings.sync
            self.wake_at = 0 if settings.sync else _WAKE_AT
            self.capture = settings.capture_args
            self.sample_rate = settings.sample_rate
            self.run_id = settings.run_id
            self.on = bool(settings.enabled)
            self.closed = False
            self._apply_plugin_sinks(settings)
        if self.on and not self.sync:
            self._start_writer()
            self.wake.set()  # a writer waiting out the previous flush interval takes the new one
        if self.on:
            process.install_sigterm_handler(self)
            process.watch_multiprocessing(self)

    def _apply_plugin_sinks(self, settings: config_module.Settings) -> None:
        """Ask the plugins for their sinks again when on; close those they no longer give. The
        storing sink (the one that keeps drop counts) is written first."""
        given = plugin_sinks(settings) if self.on else []
        for sink in self.plugin_sinks:
            if sink in self.sinks:
                self.sinks.remove(sink)
            if not any(sink is kept for kept in given):
                try:
                    sink.close()
                except Exception:
                    pass
        self.store_sink = next((sink for sink in given if hasattr(sink, "add_drop")), None)
        self.plugin_sinks = given
        if self.store_sink is not None:
            self.sinks.insert(0, self.store_sink)
        self.sinks.extend(sink for sink in given if sink is not self.store_sink)

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
            self.writer_beat = clock.monotonic()
            self.thread = threading.Thread(target=self._run, name="dev-system-writer", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        pid = self.pid
        while self.pid == pid:
            self.wake.wait(self.settings.flush_interval_s)
            self.wake.clear()
            self.writer_beat = clock.monotonic()
            # What a caller set aside, or delivered with flush(store=False), waits for larger batches:
            # until wake_at of them wait, or for _UNSTORED_WAIT flush intervals. A test run's
            # records are so stored between tests seldom: storing them while the tests run costs
            # the tests more (the two threads hand the GIL to each other at every system call) than
            # storing them in one go when the run ends.
            unstored, aside = self.unstored, self.aside
            held = unstored or aside
            due = not held or len(unstored) + len(aside) + len(self.buffer) >= self.wake_at or (
                clock.monotonic() - min(self.unstored_since if unstored else math.inf,
                                       self.aside_since if aside else math.inf)
                >= _UNSTORED_WAIT * self.settings.flush_interval_s)
            if held and not due:
                if self.buffer:  # recorded since: it waits with the rest, in order
                    with self.lock:
                        self.set_aside()
            elif self.buffer or held or self.scores or self.unstored_scores:
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
        if self.closed:
            self._store_late(raw)
            return
        self.wake.set()
        now = clock.monotonic()
        if now - self.writer_beat > STUCK_WRITER_S:
            self._count_drop(1, "buffer full")
            return
        deadline = now + 1.0
        while len(self.buffer) >= self.limit:
            if clock.monotonic() > deadline or self.thread is None or not self.thread.is_alive():
                self._count_drop(1, "buffer full")
                return
            time.sleep(0.001)
        self.buffer.append(raw)

    def _store_late(self, raw: tuple) -> None:
        """Store, on the caller's thread, the record of a call that straddled :meth:`close` (a
        daemon thread's call still running at exit); counted as dropped if the sinks stay busy."""
        if not self.write_lock.acquire(timeout=CLOSE_WAIT_S):
            self._count_drop(1, "exit: recorded after the close, a sink was busy")
            return
        try:
            self.buffer.append(raw)
            self._drain()  # with any other record that came in while the recorder closed
            self._store_pending_drops()
            self._close_sinks()
        except (Exception, SystemExit):
            pass
        finally:
            self.write_lock.release()

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

    def add_score(self, score: Any) -> None:
        """Deliver ``score`` to the sinks that take scores (``write_scores``) with the next
        delivery of events (at once with ``sync``); nothing when telemetry is off."""
        if not self.on:
            return
        with self.lock:
            self.scores.append(score)
        if self.sync:
            self.flush()

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
            self.aside_since = clock.monotonic()
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
            if self.unstored_scores:
                scores, self.unstored_scores = self.unstored_scores, []
                if self.store_sink is not None:
                    self._write_scores(self.store_sink, scores)
            store = True
        buffer = self.buffer
        with self.lock:
            scores, self.scores = self.scores, []
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
        if scores:
            self._deliver_scores(scores, store)

    def _deliver_scores(self, scores: list[Any], store: bool) -> None:
        for sink in list(self.sinks):
            if not hasattr(sink, "write_scores"):
                continue
            if not store and sink is self.store_sink:
                self.unstored_scores.extend(scores)
                continue
            self._write_scores(sink, scores)

    def _write_scores(self, sink: Any, scores: list[Any]) -> None:
        try:
            sink.write_scores(scores)
        except (Exception, SystemExit) as exc:
            name = type(sink).__name__
            report_problem(f"sink:{name}:scores:{type(exc).__name__}",
                           f"{name} could not store {plural(len(scores), 'score')} ({exc}); "
                           f"{'it is' if len(scores) == 1 else 'they are'} lost")

    def _deliver(self, raws: list[tuple], store: bool = True) -> None:
        notice_environment_changes()  # a key set since the last batch is redacted in this one
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
                    self.unstored_since = clock.monotonic()
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
                           f"{name} could not store {plural(len(events), 'event')} ({exc}); "
                           f"{'it is' if len(events) == 1 else 'they are'} counted as dropped")
            if sink is self.store_sink:
                self._count_drop(len(events), f"store: {type(exc).__name__}: {exc}"[:200])

    def _count_drop(self, count: int, reason: str) -> None:
        self.dropped += count
        self.dropped_by_reason[reason] += count
        sink = self.store_sink
        if sink is not None:
            sink.add_drop(count, reason, self.run_id)

    def _store_pending_drops(self) -> None:
        """Write the drop counts the storing sink holds (drops after its last write would otherwise
        never reach the database)."""
        if getattr(self.store_sink, "pending_drops", None):
            try:
                self.store_sink.write([])
            except Exception:
                pass

    def _close_sinks(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                pass

    #: ``finish(raw)``: the :class:`TelemetryEvent` of a raw record (see :func:`finish_raw`).
    finish = finish_raw

    def store_drops(self) -> None:
        """Store the drop counts the storing sink still holds now (they are otherwise written with
        the next batch of events, and a session's last drops would never reach the database)."""
        sink = self.store_sink
        if sink is None or not getattr(sink, "pending_drops", None):
            return
        with self.write_lock:
            sink.write([])

    # -- reporting --------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters of this process: events stored, dropped (by reason), and waiting in the buffer."""
        return {
            "enabled": self.on,
            "stored": self.stored,
            "dropped": self.dropped,
            "dropped_by_reason": dict(self.dropped_by_reason),
            "buffered": len(self.buffer) + len(self.aside) + len(self.unstored),
            "scores_buffered": len(self.scores) + len(self.unstored_scores),
            "db_path": str(self.store_sink.path) if getattr(self.store_sink, "path", None) else None,
        }

    def close(self) -> None:
        """Flush and close every sink (at interpreter exit). Waits at most :data:`CLOSE_WAIT_S`
        for a writer that is inside a sink: one that hangs must not keep the process from ending
        (what is left is counted as dropped and reported)."""
        self.closing = True
        with self.lock:
            # From now on every record goes to overflow(), which stores it at once: one made by
            # a call that ends after the buffer was drained here would otherwise be lost, uncounted.
            self.closed = True
            self.limit = 0
        try:
            if not self.write_lock.acquire(timeout=CLOSE_WAIT_S):
                left = len(self.buffer) + len(self.aside)
                if left:
                    self._count_drop(left, "exit: writer stuck in a sink")
                report_problem("exit", f"{plural(left, 'event')} {'was' if left == 1 else 'were'} not stored: "
                                       "a sink was still busy after "
                                       f"{CLOSE_WAIT_S:g} s at exit")
                return
            try:
                # Recording ends here: daemon threads still calling decorated functions while the
                # interpreter exits are not recorded, rather than recorded into a buffer no one writes.
                self.on = False
                self._drain()
                if self.buffer:  # appended by a call that read the limit before it changed
                    self._drain()
                self._store_pending_drops()
                self._close_sinks()
            finally:
                self.write_lock.release()
        except (Exception, SystemExit):
            pass
        if self.term_pending:  # a SIGTERM came while closing (a multiprocessing pool terminating)
            process.end_by_signal(self.term_pending)


_RECORDER = Recorder()


def get_recorder() -> Recorder:
    """The process-wide recorder."""
    return _RECORDER


def configure(**overrides: Any) -> config_module.Settings:
    """Resolve the settings again (with ``overrides`` as the top layer) and apply them. A bad value
    in ``pyproject.toml``, the environment or ``.dev-system/config.toml`` is reported once and
    skipped, the valid settings apply; a bad ``overrides`` value raises :class:`ConfigError`."""
    settings = config_module.load(overrides, on_problem=report_problem)
    _RECORDER.apply(settings)
    return settings


def _initial_configure() -> None:
    try:
        if not run_context.join_test_run(_RECORDER, configure):  # a child of a pytest run's test
            configure()
    except Exception as exc:  # a broken pyproject must not break an import of the user's code
        report_problem("config", f"telemetry stays off: {exc}")


process.attach(_RECORDER)
_initial_configure()
