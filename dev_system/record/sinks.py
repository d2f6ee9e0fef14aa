"""Sinks: where the recorder delivers finished events.

:class:`Sink` is the protocol a sink follows; :class:`MemorySink` keeps events in a list;
:func:`plugin_sinks` asks the ``dev_system_sinks`` hook of every plugin for the sinks a set of
settings calls for (the SQLite store and the OTLP exporter are such plugins, built in). The
recorder knows sinks only through this protocol.

A sink that also has ``write_scores(scores)`` receives the recorded quality scores
(:class:`dev_system.record.scores.Score`), delivered with the events; a sink without it gets
events only.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from dev_system import config as config_module
from dev_system.events import TelemetryEvent
from dev_system.problems import report_problem


class Sink(Protocol):
    """Where finished events go. ``write`` is called from the writer thread (or, in ``sync`` mode,
    from the calling thread) with the recorder's ``write_lock`` held; raising counts the batch as
    dropped."""

    def write(self, events: list[TelemetryEvent]) -> None: ...

    def close(self) -> None: ...


class ScoreSink(Sink, Protocol):
    """A sink that also takes scores: ``write_scores`` is called like ``write``, from the same
    thread with the same lock held; raising loses the batch (reported once)."""

    def write_scores(self, scores: list[Any]) -> None: ...


class MemorySink:
    """Keeps every event and score in a list (for tests and the pytest ``telemetry`` fixture)."""

    __slots__ = ("events", "scores")

    def __init__(self) -> None:
        self.events: list[TelemetryEvent] = []
        self.scores: list[Any] = []

    def write(self, events: list[TelemetryEvent]) -> None:
        self.events.extend(events)

    def write_scores(self, scores: list[Any]) -> None:
        self.scores.extend(scores)

    def close(self) -> None:
        pass


def _may_export_otlp(settings: config_module.Settings) -> bool:
    """Whether an OTLP endpoint is set where ``otlp.resolve_endpoint`` looks for one: the exporter's
    module (a few milliseconds to import) is loaded only then."""
    return (getattr(settings, "otlp_endpoint", None) is not None
            or bool(os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip())
            or bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()))


def plugin_sinks(settings: config_module.Settings) -> list[Any]:
    """The sinks the ``dev_system_sinks`` hook implementations return for ``settings`` (the
    built-in SQLite store and OTLP exporter included); a plugin that fails is reported once and
    skipped, the others' sinks are used."""
    from dev_system.hookspecs import get_plugin_manager

    try:
        manager = get_plugin_manager()
    except Exception as exc:  # an entry point that fails to load: the built-in plugins are in
        report_problem("plugin-sinks", f"sinks from plugins are not used: {exc!r}")
        manager = get_plugin_manager()
    try:
        if _may_export_otlp(settings) and manager.get_plugin("dev_system.otel") is None:
            from dev_system.record import otlp

            manager.register(otlp, name="dev_system.otel")
    except Exception as exc:
        report_problem("plugin-sinks", f"the OTLP exporter is not used: {exc!r}")
    sinks: list[Any] = []
    for impl in reversed(manager.hook.dev_system_sinks.get_hookimpls()):  # in pluggy's calling order
        try:
            result = impl.function(settings=settings)
        except Exception as exc:
            report_problem("plugin-sinks", f"the sinks of plugin {impl.plugin_name!r} are not used: {exc!r}")
            continue
        for sink in result if isinstance(result, (list, tuple)) else [result]:
            if sink is not None:
                sinks.append(sink)
    return sinks
