"""Threshold alerts over a :class:`~dev_system.analysis.metrics.Summary`.

Built-in rules, each firing only when its threshold is actually crossed (strictly):

- ``success_rate``: success rate below ``success_rate_min`` (percent);
- ``p95_latency``: p95 latency above ``p95_latency_ms_max``;
- ``daily_cost``: the known cost of one local calendar day above ``daily_cost_usd_max``, one alert
  per such day (``cost_scope="day"``), or the window's total cost above it (``cost_scope="total"``,
  what a pytest run uses as its budget);
- ``score.NAME``: a run's mean of quality score NAME below its minimum (``score_min``), checked
  by :func:`score_alerts` over the run's :class:`~dev_system.analysis.scores.ScoreStat` (a window
  that is not one run has no score figures).

An empty window raises no alert. A threshold set to ``None`` switches its rule off. More rules:
``extra_rules`` callables, or plugins implementing the ``dev_system_alerts`` hook
(:func:`plugin_rules`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from dev_system.analysis.metrics import Summary
from dev_system.formatting import format_crossing, format_ms, format_percent, format_score, format_usd
from dev_system.structs import struct

if TYPE_CHECKING:
    import pluggy

    from dev_system.analysis.scores import ScoreStat

CostScope = Literal["day", "total"]


@struct
class Thresholds:
    """The limits the built-in rules check; ``None`` switches a rule off."""

    success_rate_min: float | None = 90.0
    p95_latency_ms_max: float | None = 3000.0
    daily_cost_usd_max: float | None = 10.0
    #: ``(name, minimum)`` pairs: the lowest mean each quality score may have over a run, by name.
    score_min: tuple[tuple[str, float], ...] | None = ()

    @classmethod
    def from_settings(cls, settings: Any) -> Thresholds:
        """The thresholds of a :class:`dev_system.config.Settings`."""
        return cls(settings.success_rate_min, settings.p95_latency_ms_max, settings.daily_cost_usd_max,
                   tuple(sorted(dict(getattr(settings, "score_min", None) or {}).items())))


@struct
class Alert:
    """One crossed threshold: ``rule`` names the rule, ``message`` is the line shown to a person."""

    rule: str
    message: str
    value: float | None = None
    threshold: float | None = None
    day: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"rule": self.rule, "message": self.message, "value": self.value,
                "threshold": self.threshold, "day": self.day}


AlertRule = Callable[[Summary, Thresholds], "Iterable[Alert] | None"]


def builtin_alerts(summary: Summary, thresholds: Thresholds, cost_scope: CostScope = "day") -> list[Alert]:
    """The alerts of the built-in rules (see the module docstring)."""
    if summary.empty:
        return []
    alerts = []
    low = thresholds.success_rate_min
    if low is not None and summary.success_rate is not None and summary.success_rate < low:
        shown, limit = format_crossing(format_percent, summary.success_rate, low, 1)
        alerts.append(Alert("success_rate", f"Low success rate: {shown} (threshold {limit})", summary.success_rate, low))
    high = thresholds.p95_latency_ms_max
    if high is not None and summary.p95_latency_ms is not None and summary.p95_latency_ms > high:
        shown, limit = format_crossing(format_ms, summary.p95_latency_ms, high, 0)
        alerts.append(Alert("p95_latency", f"High P95 latency: {shown} (threshold {limit})", summary.p95_latency_ms, high))
    budget = thresholds.daily_cost_usd_max
    if budget is not None:
        if cost_scope == "total":
            if summary.total_cost_usd > budget:
                shown, limit = format_crossing(format_usd, summary.total_cost_usd, budget, 2)
                alerts.append(Alert("cost", f"High cost: {shown} (threshold {limit})", summary.total_cost_usd, budget))
        elif cost_scope == "day":
            for day, cost in summary.daily_cost_usd.items():
                if cost > budget:
                    shown, limit = format_crossing(format_usd, cost, budget, 2)
                    alerts.append(Alert("daily_cost", f"High daily cost on {day}: {shown} (threshold {limit})",
                                        cost, budget, day))
        else:
            raise ValueError(f"cost_scope must be 'day' or 'total', not {cost_scope!r}")
    return alerts


def score_alerts(stats: Sequence[ScoreStat], thresholds: Thresholds) -> list[Alert]:
    """One alert per score whose mean over the run is below its minimum (``score_min``); a score
    the run did not record raises none."""
    means = {stat.name: stat.mean for stat in stats}
    alerts = []
    for name, low in thresholds.score_min or ():
        mean = means.get(name)
        if mean is not None and mean < low:
            shown, limit = format_crossing(format_score, mean, low, 2)
            alerts.append(Alert(f"score.{name}", f"Low score {name}: mean {shown} (threshold {limit})", mean, low))
    return alerts


def evaluate_alerts(summary: Summary, thresholds: Thresholds, extra_rules: Iterable[AlertRule] = (), *,
                    cost_scope: CostScope = "day") -> list[Alert]:
    """The built-in alerts of ``summary``, then those of each rule in ``extra_rules``, in order.

    ``cost_scope="day"`` checks the cost of each calendar day (``dev-system metrics``);
    ``"total"`` checks the window's total (a pytest run's budget). An empty window raises no alert,
    not even from extra rules.
    """
    if summary.empty:
        return []
    alerts = builtin_alerts(summary, thresholds, cost_scope)
    for rule in extra_rules:
        alerts.extend(rule(summary, thresholds) or ())
    return alerts


def plugin_rules(manager: pluggy.PluginManager | None = None) -> list[AlertRule]:
    """The ``dev_system_alerts`` hook as one rule (``manager`` defaults to the global one)."""
    if manager is None:
        from dev_system.hookspecs import get_plugin_manager

        manager = get_plugin_manager()
    if not manager.hook.dev_system_alerts.get_hookimpls():
        return []
    hook = manager.hook.dev_system_alerts

    def rule(summary: Summary, thresholds: Thresholds) -> list[Alert]:
        return [alert for result in hook(summary=summary, thresholds=thresholds) if result for alert in result]

    return [rule]
