"""The HTML report's data: a :class:`~dev_system.analysis.dashboard.Dashboard` written as the
JSON-ready dict the page embeds (see docs/report.md).

Figures are written as the text report writes them (:mod:`dev_system.formatting`); names and
messages are clipped to :attr:`Limits.text_chars`; numbers that JSON cannot hold (NaN,
infinities) become ``null``. The dict is data only: :func:`dev_system.render.html.page.render_html`
escapes it into the page.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dev_system.analysis.alerts import Alert, Thresholds
from dev_system.analysis.dashboard import Dashboard, Limits, RunSection, Series, Trace
from dev_system.analysis.metrics import BreakdownRow, Summary
from dev_system.formatting import format_int, format_ms, format_percent, format_usd, plural
from dev_system.render.text import undrawn_note

#: The ``format`` field of the embedded data.
HTML_FORMAT = "dev-system-html/1"

#: Colour-blind safe (Okabe-Ito), in the order series get them; "other" is grey.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#8C6D1F", "#000000")
OTHER_COLOUR = "#999999"


# --- small helpers -----------------------------------------------------------------------------

def _clip(text: Any, limit: int) -> str | None:
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(value: float | None) -> float | None:
    """A finite number for JSON (``None`` for NaN, infinities and ``None``)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _opt(value: float | None, fmt: Any) -> str:
    return "n/a" if value is None else fmt(value)


def local_text(timestamp: float | None) -> str | None:
    """``2026-11-28 14:03:07`` in local time (``None`` for ``None``)."""
    return None if timestamp is None else datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _signed(value: float, fmt: Any) -> str:
    return ("+" if value > 0 else "-" if value < 0 else "±") + fmt(abs(value))


def _points(value: float) -> str:
    return f"{value:.1f} points"


def change_text(current: float | None, baseline: float | None, fmt: Any, *, relative: bool = True) -> str:
    """``+$0.12 (+15.0%)``: the change from ``baseline`` to ``current``, for people (without the
    relative part when ``relative`` is false, as for a rate already in percent)."""
    if current is None or baseline is None:
        return "n/a"
    delta = current - baseline
    if delta == 0:
        return "no change"
    text = _signed(delta, fmt)
    if not relative:
        return text
    if baseline:
        text += f" ({_signed(100.0 * delta / abs(baseline), format_percent)})"
    elif delta:
        text += " (new)"
    return text


# --- parts of the page -------------------------------------------------------------------------

def _series(series: Series | None, limits: Limits) -> dict[str, Any]:
    if series is None:
        return {"unit": "day", "labels": [], "agents": [], "calls": [], "cost": [], "unknown_cost": [],
                "p50": [], "p95": [], "success_rate": [], "events": []}
    agents = [{"name": _clip(name, limits.text_chars), "colour": PALETTE[i % len(PALETTE)]}
              for i, name in enumerate(series.agents)]
    others = series.other_agents
    if others:
        agents.append({"name": f"{format_int(others)} other agent{'s' if others != 1 else ''}",
                       "colour": OTHER_COLOUR, "other": True})
    return {
        "unit": series.unit,
        "labels": list(series.labels),
        "agents": agents,
        "calls": series.calls,
        "cost": [[round(v, 10) for v in row] for row in series.cost],
        "unknown_cost": series.unknown_cost,
        "events": series.events,
        "p50": [_num(v) for v in series.p50],
        "p95": [_num(v) for v in series.p95],
        "success_rate": [_num(v) for v in series.success_rate],
    }


BREAKDOWN_COLUMNS = ("calls", "success", "p50", "p95", "p99", "tokens in", "tokens out", "cost", "unknown cost")


def breakdown_rows(rows: Sequence[BreakdownRow], limits: Limits) -> dict[str, Any]:
    """A breakdown as table rows of strings (formatted as the text report formats them)."""
    body = [
        ["(none)" if row.key is None else _clip(row.key, limits.text_chars), format_int(row.calls),
         format_percent(row.success_rate), format_ms(row.p50_latency_ms), format_ms(row.p95_latency_ms),
         format_ms(row.p99_latency_ms), format_int(row.input_tokens), format_int(row.output_tokens),
         format_usd(row.cost_usd), format_int(row.unknown_cost_events)]
        for row in rows[: limits.table_rows]
    ]
    return {"columns": list(BREAKDOWN_COLUMNS), "rows": body, "more": max(len(rows) - limits.table_rows, 0)}


