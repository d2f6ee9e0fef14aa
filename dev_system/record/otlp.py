"""OpenTelemetry export: every event as one span over OTLP/HTTP (protobuf), and every quality
score as a zero-length span with the GenAI ``gen_ai.evaluation.result`` event.

Two ways in, one mapping (:func:`~dev_system.record.otlp_spans.span_fields`):

- live, as a sink beside SQLite: :class:`OtlpSink`, returned by this module's
  ``dev_system_sinks`` hook implementation when an endpoint is configured (the setting
  ``otlp-endpoint``, else the standard ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` /
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` variables, see :func:`resolve_endpoint`);
- after the fact, for a database from CI: :func:`export_events` (``dev-system export --format otlp``).

This module imports nothing from OpenTelemetry at import time: the SDK and the OTLP exporter
(the ``otel`` extra, :mod:`dev_system.record.otlp_sdk`) are imported when a span is first exported.
"""

from __future__ import annotations

import collections
import itertools
import os
import re
import socket
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dev_system.events import TelemetryEvent
from dev_system.hookspecs import hookimpl
from dev_system.problems import report_problem
from dev_system.record.clock import monotonic
from dev_system.record.otlp_sdk import OtelUnavailable, SpanBuilder, load_sdk, make_exporter, quietly
from dev_system.record.otlp_spans import score_span_fields, span_fields
from dev_system.record.redaction import redact_url
from dev_system.structs import struct

__all__ = [
    "ExportOutcome", "OtlpSink", "OtelUnavailable", "dev_system_sinks", "export_events", "resolve_endpoint",
    "sink_for", "stats", "traceparent_from_env",
]

_OFF = {"", "off", "none", "false", "0", "no"}
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


# -- configuration --------------------------------------------------------------------------------


def _traces_url(base: str) -> str:
    base = base.strip()
    if base.rstrip("/").endswith("/v1/traces"):
        return base
    return base.rstrip("/") + "/v1/traces"


