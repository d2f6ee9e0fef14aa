"""Hooks the plugin calls, for a ``conftest.py`` or another plugin to implement.

Both are called once per run, on the process that reports (the only process without xdist, the
controller with it), after every worker has stored its events::

    # conftest.py
    from dev_system.analysis.alerts import Alert

    def pytest_devtelemetry_alerts(config, summary, thresholds):
        if summary.failures_by_error_type.get("RateLimitError", 0) > 3:
            return [Alert("rate_limits", "Too many rate limits: "
                          f"{summary.failures_by_error_type['RateLimitError']} (threshold 3)")]

    def pytest_devtelemetry_summary(config, report):
        print(report.run_id, report.summary.total_cost_usd, [a.message for a in report.alerts])

Alerts added by the first hook are shown with the built-in ones and fail the run under
``--telemetry-gate``, so a team can write its own gate. Rules registered on dev_system's own
plugin manager (the ``dev_system_alerts`` hook, used by ``dev-system metrics`` too) also apply.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from dev_system.analysis.alerts import Alert, Thresholds
    from dev_system.analysis.metrics import Summary
    from pytest_devtelemetry.runreport import RunReport


@pytest.hookspec
def pytest_devtelemetry_alerts(config: pytest.Config, summary: Summary,
                               thresholds: Thresholds) -> Iterable[Alert] | None:
    """Return the alerts your rules raise for this run (an iterable of
    :class:`dev_system.analysis.alerts.Alert`), or ``None``.

    ``summary`` is the :class:`dev_system.analysis.metrics.Summary` of the run's events (the figures
    ``dev-system metrics`` computes, for this run only); ``thresholds`` the
    :class:`dev_system.analysis.alerts.Thresholds` in force. Not called when the run recorded no event.
    Return an alert only when its threshold is actually crossed, and name the value and the
    threshold in its message. An exception raised here is reported and the other rules still run.
    """


@pytest.hookspec
def pytest_devtelemetry_summary(config: pytest.Config, report: RunReport) -> None:
    """Receive the run's report once it is complete and stored.

    ``report`` is a :class:`pytest_devtelemetry.runreport.RunReport`: ``run_id``, ``summary``,
    ``alerts``, ``agents`` (per-agent breakdown rows), ``tests`` (per-test results), ``scores``
    (the run's :class:`dev_system.analysis.scores.ScoreStat` per score name), ``comparison`` and
    ``regressions`` (with ``--telemetry-compare``), ``failures`` (the ``FAIL`` lines of the gate),
    ``exit_status`` (the final one) and ``as_dict()`` (the JSON report).
    Called before the terminal summary is written.
    """
