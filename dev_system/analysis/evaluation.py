"""The one evaluation of a window or a run, shared by ``dev-system`` and the pytest plugin.

Both front ends ask the same questions of the same database and must print the same figures, so
the answers are computed here once:

- which thresholds apply (:func:`resolve_thresholds`);
- which alert rules run, each guarded so that a failing plugin rule is recorded as a
  :class:`RuleFailure` for the front end to report, never raised (:func:`guarded_rules`);
- which run a name means and which run is its baseline (:func:`resolve_run_id`,
  :func:`resolve_filters`, :func:`baseline_run`; a run is named by its full id, a unique prefix
  of one, ``latest``, ``latest~N`` or ``previous``, and a name that matches no run or several
  raises :class:`RunNotFound`, which every front end reports as a usage error);
- which run's events a trace shows (:func:`trace_view`);
- the summary, breakdowns and alerts of a window or of one run (:func:`evaluate_window`,
  :func:`evaluate_run`), and the comparison of two runs (:func:`compare_run`).

A front end parses its options, calls these, and hands the result to ``dev_system.render``::

    thresholds = resolve_thresholds(overrides={"success_rate_min": 95.0})
    result = evaluate_window(conn, parse_period("1d"), Filters(), thresholds, breakdowns=("agent",))
    for failure in result.rule_failures:
        warn(failure.message)
    print(render_text(result.summary, result.alerts, ("agent", result.breakdowns["agent"])))

Reads only through the store's query functions and formats nothing beyond one-line messages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import field
from typing import TYPE_CHECKING, Any

from dev_system.analysis import alerts as alert_rules
from dev_system.analysis.alerts import Alert, AlertRule, CostScope, Thresholds
from dev_system.analysis.metrics import BreakdownRow, Summary, compute_breakdown, compute_summary
from dev_system.analysis.periods import Window
from dev_system.analysis.scores import ScoreStat, run_score_stats
from dev_system.store.queries import Between, Filters, iter_events, trace_events
from dev_system.store.runs import Run, RunNotFound, event_totals, resolve_run, trace_runs
from dev_system.store.scores import run_scores
from dev_system.structs import struct

if TYPE_CHECKING:
    import sqlite3

    from dev_system.analysis.compare import Comparison, Limit, Regression
    from dev_system.config import Settings
    from dev_system.events import TelemetryEvent

__all__ = [
    "Evaluation", "RuleFailure", "RunNotFound", "PLUGIN_RULES_NAME", "THRESHOLD_KEYS",
    "resolve_thresholds", "guarded_rules", "evaluate_window", "evaluate_run", "run_window",
    "resolve_run", "resolve_run_id", "resolve_filters", "TraceView", "trace_view", "baseline_run", "compare_run",
]

#: The fields of :class:`~dev_system.analysis.alerts.Thresholds`, the names ``switched_off`` takes.
THRESHOLD_KEYS = tuple(f.name for f in dataclasses.fields(Thresholds))
#: The name a failure of the ``dev_system_alerts`` hook is reported under.
PLUGIN_RULES_NAME = "a dev_system_alerts plugin"


def resolve_thresholds(settings: Settings | None = None, *, overrides: Mapping[str, Any] | None = None,
                       switched_off: Iterable[str] = ()) -> Thresholds:
    """The thresholds the alert rules check.

    ``settings``: settings already resolved by the front end (the plugin's: defaults <
    ``[tool.dev-system]`` < ini < ``DEV_SYSTEM_*`` < options). Without them the project's settings
    are loaded with :func:`dev_system.config.load` and ``overrides`` on top (the command's flags;
    a ``None`` value is no flag); ``overrides`` go only with that loading. ``switched_off`` names
    thresholds (of :data:`THRESHOLD_KEYS`) whose rule is off: they become ``None``. Raises
    :class:`dev_system.config.ConfigError` for settings that cannot be used.
    """
    if settings is None:
        from dev_system import config

        settings = config.load(overrides)
    elif overrides:
        raise ValueError("overrides go with settings=None: apply them to the settings first")
    thresholds = Thresholds.from_settings(settings)
    off = set(switched_off)
    unknown = off.difference(THRESHOLD_KEYS)
    if unknown:
        raise ValueError(f"no threshold named {sorted(unknown)[0]!r}: use one of {', '.join(THRESHOLD_KEYS)}")
    return dataclasses.replace(thresholds, **dict.fromkeys(off)) if off else thresholds


@struct
class RuleFailure:
    """An alert rule that raised: ``name`` says which (``"a dev_system_alerts plugin"``, or the
    name a front end gave its own rule), ``error`` is what it raised. Its alerts are missing."""

    name: str
    error: BaseException

    @property
    def detail(self) -> str:
        """``"ValueError: the message"``."""
        return f"{type(self.error).__name__}: {self.error}"

    @property
    def message(self) -> str:
        """``"<name> failed: ValueError: the message"``, one line for a person."""
        return f"{self.name} failed: {self.detail}"


def guarded_rules(failures: list[RuleFailure], named_rules: Iterable[tuple[str, AlertRule]] = (), *,
                  plugins: bool = True) -> list[AlertRule]:
    """Alert rules that never raise: the ``dev_system_alerts`` plugins first (unless ``plugins`` is
    false), then each ``(name, rule)`` of ``named_rules``. A rule that raises adds a
    :class:`RuleFailure` to ``failures`` and yields no alerts, so a broken plugin never hides the
    built-in alerts or the other rules' alerts. Pass the result as ``extra_rules``."""
    named = [(PLUGIN_RULES_NAME, rule) for rule in alert_rules.plugin_rules()] if plugins else []
    named.extend(named_rules)

    def guard(name: str, rule: AlertRule) -> AlertRule:
        def run(summary: Summary, thresholds: Thresholds) -> list[Alert]:
            try:
                return list(rule(summary, thresholds) or ())
            except Exception as exc:  # a broken rule must not hide the others
                failures.append(RuleFailure(name, exc))
                return []
        return run

    return [guard(name, rule) for name, rule in named]