def resolve_endpoint(setting: str | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """The OTLP/HTTP traces URL to export to, or None when export is off.

    The ``otlp-endpoint`` setting wins (a base URL like ``http://collector:4318``; ``off``
    switches export off); then ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used as it is), then
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/traces`` appended). ``OTEL_SDK_DISABLED=true`` turns
    export off.
    """
    environ = os.environ if environ is None else environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if setting is not None:
        return None if setting.strip().lower() in _OFF else _traces_url(setting)
    traces = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if traces:
        return traces
    base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return _traces_url(base) if base else None


def traceparent_from_env(environ: Mapping[str, str] | None = None) -> tuple[int, int] | None:
    """``(trace_id, span_id)`` of a valid W3C ``TRACEPARENT`` in the environment, else None."""
    environ = os.environ if environ is None else environ
    value = (environ.get("TRACEPARENT") or environ.get("traceparent") or "").strip().lower()
    match = _TRACEPARENT.fullmatch(value)
    if match is None or match.group(1) == "ff":
        return None
    trace_id, span_id = int(match.group(2), 16), int(match.group(3), 16)
    if trace_id == 0 or span_id == 0:
        return None
    return trace_id, span_id


# -- after the fact -------------------------------------------------------------------------------


@struct(frozen=False)
class ExportOutcome:
    """What :func:`export_events` did."""

    endpoint: str
    sent: int = 0
    failed: int = 0


def _fields(item: Any, traceparent: tuple[int, int] | None) -> Any:
    """The span of an event, or of a score (:class:`dev_system.record.scores.Score`)."""
    if isinstance(item, TelemetryEvent):
        return span_fields(item, traceparent=traceparent)
    return score_span_fields(item, traceparent=traceparent)


def export_events(events: Iterable[TelemetryEvent], endpoint: str | None = None, *,
                  headers: Mapping[str, str] | None = None, timeout: float | None = None,
                  batch_size: int = 512, environ: Mapping[str, str] | None = None,
                  scores: Iterable[Any] = ()) -> ExportOutcome:
    """Send ``events`` (then ``scores``) as spans now, in batches; stops at the first batch the
    collector does not take (the rest count as failed). ``endpoint`` defaults to the configured
    one; raises :class:`OtelUnavailable` without the extra and ValueError without an endpoint."""
    environ = os.environ if environ is None else environ
    url = _traces_url(endpoint) if endpoint else resolve_endpoint(None, environ)
    if not url:
        raise ValueError("no OTLP endpoint: give --endpoint, or set otlp-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT")
    builder = SpanBuilder()
    SpanExportResult = load_sdk()[4]
    exporter = make_exporter(url, headers, timeout)
    parent = traceparent_from_env(environ)
    outcome = ExportOutcome(redact_url(url))
    try:
        with quietly():
            _send_all(itertools.chain(events, scores), builder, exporter, parent, outcome, batch_size,
                      SpanExportResult)
    finally:
        exporter.shutdown()
    return outcome


def _send_all(events: Iterable[Any], builder: SpanBuilder, exporter: Any, parent: Any,
              outcome: ExportOutcome, batch_size: int, SpanExportResult: Any) -> None:
    batch: list[Any] = []

    def send() -> None:
        if outcome.failed:
            outcome.failed += len(batch)
        elif exporter.export(batch) == SpanExportResult.SUCCESS:
            outcome.sent += len(batch)
        else:
            outcome.failed += len(batch)
        batch.clear()

    for event in events:
        batch.append(builder.span(_fields(event, parent)))
        if len(batch) >= batch_size:
            send()
    if batch:
        send()


# -- the live sink --------------------------------------------------------------------------------


class OtlpSink:
    """A recorder sink that exports events as spans from its own thread.

    ``write`` (called by the recorder's writer) only appends to a bounded queue; a daemon thread
    sends batches to the collector. A batch the collector does not take (unreachable, slow beyond
    the timeout, refusing) is dropped and counted, reported once; the queue overflowing drops
    and counts too. ``close`` waits at most ``close_timeout`` seconds, then counts what is left as
    dropped. Nothing here raises into the caller.
    """

    def __init__(self, endpoint: str, *, headers: Mapping[str, str] | None = None, timeout: float | None = None,
                 max_queue: int = 20_000, batch_size: int = 512, interval_s: float = 1.0,
                 close_timeout: float = 3.0, environ: Mapping[str, str] | None = None) -> None:
        self.endpoint = endpoint
        #: the endpoint as printed: without the credentials a URL may carry
        self.shown_endpoint = redact_url(endpoint)
        self.headers = dict(headers) if headers else None
        self.timeout = timeout
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.close_timeout = close_timeout
        self.traceparent = traceparent_from_env(environ)
        self.builder = SpanBuilder()  # imports OpenTelemetry now: a missing extra fails at set-up, not later
        self.exported = 0
        self.dropped = 0
        self.closed = False
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._queue: collections.deque[TelemetryEvent] = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._busy = 0  # spans taken from the queue and not yet settled
        self._exporter: Any = None
        self._thread: threading.Thread | None = None
        self._stop = False
        self._abandoned = False  # set by close(): what is still in flight was counted as dropped
        self._failing = False  # the last export failed: close() does not wait for the collector

    def _forked(self) -> None:
        """In a forked child: its own queue, counts, thread and connection (what the parent had
        queued is the parent's to send)."""
        self.exported = self.dropped = 0
        self._reset()

    def stats(self) -> dict[str, Any]:
        """Spans exported, dropped, and waiting, for summaries."""
        return {"endpoint": self.shown_endpoint, "exported": self.exported, "dropped": self.dropped,
                "queued": len(self._queue) + self._busy}

    def _drop(self, count: int, why: str) -> None:
        self.dropped += count
        report_problem(f"otlp:{why}", f"{count} spans could not be exported to {self.shown_endpoint} ({why}); "
                                      "they are counted as dropped and stay in the database")

    def write(self, events: list[TelemetryEvent]) -> None:
        self._enqueue(events)

    def write_scores(self, scores: list[Any]) -> None:
        """Queue quality scores (:class:`dev_system.record.scores.Score`) for export, like events."""
        self._enqueue(scores)

    def _enqueue(self, events: list[Any]) -> None:
        if self.closed:
            return
        if os.getpid() != self._pid:
            self._forked()
        with self._cond:
            room = self.max_queue - len(self._queue)
            if room < len(events):
                self._drop(len(events) - max(room, 0), "export queue full")
                events = events[:max(room, 0)]
            self._queue.extend(events)
            if len(self._queue) >= self.batch_size:
                self._cond.notify()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="dev-system-otlp", daemon=True)
            self._thread.start()

    def _take(self) -> list[TelemetryEvent]:
        batch = []
        queue = self._queue
        while queue and len(batch) < self.batch_size:
            batch.append(queue.popleft())
        self._busy = len(batch)
        return batch

    def _run(self) -> None:
        pid = self._pid
        while True:
            with self._cond:
                if not self._queue and not self._stop:
                    self._cond.wait(self.interval_s)
                if os.getpid() != pid:
                    return
                batch = self._take()
                if not batch:
                    self._cond.notify_all()
                    if self._stop:
                        return
                    continue
            self._send(batch)
            with self._cond:
                self._busy = 0
                self._cond.notify_all()

    def _send(self, batch: list[TelemetryEvent]) -> None:
        ok, why = 0, ""
        try:
            if self._exporter is None:
                self._exporter = make_exporter(self.endpoint, self.headers, self.timeout)
            SpanExportResult = load_sdk()[4]
            spans = []
            for event in batch:
                try:
                    spans.append(self.builder.span(_fields(event, self.traceparent)))
                except Exception as exc:
                    why = f"unconvertible event: {type(exc).__name__}"
            with quietly():
                accepted = bool(spans) and self._exporter.export(spans) == SpanExportResult.SUCCESS
            if accepted:
                ok = len(spans)
            elif spans:
                why = "collector unreachable, slow or refusing"
        except Exception as exc:
            why = f"export failed: {type(exc).__name__}"
        with self._cond:
            self._failing = ok == 0
            if self._abandoned:
                return
            self.exported += ok
            if ok < len(batch):
                self._drop(len(batch) - ok, why or "export failed")

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued span is settled (exported or dropped); False on timeout."""
        deadline = None if timeout is None else monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while self._queue or self._busy:
                if self._thread is None or not self._thread.is_alive():
                    return False
                remaining = None if deadline is None else deadline - monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(0.05 if remaining is None else min(remaining, 0.05))
        return True

    def close(self) -> None:
        """Send what is queued (for at most ``close_timeout`` seconds); count the rest as dropped."""
        if self.closed:
            return
        try:
            if os.getpid() != self._pid:
                self._forked()
            if (self._queue or self._busy) and not self._failing and _reachable(self.endpoint):
                self.flush(self.close_timeout)
            self.closed = True
            with self._cond:
                self._stop = True
                self._abandoned = True
                left = len(self._queue) + self._busy
                self._queue.clear()
                self._busy = 0
                self._cond.notify_all()
            if self._exporter is not None:
                with quietly():
                    self._exporter.shutdown()  # also cuts short a retry in progress
            self.dropped += left  # said once, in the summary below
            if self.dropped:
                report_problem("otlp:summary", f"{self.dropped} spans were not exported to {self.shown_endpoint} "
                                               f"({self.exported} were); send them later with "
                                               "'dev-system export --format otlp'")
        except Exception as exc:
            report_problem("otlp:close", f"closing the OTLP export failed: {exc!r}")


def _reachable(endpoint: str, timeout: float = 0.25) -> bool:
    """False when a TCP connection to the endpoint's host and port is refused or times out (a
    collector that is down should not hold a finishing process for the whole close timeout)."""
    try:
        from urllib.parse import urlsplit

        parts = urlsplit(endpoint)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname or "localhost", port), timeout=timeout):
            return True
    except OSError:
        return False
    except Exception:
        return True


# -- the plugin hook ------------------------------------------------------------------------------


def sink_for(settings: Any, environ: Mapping[str, str] | None = None) -> OtlpSink | None:
    """The OTLP sink ``settings`` (and the environment) ask for, or None.

    Without the ``otel`` extra: one reported problem when the endpoint was set in dev-system's own
    settings, silence when it only comes from the general ``OTEL_*`` variables.
    """
    setting = getattr(settings, "otlp_endpoint", None)
    endpoint = resolve_endpoint(setting, environ)
    if endpoint is None:
        return None
    try:
        return OtlpSink(endpoint, environ=environ)
    except OtelUnavailable as exc:
        if setting is not None:
            report_problem("otlp:unavailable", f"events are not exported: {exc}")
        return None


@hookimpl
def dev_system_sinks(settings: Any) -> OtlpSink | None:
    """Built-in: the OTLP exporter, when an endpoint is configured."""
    return sink_for(settings)


def stats(sinks: Sequence[Any]) -> list[dict[str, Any]]:
    """``stats()`` of every OTLP sink among ``sinks`` (such as ``get_recorder().sinks``)."""
    return [sink.stats() for sink in sinks if isinstance(sink, OtlpSink)]

