"""Budgets: the ``telemetry_budget`` marker read and checked, and the failure it gives a test.

A test with the marker fails, once, after the phase (call or teardown) in which its events
exceed its budget, or in which its mean of a quality score is below its ``min_scores`` (a score
the test has not recorded by the end of its call fails it then). The objects that check are
registered only when a collected test has the marker (``plugin.pytest_collection_modifyitems``):
a run without budgets pays nothing for them.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from dev_system.structs import struct
from pytest_devtelemetry.figures import TestFigures
from pytest_devtelemetry.names import BUDGET_DONE_KEY, BUDGET_MARKER, CAPTURE_KEY, TESTS_PLUGIN, any_budget_marker
from pytest_devtelemetry.running_test import TestTelemetry, running_capture

_BUDGET_KEYS = ("max_cost_usd", "max_calls", "max_tokens", "max_latency_ms", "min_scores")


class BudgetError(ValueError):
    """A ``telemetry_budget`` marker with arguments that cannot be used."""


@struct
class Budget:
    """The limits of one test (``None``: no limit)."""

    max_cost_usd: float | None = None
    max_calls: int | None = None
    max_tokens: int | None = None
    max_latency_ms: float | None = None
    #: ``(name, minimum)`` pairs: the lowest mean the test may have of each quality score.
    min_scores: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_marker(cls, marker: Any) -> Budget:
        """Read ``@pytest.mark.telemetry_budget(...)``; raises :class:`BudgetError`."""
        if marker.args:
            raise BudgetError("telemetry_budget takes keyword arguments only: "
                              + ", ".join(f"{k}=..." for k in _BUDGET_KEYS))
        unknown = sorted(set(marker.kwargs) - set(_BUDGET_KEYS))
        if unknown:
            raise BudgetError(f"telemetry_budget: unknown argument {unknown[0]!r}; use {', '.join(_BUDGET_KEYS)}")
        values: dict[str, Any] = {}
        for key, value in marker.kwargs.items():
            if value is None:
                continue
            if key == "min_scores":
                values[key] = _min_scores(value)
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise BudgetError(f"telemetry_budget: {key} must be a number >= 0, not {value!r}")
            values[key] = value
        if not values:
            raise BudgetError(f"telemetry_budget: give at least one of {', '.join(_BUDGET_KEYS)}")
        return cls(**values)

    def exceeded(self, figures: TestFigures, score_means: dict[str, float] | None = None) -> list[str]:
        """One message per limit that ``figures`` exceed, and per score whose mean in
        ``score_means`` is below its minimum or missing."""
        from dev_system.formatting import format_crossing, format_int, format_ms, format_score, format_usd

        out = []
        for name, low in self.min_scores:
            mean = (score_means or {}).get(name)
            if mean is None:
                out.append(f"score {name} was not recorded (min_scores {format_score(low, _exact_digits(low))})")
            elif mean < low:
                shown, limit = format_crossing(format_score, mean, low, 2)
                out.append(f"score {name} {shown} < min_scores {limit}")
        if self.max_cost_usd is not None and figures.cost_usd > self.max_cost_usd:
            digits = _exact_digits(self.max_cost_usd)
            shown, limit = format_crossing(format_usd, figures.cost_usd, self.max_cost_usd, digits)
            over = format_usd(figures.cost_usd - self.max_cost_usd)
            out.append(f"cost {shown} > max_cost_usd {limit} (over by {over})")
        if self.max_calls is not None and figures.calls > self.max_calls:
            out.append(f"calls {format_int(figures.calls)} > max_calls {format_int(self.max_calls)}"
                       f" (over by {format_int(figures.calls - self.max_calls)})")
        tokens = figures.tokens
        if self.max_tokens is not None and tokens > self.max_tokens:
            out.append(f"tokens {format_int(tokens)} > max_tokens {format_int(self.max_tokens)}"
                       f" (over by {format_int(tokens - self.max_tokens)})")
        slowest = figures.max_latency_ms
        if self.max_latency_ms is not None and slowest is not None and slowest > self.max_latency_ms:
            shown, limit = format_crossing(format_ms, slowest, self.max_latency_ms, 0)
            over = slowest - self.max_latency_ms
            out.append(f"slowest call {shown} > max_latency_ms {limit}"
                       f" (over by {format_ms(over, 0 if over >= 10 else 3)})")
        return out


def _min_scores(value: Any) -> tuple[tuple[str, float], ...]:
    """``min_scores={"correctness": 0.7}`` checked; raises :class:`BudgetError`."""
    from dev_system.config import is_score_name

    if not isinstance(value, dict) or not value:
        raise BudgetError(f"telemetry_budget: min_scores must be a dict of score names and minimums, "
                          f"such as {{'correctness': 0.7}}, not {value!r}")
    out = []
    for name, low in value.items():
        if not is_score_name(name):
            raise BudgetError(f"telemetry_budget: min_scores: {name!r} is not a score name (an identifier)")
        if isinstance(low, bool) or not isinstance(low, (int, float)) or not math.isfinite(low):
            raise BudgetError(f"telemetry_budget: min_scores[{name!r}] must be a finite number, not {low!r}")
        out.append((name, float(low)))
    return tuple(out)


def _exact_digits(value: float) -> int:
    """The fewest decimals (at least 2) that write ``value`` exactly, up to 8."""
    for digits in range(2, 9):
        if abs(round(value, digits) - value) < 1e-12:
            return digits
    return 8


def budget_message(problems: list[str], figures: TestFigures) -> str:
    """The failure text of a test over its budget."""
    text = "telemetry budget exceeded: " + "; ".join(problems)
    if figures.unknown_cost:
        text += f" ({figures.unknown_cost} call(s) of unknown cost are not in the cost)"
    return text


def check_budget(item: pytest.Item) -> None:
    """Fail the running phase of ``item`` when its events exceed its ``telemetry_budget`` (once per test)."""
    if not any_budget_marker([item]):
        return
    marker = item.get_closest_marker(BUDGET_MARKER)
    if marker is None or item.stash.get(BUDGET_DONE_KEY, False):
        return
    captured = running_capture(item)
    if captured is None:
        return
    try:
        budget = Budget.from_marker(marker)
        problem = None
    except BudgetError as exc:
        budget, problem = None, str(exc)
    if budget is None:
        item.stash[BUDGET_DONE_KEY] = True
        pytest.fail(problem or "telemetry_budget: unusable", pytrace=False)
    figures = captured.totals()
    tests = item.config.pluginmanager.get_plugin(TESTS_PLUGIN)
    if tests is not None:  # with --telemetry: the test's child processes count too
        figures = tests.with_children(item, figures)
    problems = budget.exceeded(figures, captured.score_means if budget.min_scores else None)
    if problems:
        item.stash[BUDGET_DONE_KEY] = True
        pytest.fail(budget_message(problems, figures), pytrace=False)


class BudgetChecks:
    """Fails a test whose events exceed its ``telemetry_budget``, after its call and its teardown
    (registered with ``--telemetry``: the run captures the tests' events)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        result = yield
        check_budget(item)
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        result = yield
        check_budget(item)
        return result


class BudgetsOnly(BudgetChecks):
    """Registered without ``--telemetry`` when some test has a budget: captures the events of the
    marked tests (in memory) and checks their budgets; nothing else."""

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        if not any_budget_marker([item]):
            return (yield)
        captured = TestTelemetry(item.nodeid).start()
        item.stash[CAPTURE_KEY] = captured
        try:
            return (yield)
        finally:
            del item.stash[CAPTURE_KEY]
            captured.stop()
