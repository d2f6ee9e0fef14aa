"""The terminal summary of a pytest run with telemetry: text lines with their markup.

``report`` is what the plugin computed for the run (``pytest_devtelemetry.runreport.RunReport``):
``run_id``, ``db_path``, ``summary`` (:class:`dev_system.analysis.metrics.Summary`), ``agents``,
``event_types`` and ``models`` (breakdown rows), ``tests`` with ``tests_with_events()``,
``most_expensive(n)`` and ``slowest(n)``, ``top``, ``comparison`` and ``compare_note``,
``dropped``, ``crashed_workers``, ``problems`` and ``problem_messages`` (kind -> first message),
``errors``, ``alerts``, ``gate`` and ``failures``, ``scores`` (the run's score figures).
The figures are written as ``dev-system metrics`` writes them (:mod:`dev_system.render.text`), so
both front ends print the same numbers.
"""

from __future__ import annotations

from typing import Any

from dev_system.formatting import format_int, format_ms, format_usd, plural, printable
from dev_system.render import text as metrics_report
from dev_system.render.compare import comparison_lines
from dev_system.render.score_summary import score_block, score_parts

Line = tuple[str, dict[str, bool]]


def _plain(text: str) -> Line:
    return text, {}


def summary_lines(report: Any, verbosity: int, *, ascii_only: bool = False) -> list[Line]:
    """The lines of a run's terminal summary, each with its markup (``red``, ``bold``,
    ``yellow``: keywords of pytest's terminal writer); ``report`` as the module's docstring says.

    ``verbosity`` < 0 (``-q``): one line, and every line that says where something went or why
    a comparison did not happen (the note, errors, crashed workers, failures); 0: the summary, the
    per-agent table, the top tests, failed calls, the comparison and the alerts; > 0 (``-v``):
    more tables. ``ascii_only``: no emoji."""
    out: list[Line] = []
    summary = report.summary
    red = {"red": True, "bold": True}
    yellow = {"yellow": True}
    if verbosity < 0:
        if summary is not None:
            out.append(_plain(_one_line(report)))
    elif summary is not None:
        out.append(_plain(f"run {report.run_id} -> {report.db_path}"))
        if summary.empty:
            out.append(_plain("No events recorded in this run."))
        else:
            out.append(_plain(f"Events: {format_int(summary.events)} from {len(report.tests_with_events())} of "
                              f"{plural(len(report.tests), 'test')}"))
            for label, value in metrics_report.summary_lines(summary):
                out.append(_plain(f"{label}: {value}"))
                if label == "P95 Latency" and verbosity > 0:
                    out.append(_plain(f"P50 / P99 Latency: {_ms(summary.p50_latency_ms)} / {_ms(summary.p99_latency_ms)}"))
                if label == "Total Cost":
                    out.append(_plain(f"Tokens: {format_int(summary.input_tokens)} in / "
                                      f"{format_int(summary.output_tokens)} out"))
                if label == "Failed Calls":
                    out.extend(_plain(f"  {name}: {format_int(count)}")
                               for name, count in summary.failures_by_error_type.items())
            tables = [("agent", report.agents)]
            if verbosity > 0:
                tables += [("event_type", report.event_types), ("model", report.models)]
            for by, rows in tables:
                if rows:
                    out.append(_plain(""))
                    out.extend(_plain(line) for line in metrics_report.breakdown_table(by, rows).splitlines())
            top = report.top if verbosity <= 0 else max(report.top, 2 * report.top)
            if top:
                expensive = report.most_expensive(top)
                if expensive:
                    out.append(_plain(""))
                    out.append(_plain(f"Most expensive tests (top {len(expensive)}):"))
                    out.extend(_plain(f"  {_test_cost(t):>10}  {format_int(t.tokens):>9} tokens"
                                      f"  {plural(t.events, 'call'):>10}  {t.nodeid}{_unknown_part(t)}")
                               for t in expensive)
                slow = report.slowest(top)
                if slow:
                    out.append(_plain(f"Slowest tests with telemetry (top {len(slow)}):"))
                    out.extend(_plain(f"  {t.duration_s or 0.0:>9.2f}s  slowest call {_ms(t.max_latency_ms):>9}"
                                      f"  {t.nodeid}") for t in slow)
        scores = getattr(report, "scores", None) or []
        if scores:
            out.append(_plain(""))
            out.extend(_plain(line) for line in score_block(scores))
    if verbosity >= 0 and report.comparison is not None:
        out.append(_plain(""))
        out.extend(_plain(line) for line in comparison_lines(
            report.comparison, max_tests=None if verbosity > 0 else report.top or 0))
    if report.compare_note:  # why no comparison was made: shown at every verbosity
        out.append(_plain(report.compare_note))
    if report.dropped and verbosity >= 0:
        out.append((f"Dropped events: {format_int(report.dropped)} (never stored)", yellow))
    for worker, error in report.crashed_workers.items():
        out.append((f"worker {worker} crashed ({error}); the events it had not stored are lost", red))
    if report.problems and verbosity >= 0:
        out.append((f"Telemetry problems: {format_int(report.problems)} (the tests went on; "
                    "logged on the dev_system logger)", yellow))
        out.extend((f"  - {message}", yellow) for message in report.problem_messages.values())
    for error in report.errors:
        out.append((f"telemetry error: {error}", red))
    if report.alerts and (verbosity >= 0 or not report.gate):
        icon = "" if ascii_only else metrics_report.EMOJI["alert"] + " "
        out.append(_plain(""))
        out.append((f"{icon}Alerts:", yellow))
        out.extend((f"  - {alert.message}", yellow) for alert in report.alerts)
    for failure in report.failures:
        out.append((f"FAIL {failure}", red))
    return out


def _test_cost(test: Any) -> str:
    """A test's cost for the "most expensive" list: ``unknown`` when no call of it had a known
    price (never a made-up $0)."""
    if test.unknown_cost and test.unknown_cost >= test.events:
        return "unknown"
    return format_usd(test.cost_usd)


def _unknown_part(test: Any) -> str:
    """`` (+ 1 call of unknown cost)`` after a test whose cost is only partly known."""
    if test.unknown_cost and test.unknown_cost < test.events:
        return f" (+ {plural(test.unknown_cost, 'call')} of unknown cost)"
    return ""


def _ms(value: float | None) -> str:
    return "n/a" if value is None else format_ms(value)


def _one_line(report: Any) -> str:
    summary = report.summary
    assert summary is not None
    scores = score_parts(getattr(report, "scores", None) or [])
    if summary.empty:
        return f"telemetry: {', '.join(['no events', *scores])} (run {report.run_id} -> {report.db_path})"
    parts = [plural(summary.events, "event")]
    if summary.success_rate is not None:
        parts.append(f"{summary.success_rate:.1f}% success")
    parts.append(f"p95 {_ms(summary.p95_latency_ms)}")
    parts.append(format_usd(summary.total_cost_usd))
    if summary.unknown_cost_events:
        unpriced = ", ".join(printable(model) for model in summary.unpriced_models)
        parts.append(f"{format_int(summary.unknown_cost_events)} of unknown cost"
                     + (f" (no price for {unpriced})" if unpriced else ""))
    if report.dropped:
        parts.append(f"{format_int(report.dropped)} dropped")
    parts += scores
    if report.alerts:
        parts.append(plural(len(report.alerts), "alert"))
    return f"telemetry: {', '.join(parts)} (run {report.run_id} -> {report.db_path})"
