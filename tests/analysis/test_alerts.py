"""Alerts fire exactly when a threshold is crossed, say the value and the threshold, and plugins add rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dev_system.analysis.alerts import Alert, Thresholds, evaluate_alerts, plugin_rules
from dev_system.analysis.metrics import Summary
from dev_system.analysis.periods import Window
from dev_system.formatting import format_usd
from dev_system.hookspecs import get_plugin_manager, hookimpl, new_plugin_manager
from dev_system.store.queries import Filters


def summary(**figures) -> Summary:
    base = dict(events=10, successes=10, success_rate=100.0, p50_latency_ms=10.0, p95_latency_ms=10.0,
                p99_latency_ms=10.0, total_cost_usd=0.0, daily_cost_usd={})
    base.update(figures)
    return Summary(Window(), Filters(), **base)


def rules(alerts):
    return [a.rule for a in alerts]


def test_reference_example():
    alerts = evaluate_alerts(summary(success_rate=88.0), Thresholds())
    assert [a.message for a in alerts] == ["Low success rate: 88.0% (threshold 90.0%)"]
    assert (alerts[0].value, alerts[0].threshold) == (88.0, 90.0)


@given(rate=st.floats(0, 100), minimum=st.floats(0, 100))
def test_success_rate_alert_iff_below_minimum(rate, minimum):
    alerts = evaluate_alerts(summary(success_rate=rate), Thresholds(success_rate_min=minimum))
    assert ("success_rate" in rules(alerts)) == (rate < minimum)


@given(p95=st.floats(0, 1e6), maximum=st.floats(0, 1e6))
def test_latency_alert_iff_above_maximum(p95, maximum):
    alerts = evaluate_alerts(summary(p95_latency_ms=p95), Thresholds(p95_latency_ms_max=maximum))
    assert ("p95_latency" in rules(alerts)) == (p95 > maximum)


@given(days=st.dictionaries(st.dates().map(lambda d: d.isoformat()), st.floats(0, 100), max_size=10),
       budget=st.floats(0, 100))
def test_one_cost_alert_per_day_over_budget(days, budget):
    alerts = evaluate_alerts(summary(daily_cost_usd=days, total_cost_usd=sum(days.values())),
                             Thresholds(daily_cost_usd_max=budget))
    over = [a for a in alerts if a.rule == "daily_cost"]
    assert [a.day for a in over] == [day for day, cost in days.items() if cost > budget]
    for alert in over:
        assert alert.day in alert.message and alert.value == days[alert.day]


@given(total=st.floats(0, 100), budget=st.floats(0, 100))
def test_total_cost_scope_for_a_run(total, budget):
    s = summary(total_cost_usd=total, daily_cost_usd={"2026-01-01": total / 2, "2026-01-02": total / 2})
    alerts = evaluate_alerts(s, Thresholds(daily_cost_usd_max=budget), cost_scope="total")
    assert rules(alerts) == (["cost"] if total > budget else [])


def test_messages_never_show_a_crossed_value_equal_to_its_threshold():
    alerts = evaluate_alerts(
        summary(success_rate=89.96, p95_latency_ms=3000.2, daily_cost_usd={"2026-11-27": 10.001}), Thresholds())
    assert [a.message for a in alerts] == [
        "Low success rate: 89.96% (threshold 90.00%)",
        "High P95 latency: 3,000.2ms (threshold 3,000.0ms)",
        "High daily cost on 2026-11-27: $10.001 (threshold $10.000)",
    ]


def test_thresholds_are_shown_as_the_values_they_are():
    """A $0.015 budget used to print as "(threshold $0.01)": below the real value, so a reader saw
    $0.02 "crossing" $0.01. Thresholds keep the decimals they need, and the value gets as many."""
    alerts = evaluate_alerts(
        summary(success_rate=89.5, p95_latency_ms=2501.0, daily_cost_usd={"2026-11-27": 0.02}, total_cost_usd=0.02),
        Thresholds(success_rate_min=89.75, p95_latency_ms_max=2500.5, daily_cost_usd_max=0.015))
    assert [a.message for a in alerts] == [
        "Low success rate: 89.50% (threshold 89.75%)",
        "High P95 latency: 2,501.0ms (threshold 2,500.5ms)",
        "High daily cost on 2026-11-27: $0.020 (threshold $0.015)",
    ]
    [total] = evaluate_alerts(summary(total_cost_usd=0.0151), Thresholds(None, None, 0.015), cost_scope="total")
    assert total.message == "High cost: $0.0151 (threshold $0.0150)"


@given(value=st.floats(0, 1000), threshold=st.floats(0, 1000).map(lambda x: round(x, 4)))
def test_a_shown_threshold_reads_back_as_its_value(value, threshold):
    """Whatever the threshold (up to 4 decimals), the number shown for it is that threshold."""
    for alert in evaluate_alerts(summary(daily_cost_usd={"2026-11-27": value}), Thresholds(None, None, threshold)):
        shown = alert.message.rsplit("(threshold $", 1)[1].rstrip(")").replace(",", "")
        assert float(shown) == threshold


def test_exactly_at_the_threshold_is_not_an_alert():
    s = summary(success_rate=90.0, p95_latency_ms=3000.0, daily_cost_usd={"2026-11-27": 10.0}, total_cost_usd=10.0)
    assert evaluate_alerts(s, Thresholds()) == []
    assert evaluate_alerts(s, Thresholds(), cost_scope="total") == []


def test_empty_window_raises_nothing_even_from_extra_rules():
    empty = Summary(Window(), Filters())
    always = lambda s, t: [Alert("x", "always")]  # noqa: E731
    assert evaluate_alerts(empty, Thresholds(success_rate_min=100, p95_latency_ms_max=0, daily_cost_usd_max=0),
                           [always]) == []


def test_a_none_threshold_switches_its_rule_off():
    s = summary(success_rate=0.0, p95_latency_ms=1e9, daily_cost_usd={"2026-11-27": 1e9})
    assert evaluate_alerts(s, Thresholds(None, None, None)) == []
    with pytest.raises(ValueError):
        evaluate_alerts(s, Thresholds(), cost_scope="week")  # type: ignore[arg-type]


def test_extra_rules_and_plugins_add_alerts():
    class TooManyFailures:
        @hookimpl
        def dev_system_alerts(self, summary, thresholds):
            if summary.failures > 2:
                return [Alert("failures", f"Too many failures: {summary.failures} (threshold 2)", summary.failures, 2)]
            return None

    manager = new_plugin_manager(TooManyFailures())
    s = summary(successes=7, failures=3, success_rate=70.0)
    alerts = evaluate_alerts(s, Thresholds(), plugin_rules(manager))
    assert rules(alerts) == ["success_rate", "failures"]
    assert alerts[-1].message == "Too many failures: 3 (threshold 2)"
    assert rules(evaluate_alerts(summary(), Thresholds(), plugin_rules(manager))) == []
    assert plugin_rules(new_plugin_manager()) == []


def test_usd_format_keeps_small_amounts_visible():
    assert format_usd(3.47) == "$3.47"
    assert format_usd(1234.5) == "$1,234.50"
    assert format_usd(0.0) == "$0.00"
    assert format_usd(0.0012345) == "$0.0012"


def test_the_global_plugin_manager_feeds_plugin_rules():
    class Always:
        @hookimpl
        def dev_system_alerts(self, summary, thresholds):
            return [Alert("always", "Always: 1 (threshold 0)", 1, 0)]

    manager = get_plugin_manager()
    assert get_plugin_manager() is manager
    plugin = Always()
    manager.register(plugin)
    try:
        assert rules(evaluate_alerts(summary(), Thresholds(), plugin_rules())) == ["always"]
    finally:
        manager.unregister(plugin)
    assert "always" not in rules(evaluate_alerts(summary(), Thresholds(), plugin_rules()))
