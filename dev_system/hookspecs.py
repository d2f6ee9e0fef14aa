"""Pluggy hook specifications for extending dev_system.

A plugin is any object (module or class instance) with functions marked ``@hookimpl``; it is
registered on :func:`get_plugin_manager` (``pm.register(obj)``) or found through the
``dev_system`` entry-point group of an installed distribution::

    [project.entry-points.dev_system]
    my_rules = "my_package.dev_system_rules"

Only light imports here: this module may be imported by every pytest start-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from dev_system.analysis.alerts import Alert, Thresholds
    from dev_system.analysis.metrics import Summary

PROJECT_NAME = "dev_system"
ENTRY_POINT_GROUP = "dev_system"
#: The project's own plugins, registered by name before any installed one (as pytest registers
#: its built-in plugins): the stages they belong to stay out of this module's imports.
BUILTIN_PLUGINS = ("dev_system.store.sink",)

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class DevSystemSpecs:
    """The hooks dev_system calls."""

    @hookspec
    def dev_system_alerts(self, summary: Summary, thresholds: Thresholds) -> Iterable[Alert] | None:
        """Return the custom alerts that ``summary`` raises (an iterable of ``Alert``, or None).

        Called once per report, after the built-in rules, with the same summary and thresholds;
        every implementation's alerts are added to the built-in ones. Return an alert only when
        its threshold is actually crossed, and put the value and the threshold in its message.
        """

    @hookspec
    def dev_system_sinks(self, settings: Any) -> Any:
        """Return the extra sinks to record into with ``settings``: one sink, a list, or None.

        A sink is an object with ``write(events: list[TelemetryEvent])`` and ``close()``;
        ``write`` is called from the recorder's writer thread and must not block for long. A sink
        that also has ``write_scores(scores: list[Score])`` receives the quality scores recorded
        with ``score(...)`` (:class:`dev_system.record.scores.Score`), the same way.
        Called each time telemetry is switched on (the sinks of the previous call are closed);
        the built-in OTLP exporter (:mod:`dev_system.record.otlp`) is one implementation.
        """


_manager: pluggy.PluginManager | None = None


def get_plugin_manager(*, load_entrypoints: bool = True) -> pluggy.PluginManager:
    """The process-wide plugin manager with :class:`DevSystemSpecs`, entry-point plugins loaded once."""
    global _manager
    if _manager is None:
        import importlib

        manager = pluggy.PluginManager(PROJECT_NAME)
        manager.add_hookspecs(DevSystemSpecs)
        for module_name in BUILTIN_PLUGINS:
            manager.register(importlib.import_module(module_name), name=module_name)
        _manager = manager
        if load_entrypoints:
            manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    return _manager


def new_plugin_manager(*plugins: Any) -> pluggy.PluginManager:
    """A fresh manager with :class:`DevSystemSpecs` and ``plugins`` registered (no entry points)."""
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(DevSystemSpecs)
    for plugin in plugins:
        manager.register(plugin)
    return manager