@struct
class Evaluation:
    """What a window or a run shows: its summary, the breakdowns asked for (by key, in the order
    asked), the alerts (built-in rules first, then the guarded extra rules), the rules that failed,
    and the inputs that produced them."""

    window: Window
    filters: Filters
    thresholds: Thresholds
    cost_scope: str
    summary: Summary
    breakdowns: dict[str, list[BreakdownRow]] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    rule_failures: list[RuleFailure] = field(default_factory=list)
    #: The run's quality scores by name (a window of one run: ``filters.run_id``; else empty).
    scores: list[ScoreStat] = field(default_factory=list)


def evaluate_window(conn: sqlite3.Connection, window: Window, filters: Filters = Filters(),
                    thresholds: Thresholds = Thresholds(), *, breakdowns: Iterable[str] = (),
                    rules: Iterable[tuple[str, AlertRule]] = (), plugins: bool = True,
                    cost_scope: CostScope = "day") -> Evaluation:
    """The :class:`Evaluation` of the events in ``window`` matching ``filters``.

    ``breakdowns``: keys of :data:`dev_system.analysis.metrics.BREAKDOWN_KEYS` to break the
    figures down by. ``rules``: ``(name, rule)`` pairs run after the ``dev_system_alerts`` plugins
    (``plugins=False`` leaves those out), all guarded (see :func:`guarded_rules`).
    ``cost_scope="day"`` checks the cost of each calendar day (``dev-system metrics``), ``"total"``
    the window's total (a run's budget). An empty window raises no alert and runs no rule.
    A window of one run (``filters.run_id``) also has the run's scores, whose minimums are
    checked whether or not the run recorded events.
    """
    summary = compute_summary(conn, window, filters)
    by = {key: compute_breakdown(conn, window, filters, key) for key in breakdowns}
    failures: list[RuleFailure] = []
    alerts = alert_rules.evaluate_alerts(summary, thresholds, guarded_rules(failures, rules, plugins=plugins),
                                         cost_scope=cost_scope)
    scores = run_score_stats(run_scores(conn, filters.run_id)) if filters.run_id is not None else []
    alerts += alert_rules.score_alerts(scores, thresholds)
    return Evaluation(window, filters, thresholds, cost_scope, summary, by, alerts, failures, scores)


def run_window(run_id: str) -> Window:
    """The window of one whole run: no time bounds, labelled ``Run <id>``."""
    return Window(None, None, f"Run {run_id}", "run")


