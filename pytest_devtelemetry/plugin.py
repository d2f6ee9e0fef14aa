"""The pytest plugin: options, ini keys, the ``telemetry_budget`` marker and the ``telemetry`` fixture.

Loaded by every pytest run (``pytest11`` entry point), so this module imports nothing but pytest
and the leaf :mod:`pytest_devtelemetry.names`: without ``--telemetry`` it registers its options
and marker and stays out of the way. With it, :func:`pytest_devtelemetry.roles.start` registers
the object that plays this process's role: a single process, an xdist controller or an xdist
worker. Budgets (:mod:`pytest_devtelemetry.budgets`) are loaded only when a collected test has
the marker, the running test's capture (:mod:`pytest_devtelemetry.running_test`) only when the
fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pytest_devtelemetry.names import (
    BUDGET_MARKER,
    BUDGET_PLUGIN,
    HTML_WRITTEN_KEY,
    RUN_PLUGIN,
    TESTS_PLUGIN,
    any_budget_marker,
)

#: Command-line options that switch telemetry on by themselves (they ask for one of its features).
_IMPLYING = ("telemetry_gate", "telemetry_json", "telemetry_compare", "telemetry_compare_fail", "telemetry_html")
#: Options whose value is a path (pytest may take a separate one for a test path: see pytest_configure).
_PATH_OPTIONS = ("--telemetry-db", "--telemetry-json", "--telemetry-html")
#: Options that take a value checked by ``options.check`` (each has an ini key of the same name):
#: checked also in a run without telemetry, so that a typo is found on the day it is written.
_CHECKED_OPTIONS = ("telemetry_top", "telemetry_instrument", "telemetry_compare_fail", "telemetry_success_rate_min",
                    "telemetry_p95_latency_ms_max", "telemetry_cost_usd_max", "telemetry_score_min")


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_devtelemetry import hooks

    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("devtelemetry", "telemetry of model and tool calls (pytest-devtelemetry)")
    group.addoption("--telemetry", action="store_true", dest="telemetry", default=None,
                    help="record telemetry for this run: every event tagged with its test, a summary "
                         "with alerts at the end, the run stored in the database (ini: telemetry)")
    group.addoption("--no-telemetry", action="store_false", dest="telemetry",
                    help="do not record telemetry, whatever the ini file says")
    group.addoption("--telemetry-db", metavar="PATH", dest="telemetry_db", default=None,
                    help="the telemetry database (default: db-path of [tool.dev-system], else "
                         ".dev-system/data/telemetry.db under the project root; ini: telemetry_db)")
    group.addoption("--telemetry-gate", action="store_true", dest="telemetry_gate", default=None,
                    help="fail the run (exit status 1) when an alert fires; implies --telemetry "
                         "(ini: telemetry_gate)")
    group.addoption("--telemetry-success-rate-min", metavar="PERCENT", dest="telemetry_success_rate_min",
                    default=None, help="alert when the run's success rate is below PERCENT ('off': never)")
    group.addoption("--telemetry-p95-latency-ms-max", metavar="MS", dest="telemetry_p95_latency_ms_max",
                    default=None, help="alert when the run's p95 latency is above MS ('off': never)")
    group.addoption("--telemetry-cost-usd-max", metavar="USD", dest="telemetry_cost_usd_max", default=None,
                    help="alert when the run's total cost is above USD ('off': never)")
    group.addoption("--telemetry-score-min", metavar="NAME:MIN", dest="telemetry_score_min", action="append",
                    default=None,
                    help="alert when the run's mean of score NAME is below MIN, e.g. correctness:0.8 "
                         "(repeatable; ini: telemetry_score_min; pyproject: [tool.dev-system.scores])")
    group.addoption("--telemetry-top", metavar="N", dest="telemetry_top", default=None,
                    help="how many of the most expensive and the slowest tests to list (default 5; "
                         "0: none; ini: telemetry_top)")
    group.addoption("--telemetry-json", metavar="PATH", dest="telemetry_json", default=None,
                    help="write the run's report as JSON to PATH; implies --telemetry")
    group.addoption("--telemetry-html", metavar="PATH", dest="telemetry_html", default=None,
                    help="write the run's report as one self-contained HTML page with charts to PATH "
                         "(against the baseline run when there is one); implies --telemetry")
    group.addoption("--telemetry-instrument", metavar="SDKS", dest="telemetry_instrument", default=None,
                    help="also record the calls of these provider SDKs with no decorator: 'openai', "
                         "'anthropic', 'google-genai' (or 'gemini'), 'litellm', several with commas, or 'all' "
                         "(the installed ones); ini: telemetry_instrument")
    group.addoption("--telemetry-compare", metavar="RUN", dest="telemetry_compare", nargs="?", const="auto",
                    default=None,
                    help="compare this run with RUN (an id, a unique prefix of one, latest, latest~N) or, "
                         "without RUN, with the most recent earlier run of the same tests (same branch "
                         "preferred); implies --telemetry")
    group.addoption("--telemetry-compare-fail", metavar="LIMITS", dest="telemetry_compare_fail", default=None,
                    help="fail the run when it regressed beyond LIMITS against the baseline, e.g. "
                         "cost:10%%,p95:20%%,calls:0 (metrics: cost, tokens, calls, failures, p50, p95, "
                         "p99; score.NAME:5%% or score.NAME:0.05 fails when the run's mean of score NAME "
                         "falls by more); implies --telemetry-compare (ini: telemetry_compare_fail)")

    parser.addini("telemetry", type="bool", default=False, help="record telemetry for every run (as --telemetry)")
    parser.addini("telemetry_db", default="", help="the telemetry database, relative to the ini file's folder")
    parser.addini("telemetry_gate", type="bool", default=False,
                  help="fail a run with telemetry when an alert fires (as --telemetry-gate)")
    parser.addini("telemetry_success_rate_min", default="", help="success rate threshold in percent ('off': none)")
    parser.addini("telemetry_p95_latency_ms_max", default="", help="p95 latency threshold in ms ('off': none)")
    parser.addini("telemetry_cost_usd_max", default="", help="threshold of a run's total cost in USD ('off': none)")
    parser.addini("telemetry_score_min", default="",
                  help="score minimums over a run's mean, e.g. correctness:0.8 faithfulness:0.7")
    parser.addini("telemetry_top", default="", help="how many most expensive / slowest tests to list")
    parser.addini("telemetry_instrument", type="args", default=[],
                  help="provider SDKs to instrument in runs with telemetry (openai, anthropic, google-genai, "
                       "litellm, all)")
    parser.addini("telemetry_compare", type="bool", default=False,
                  help="compare every run with telemetry with its baseline (as --telemetry-compare)")
    parser.addini("telemetry_compare_fail", default="",
                  help="regression limits against the baseline (as --telemetry-compare-fail)")


def telemetry_requested(config: pytest.Config) -> bool:
    """Whether this run records telemetry: ``--telemetry``/``--no-telemetry``, else an option that
    implies it, else the ``telemetry`` ini key."""
    chosen = config.getoption("telemetry", None)
    if chosen is not None:
        return bool(chosen)
    if any(config.getoption(name, None) is not None for name in _IMPLYING):
        return True
    return bool(config.getini("telemetry"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{BUDGET_MARKER}(max_cost_usd=None, max_calls=None, max_tokens=None, max_latency_ms=None, "
        "min_scores=None): fail the test when the telemetry events it records exceed this budget, or "
        "its mean of a score is below min_scores[name] (pytest-devtelemetry)",
    )
    _warn_of_separate_paths(config)
    if telemetry_requested(config) and not config.getoption("collectonly", False):
        from pytest_devtelemetry.options import check

        check(config, settings=True)  # a bad value is one usage error, before the recorder reads it
        from pytest_devtelemetry.roles import start

        start(config)
    elif any(config.getoption(dest, None) is not None or config.getini(dest) for dest in _CHECKED_OPTIONS):
        from pytest_devtelemetry.options import check

        check(config)


def _warn_of_separate_paths(config: pytest.Config) -> None:
    """``--telemetry-db PATH`` in two tokens: pytest chose its rootdir and ini file before it knew
    the option, taking PATH for a test path. Harmless inside the folder pytest started in; outside
    it, the rootdir moved and the project's ini file may not have been read: say so."""
    args = config.invocation_params.args
    for option, value in zip(args, args[1:]):
        if option not in _PATH_OPTIONS or value.startswith("-"):
            continue
        here = config.invocation_params.dir
        try:
            path = (here / value).resolve()
            outside = path.exists() and not path.parent.is_relative_to(here.resolve())
        except (OSError, ValueError):
            continue
        if outside:
            config.issue_config_time_warning(pytest.PytestConfigWarning(
                f"{option} {value}: pytest took {value} for a test path when it chose the rootdir "
                f"({config.rootpath}) and the ini file ({config.inipath or 'none'}); write {option}={value}"
            ), stacklevel=2)


