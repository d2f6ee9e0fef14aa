"""The names the plugin's modules share: the marker, the stash keys, the names its objects are
registered under with pytest's plugin manager, and the one cheap test for the marker.

A leaf: it imports only pytest, so that :mod:`pytest_devtelemetry.plugin`, the roles and the
running test's capture find each other through these names and never import each other.
"""

from __future__ import annotations

from typing import Any

import pytest

#: The marker that gives a test a budget: ``@pytest.mark.telemetry_budget(max_cost_usd=...)``.
BUDGET_MARKER = "telemetry_budget"

#: The object that plays this process's role (``config.pluginmanager.get_plugin(RUN_PLUGIN)``).
RUN_PLUGIN = "devtelemetry-run"
#: The object that says telemetry was asked for but switched off (``DEV_SYSTEM_TELEMETRY=0``): it
#: plays no role, so budgets are checked as in a run without ``--telemetry``.
SWITCHED_OFF_PLUGIN = "devtelemetry-switched-off"
#: The object that tags each test's events and captures them (single process, xdist worker).
TESTS_PLUGIN = "devtelemetry-tests"
#: The object that checks budgets (registered only when a collected test has the marker).
BUDGET_PLUGIN = "devtelemetry-budgets"
#: The object that attaches each test's figures to its teardown report.
PROPERTIES_PLUGIN = "devtelemetry-properties"
#: The object that keeps the tests' reports when the terminal reporter does not.
REPORTS_PLUGIN = "devtelemetry-reports"

#: The key of the plugin's entry in xdist's ``workerinput`` and ``workeroutput``.
WORKER_KEY = "devtelemetry"

#: Where a running test's capture (a ``running_test.TestTelemetry``) is kept: the fixture and
#: budgets find it there.
CAPTURE_KEY = pytest.StashKey[Any]()
#: Set on a test once its budget has failed it (it fails once, not at its call and its teardown).
BUDGET_DONE_KEY = pytest.StashKey[bool]()
#: Where the HTML report was written (the terminal summary says so).
HTML_WRITTEN_KEY = pytest.StashKey[object]()


def any_budget_marker(items: list[pytest.Item]) -> bool:
    """Whether an item, or a node above it, has the budget marker (``own_markers``, which
    ``get_closest_marker`` reads; each module or class looked at once). Runs in every pytest run."""
    seen: set[int] = set()
    for item in items:
        node: Any = item
        while node is not None:
            for mark in node.own_markers:
                if mark.name == BUDGET_MARKER:
                    return True
            node = node.parent
            if node is None or id(node) in seen:
                break
            seen.add(id(node))
    return False