def _trace(trace: Trace, clip: int) -> dict[str, Any]:
    t0 = trace.start
    drawn = [
        [depth, _clip(e.agent_name, clip), _clip(e.function_name, clip), _clip(e.event_type, clip),
         _clip(e.model, clip), _num(round((e.timestamp - t0) * 1000.0, 3)), _num(e.latency_ms),
         e.input_tokens, e.output_tokens, _num(e.cost_usd), bool(e.success), _clip(error, clip)]
        for depth, e, error in trace.tree
    ]
    return {
        "id": _clip(trace.trace_id, clip), "run_id": _clip(trace.run_id, clip), "reason": trace.reason,
        "calls": trace.calls, "shown": len(trace.tree), "failed": trace.failed,
        "start": local_text(t0), "duration_ms": _num((trace.end - t0) * 1000.0),
        "duration": format_ms((trace.end - t0) * 1000.0), "cost": format_usd(trace.cost_usd),
        "events": drawn,
    }


def _test_cost(test: Any) -> str:
    """A test's cost: ``unknown`` when no call of it had a known price (never a made-up $0), and
    the calls of unknown cost after a cost only partly known."""
    if test.unknown_cost and test.unknown_cost >= test.calls:
        return "unknown"
    text = format_usd(test.cost or 0.0)
    return f"{text} + {plural(test.unknown_cost, 'call')} of unknown cost" if test.unknown_cost else text


def _run(run: RunSection, limits: Limits) -> dict[str, Any]:
    clip = limits.text_chars
    record = run.record
    table = [{
        "nodeid": _clip(nodeid, clip), "outcome": t.outcome or "n/a",
        "duration": _opt(t.duration_s, lambda s: f"{s:,.2f}s"), "calls": format_int(t.calls),
        "tokens": format_int(t.tokens), "cost": _test_cost(t), "trace": trace,
    } for nodeid, t, trace in run.table]
    section: dict[str, Any] = {
        "id": _clip(run.run_id, clip),
        "info": None if record is None else {
            "status": _clip(record.get("status"), clip), "started": local_text(record.get("started_at")),
            "duration": _opt(run.duration_s, lambda s: f"{s:,.1f}s"),
            "branch": _clip(record.get("git_branch"), clip), "commit": (str(record.get("git_commit") or "")[:12] or None),
            "host": _clip(record.get("host"), clip), "command": _clip(record.get("command"), clip),
            "passed": record.get("passed"), "failed": record.get("failed"), "skipped": record.get("skipped"),
            "errors": record.get("errors"),
        },
        "expensive": {"labels": [_clip(k, clip) for _, k in run.expensive], "values": [_num(v) for v, _ in run.expensive]},
        "slowest": {"labels": [_clip(k, clip) for _, k in run.slowest], "values": [_num(v) for v, _ in run.slowest],
                    "unit": "s in calls" if run.slowest_in_calls else "s"},
        "tests": {"rows": table, "more": max(run.tests - limits.table_rows, 0), "total": run.tests},
        "baseline": None,
    }
    base = run.baseline
    if base is not None:
        now_row, base_row = run.figures, base.figures
        formats = {"calls": format_int, "success_rate": format_percent, "p50": format_ms, "p95": format_ms,
                   "cost": format_usd, "tokens": format_int}
        labels = {"calls": "Calls", "success_rate": "Success rate", "p50": "P50 latency", "p95": "P95 latency",
                  "cost": "Total cost", "tokens": "Tokens"}
        totals = [[labels[k], _opt(base_row[k], f), _opt(now_row[k], f),
                   change_text(now_row[k], base_row[k], _points, relative=False) if k == "success_rate"
                   else change_text(now_row[k], base_row[k], f)]
                  for k, f in formats.items()]
        section["baseline"] = {
            "id": _clip(base.run_id, clip),
            "totals": {"columns": ["figure", "baseline", "this run", "change"], "rows": totals},
            "shared_tests": base.shared_tests,
            "cost": {"labels": [_clip(k, clip) for k in base.cost_tests],
                     "baseline": [_num(v) for v in base.cost_baseline],
                     "current": [_num(v) for v in base.cost_current]},
            "duration": {"labels": [_clip(k, clip) for k in base.time_tests],
                         "baseline": [_num(v) for v in base.time_baseline],
                         "current": [_num(v) for v in base.time_current]},
            "latency": {"labels": ["P50", "P95"], "baseline": [_num(base_row["p50"]), _num(base_row["p95"])],
                        "current": [_num(now_row["p50"]), _num(now_row["p95"])]},
        }
    return section