def evaluate_run(conn: sqlite3.Connection, run_id: str, thresholds: Thresholds = Thresholds(), *,
                 breakdowns: Iterable[str] = (), rules: Iterable[tuple[str, AlertRule]] = (),
                 plugins: bool = True) -> Evaluation:
    """The :class:`Evaluation` of the events of run ``run_id`` (a stored id, see
    :func:`resolve_run_id`): :func:`evaluate_window` over :func:`run_window` with
    ``Filters(run_id=run_id)``, the cost threshold checked against the run's total."""
    return evaluate_window(conn, run_window(run_id), Filters(run_id=run_id), thresholds,
                           breakdowns=breakdowns, rules=rules, plugins=plugins, cost_scope="total")


def resolve_run_id(conn: sqlite3.Connection, ref: str) -> str:
    """The id of the run ``ref`` names: a recorded run (:func:`resolve_run`: a full id, a unique
    prefix of one, ``latest``, ``latest~N``, ``previous``), or else ``ref`` itself when events carry
    it as their run id although no run record exists (events of an older plugin, or merged without
    their run). Raises :class:`RunNotFound` (its message is one line for a person)."""
    try:
        return resolve_run(conn, ref).run_id
    except RunNotFound:
        if ref not in event_totals(conn, [ref]):
            raise
        return ref


def resolve_filters(conn: sqlite3.Connection, filters: Filters) -> Filters:
    """``filters`` with the run name in ``run_id`` (any name :func:`resolve_run_id` reads) replaced
    by the id of the run it names, so that a report of ``latest`` shows that run's events. Raises
    :class:`RunNotFound` when the name matches no run or several: never an empty report."""
    if filters.run_id is None:
        return filters
    return dataclasses.replace(filters, run_id=resolve_run_id(conn, filters.run_id))


@struct
class TraceView:
    """The events of one trace in one run: ``run_id`` is the run shown (``None``: events recorded
    outside any pytest run), ``named`` whether the caller named it, ``other_runs`` how many other
    runs (or events of no run) hold the same trace id."""

    trace_id: str
    run_id: str | None
    named: bool
    other_runs: int
    events: list[TelemetryEvent] = field(default_factory=list)


def trace_view(conn: sqlite3.Connection, trace_id: str, run: str | None = None) -> TraceView:
    """Trace ``trace_id`` in one run: the run ``run`` names (:func:`resolve_run_id`), or else
    the run of its newest event. A test's node id is the trace id of its events in every run of
    it; one tree never mixes runs. Raises :class:`RunNotFound` for a name that matches no run or
    several; ``events`` is empty when the trace is not there."""
    holders = trace_runs(conn, trace_id)
    if run is not None:
        run_id: str | None = resolve_run_id(conn, run)
    else:
        run_id = holders[0] if holders else None
    others = sum(1 for holder in holders if holder != run_id)
    if run_id is not None:
        events = list(iter_events(conn, Between(), Filters(trace_id=trace_id, run_id=run_id), usable_only=True))
    else:
        events = [e for e in trace_events(conn, trace_id) if e.run_id is None]
    return TraceView(trace_id, run_id, run is not None, others, events)


def baseline_run(conn: sqlite3.Connection, run_id: str, ref: str | None = None, *,
                 nodeids: Iterable[str] | None = None, branch: str | None = None) -> Run | None:
    """The run to compare run ``run_id`` with.

    ``ref=None``: the automatic baseline, the most recent earlier run that completed with the same
    set of tests (``nodeids``, default: those stored for ``run_id``), preferring one of ``branch``
    (default: ``run_id``'s branch); ``None`` when there is none. Otherwise the run ``ref`` names
    (:func:`resolve_run`; ``latest`` and ``latest~N`` count the runs other than ``run_id``),
    raising :class:`RunNotFound`. Whether the baseline may be the run
    itself, and how "no comparison" is spelt, is the front end's to say.
    """
    if ref is None:
        from dev_system.analysis.compare import find_baseline

        return find_baseline(conn, run_id, nodeids=nodeids, branch=branch)
    return resolve_run(conn, ref, skip=run_id)


def compare_run(conn: sqlite3.Connection, base_id: str, new_id: str, limits: Iterable[Limit] = (), *,
                new_summary: Summary | None = None) -> tuple[Comparison, list[Regression]]:
    """Run ``new_id`` against run ``base_id`` (both stored): the comparison of their totals and
    tests, and the totals that grew beyond ``limits``. ``new_summary``, when the caller already
    has the summary of ``new_id``'s events, saves computing it again."""
    from dev_system.analysis import compare

    comparison = compare.compare_runs(conn, base_id, new_id, new_summary=new_summary)
    return comparison, compare.regressions(comparison, limits)