def pytest_devtelemetry_summary(config: pytest.Config, report: Any) -> None:
    """``--telemetry-html PATH``: write the run's HTML report (dev_system.render.html.page)."""
    path = config.getoption("telemetry_html", None)
    if not path:
        return
    from pathlib import Path

    target = config.invocation_params.dir / Path(path).expanduser()
    try:
        from dev_system.render.html.page import write_run_report

        write_run_report(target, report)
    except Exception as exc:  # the report is a by-product: never a traceback, never a changed outcome
        report.errors.append(f"cannot write the HTML report {target}: {type(exc).__name__}: {exc}")
        return
    config.stash[HTML_WRITTEN_KEY] = target


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    target = config.stash.get(HTML_WRITTEN_KEY, None)
    if target is not None:  # where the page went: shown at every verbosity, -q included
        terminalreporter.write_line(f"telemetry: HTML report written to {target}")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Budgets are checked only when a collected test has the marker: with ``--telemetry``, by
    a small object that checks them (``budgets.BudgetChecks``); without it, by one that also
    captures the events of the marked tests (``budgets.BudgetsOnly``)."""
    pm = config.pluginmanager
    if pm.has_plugin(BUDGET_PLUGIN) or not any_budget_marker(items):
        return
    if pm.get_plugin(RUN_PLUGIN) is None:
        from pytest_devtelemetry.budgets import BudgetsOnly

        pm.register(BudgetsOnly(), BUDGET_PLUGIN)
    elif pm.has_plugin(TESTS_PLUGIN):  # the tests are recorded here (not a controller, not switched off)
        from pytest_devtelemetry.budgets import BudgetChecks

        pm.register(BudgetChecks(), BUDGET_PLUGIN)


@pytest.fixture
def telemetry(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The telemetry events this test recorded so far, in memory, with their totals.

    A :class:`pytest_devtelemetry.running_test.TestTelemetry`: ``events``, ``calls``, ``failures``,
    ``total_cost_usd``, ``unknown_cost_calls``, ``input_tokens``, ``output_tokens``,
    ``total_tokens``, ``max_latency_ms``, ``by_agent``, ``by_event_type``, ``by_function``,
    ``by_error_type``, ``select(...)``, ``count(...)`` and ``clear()``. Works with or without
    ``--telemetry`` and needs no database.
    """
    from pytest_devtelemetry.running_test import TestTelemetry, running_capture

    running = running_capture(request.node)
    if running is not None:
        yield running
        return
    own = TestTelemetry(request.node.nodeid).start()
    try:
        yield own
    finally:
        own.stop()