def _cards(summary: Summary, thresholds: Thresholds, alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    fired = {alert.rule for alert in alerts}
    cost_note = None
    if summary.unknown_cost_events:
        cost_note = f"+ {plural(summary.unknown_cost_events, 'call')} of unknown cost"
    if summary.replayed_events:
        replayed = f"spent {format_usd(summary.spent_cost_usd)}; {format_usd(summary.replayed_cost_usd)} replayed (not spent)"
        cost_note = replayed if cost_note is None else f"{replayed}; {cost_note}"
    return [
        {"id": "success_rate", "label": "Success rate", "value": _opt(summary.success_rate, format_percent),
         "note": None if thresholds.success_rate_min is None else f"threshold {format_percent(thresholds.success_rate_min)}",
         "alert": "success_rate" in fired},
        {"id": "p95_latency", "label": "P95 latency", "value": _opt(summary.p95_latency_ms, format_ms),
         "note": f"p50 {_opt(summary.p50_latency_ms, format_ms)}", "alert": "p95_latency" in fired},
        {"id": "total_cost", "label": "Total cost", "value": format_usd(summary.total_cost_usd),
         "note": cost_note, "alert": bool(fired & {"cost", "daily_cost"})},
        {"id": "calls", "label": "Calls", "value": format_int(summary.events),
         "note": f"{format_int(summary.input_tokens + summary.output_tokens)} tokens", "alert": False},
        {"id": "failed_calls", "label": "Failed calls", "value": format_int(summary.failures),
         "note": None if not summary.failures_by_error_type else
         f"{format_int(len(summary.failures_by_error_type))} error type"
         f"{'s' if len(summary.failures_by_error_type) != 1 else ''}", "alert": False},
    ]


# --- the data ----------------------------------------------------------------------------------

def page_data(dashboard: Dashboard, *, title: str | None = None, now: float | None = None,
              source: str | None = None) -> dict[str, Any]:
    """Everything the page shows, as a JSON-ready dict (see docs/report.md). ``source`` names
    where the events came from (shown in the footer); ``now`` is when the page was made."""
    now = time.time() if now is None else now
    limits, summary, window, thresholds = dashboard.limits, dashboard.summary, dashboard.window, dashboard.thresholds
    run_id = None if dashboard.run is None else dashboard.run.run_id
    clip = limits.text_chars
    data: dict[str, Any] = {
        "format": HTML_FORMAT,
        "title": title or (f"Telemetry of run {run_id}" if run_id else "Telemetry report"),
        "generated_at": local_text(now),
        "source": _clip(source, clip),
        "period": {"spec": window.spec, "label": window.label, "start": local_text(window.start),
                   "end": local_text(window.end)},
        "filters": {k: _clip(v, clip) for k, v in dashboard.filters.as_dict().items() if v is not None},
        "events": summary.events,
        "first": local_text(summary.first_timestamp),
        "last": local_text(summary.last_timestamp),
        "cards": _cards(summary, thresholds, dashboard.alerts),
        "alerts": [{"rule": a.rule, "message": _clip(a.message, 1000)} for a in dashboard.alerts],
        "notes": [],
        "thresholds": {"success_rate_min": thresholds.success_rate_min,
                       "p95_latency_ms_max": thresholds.p95_latency_ms_max,
                       "daily_cost_usd_max": thresholds.daily_cost_usd_max, "cost_scope": dashboard.cost_scope},
        "series": _series(dashboard.series, limits),
        "errors": {"labels": [], "counts": []},
        "tables": {},
        "failed": {"rows": [], "total": summary.failures},
        "traces": [],
        "run": None,
        "palette": list(PALETTE),
    }
    if summary.unknown_cost_events:
        unknown = summary.unknown_cost_events
        data["notes"].append(f"{plural(unknown, 'call')} of unknown cost {'is' if unknown == 1 else 'are'} not in the "
                             "cost figures.")
    if summary.replayed_events:
        replayed = summary.replayed_events
        data["notes"].append(f"{plural(replayed, 'call')} {'was' if replayed == 1 else 'were'} answered from a "
                             f"recording (a cassette): their {format_usd(summary.replayed_cost_usd)} is notional, "
                             f"in the total cost but not spent; spent: {format_usd(summary.spent_cost_usd)}.")
    if summary.undrawn_events:
        data["notes"].append(f"Not drawn: {undrawn_note(summary)}.")
    if summary.dropped_events:
        dropped = summary.dropped_events
        data["notes"].append(f"{plural(dropped, 'event')} {'was' if dropped == 1 else 'were'} dropped (never stored).")
    errors = list(dashboard.errors)
    if dashboard.other_errors is not None:
        types, count = dashboard.other_errors
        errors.append((f"{types} other types", count))
    data["errors"] = {"labels": [_clip(k, clip) for k, _ in errors], "counts": [c for _, c in errors]}
    if dashboard.tables:
        data["tables"] = {by: breakdown_rows(rows, limits) for by, rows in dashboard.tables.items()}
        data["failed"] = {"rows": [{
            "time": local_text(f.event.timestamp), "agent": _clip(f.event.agent_name, clip),
            "function": _clip(f.event.function_name, clip), "model": _clip(f.event.model, clip),
            "error_type": _clip(f.event.error_type or "unknown", clip), "message": _clip(f.message, clip),
            "latency": format_ms(f.event.latency_ms), "trace_id": _clip(f.event.trace_id, clip), "trace": f.trace,
        } for f in dashboard.failed], "total": summary.failures}
    if dashboard.run is not None:
        data["run"] = _run(dashboard.run, limits)
    data["traces"] = [_trace(trace, clip) for trace in dashboard.traces]
    return data
