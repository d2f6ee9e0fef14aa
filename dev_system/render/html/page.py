"""The HTML report: one self-contained page with headline cards, alerts, charts and tables.

``dev-system report --html PATH`` and ``pytest --telemetry --telemetry-html=PATH`` write it. The
page needs no network to open (it is kept as a CI artifact and opened weeks later): the charting
library (Chart.js, MIT, vendored in ``assets/``), the styles, the script and the data are all
inside the one file, and its Content-Security-Policy forbids every fetch.

The figures are those of the text report: the cards and alerts come from
:func:`~dev_system.analysis.metrics.compute_summary` and :func:`~dev_system.analysis.alerts.evaluate_alerts`,
written by :mod:`dev_system.render.formatting`; the tables from
:func:`~dev_system.analysis.metrics.compute_breakdown`. The page stays small with any number of events:
everything is aggregated here (per day, or per hour for a window shorter than two days), and only
bounded lists are embedded (:class:`Limits`): the most frequent agents (the rest summed as
"other"), the newest failed events, a few traces.

Safety: agent names, messages and every other stored string may be hostile. The data travels as
JSON inside ``<script type="application/json">`` with ``<``, ``>`` and ``&`` escaped, and the page
script writes it with ``textContent`` only; both scripts are allowed by their hashes in the
Content-Security-Policy, so nothing else on the page can run.

Two steps, so that a front end can add to the data: :func:`collect_report` (SQLite in, a JSON-ready
dict out) and :func:`render_html` (dict in, page out); :func:`write_html_report` does both and
writes the file atomically.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import sqlite3
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Sequence

from dev_system.analysis.alerts import Alert, AlertRule, CostScope, Thresholds, evaluate_alerts
from dev_system.render.formatting import format_int, format_ms, format_percent, format_usd
from dev_system.analysis.metrics import BreakdownRow, Summary, compute_breakdown, compute_summary, percentile, rate
from dev_system.analysis.periods import Window, day_bounds
from dev_system.store.queries import Filters, column_expr, select_events_sql, table_columns, where_clause
from dev_system.structs import struct
from dev_system.store.events import row_to_event

#: The ``format`` field of the embedded data.
HTML_FORMAT = "dev-system-html/1"

ASSETS = Path(__file__).with_name("assets")
CHART_JS = "chart.umd.min.js"
TEMPLATE = "report.html"
SCRIPT = "report.js"
STYLES = "report.css"

#: Colour-blind safe (Okabe-Ito), in the order series get them; "other" is grey.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#8C6D1F", "#000000")
OTHER_COLOUR = "#999999"


@struct
class Limits:
    """How much the page embeds at most, whatever the number of events."""

    agents: int = 8  #: agents drawn as their own series; the others are summed as one
    error_types: int = 12  #: error types drawn; the others are summed as one bar
    table_rows: int = 50  #: rows of each breakdown table
    failed_events: int = 100  #: newest failed events listed
    traces: int = 20  #: traces embedded for the failed calls listed, and as many for a run's tests
    slow_traces: int = 10  #: traces embedded for the slowest calls
    trace_events: int = 300  #: calls drawn per trace
    tests: int = 10  #: tests in the "most expensive" and "slowest" charts
    text_chars: int = 300  #: longest message or name kept
    hourly_below_s: float = 2 * 86400  #: windows whose events span less than this are drawn per hour


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


# --- time buckets ------------------------------------------------------------------------------

def buckets_for(first: float, last: float, hourly_below_s: float) -> tuple[str, list[tuple[str, float, float]]]:
    """``(unit, [(label, start, end)])``: local days from ``first`` to ``last``, or hours when they
    are less than ``hourly_below_s`` apart."""
    if last - first < hourly_below_s:
        start = datetime.fromtimestamp(first).replace(minute=0, second=0, microsecond=0).timestamp()
        out = []
        while start <= last:
            out.append((datetime.fromtimestamp(start).strftime("%Y-%m-%d %H:00"), start, start + 3600.0))
            start += 3600.0
        return "hour", out
    return "day", [(day.isoformat(), lo, hi) for day, lo, hi in day_bounds(first, last)]


def _bucket_series(conn: sqlite3.Connection, window: Window, filters: Filters, summary: Summary,
                   agent_rows: Sequence[BreakdownRow], limits: Limits) -> dict[str, Any]:
    """Calls and cost per bucket stacked by agent, p50/p95 latency and success rate per bucket."""
    if summary.empty or summary.first_timestamp is None or summary.last_timestamp is None:
        return {"unit": "day", "labels": [], "agents": [], "calls": [], "cost": [], "unknown_cost": [],
                "p50": [], "p95": [], "success_rate": [], "events": []}
    unit, buckets = buckets_for(summary.first_timestamp, summary.last_timestamp, limits.hourly_below_s)
    named = [row.key for row in agent_rows[: limits.agents]]
    others = len(agent_rows) - len(named)
    series_names: list[str | None] = list(named)
    index = {name: i for i, name in enumerate(named)}
    other_index = len(named) if others else None
    n = len(buckets)
    width = len(named) + (1 if others else 0)
    calls = [[0] * n for _ in range(width)]
    cost = [[0.0] * n for _ in range(width)]
    unknown = [0] * n
    events = [0] * n
    ok = [0] * n
    latencies: list[list[float]] = []
    present = table_columns(conn)
    for b, (_, start, end) in enumerate(buckets):  # one indexed range per bucket, as the daily costs
        lo = start if window.start is None else max(start, window.start)
        hi = end if window.end is None else min(end, window.end)
        where, params = where_clause(Window(lo, hi), filters, present)
        rows = conn.execute(
            "SELECT agent_name, COUNT(*), TOTAL(cost_usd), COUNT(cost_usd), TOTAL(success)"
            f" FROM telemetry_events{where} GROUP BY agent_name", params).fetchall()
        for agent, count, cost_sum, cost_known, good in rows:
            s = index.get(agent, other_index)
            if s is None:  # an agent of no breakdown row: cannot happen, the same filters select both
                continue
            calls[s][b] += count
            cost[s][b] += cost_sum
            unknown[b] += count - cost_known
            events[b] += count
            ok[b] += int(good)
        latencies.append(sorted(row[0] for row in conn.execute(f"SELECT latency_ms FROM telemetry_events{where}", params)
                                if isinstance(row[0], (int, float))))  # a hand-edited row may hold text
    p50, p95 = [], []
    for values in latencies:
        p50.append(_num(percentile(values, 50)))
        p95.append(_num(percentile(values, 95)))
    agents = [{"name": _clip(name, limits.text_chars), "colour": PALETTE[i % len(PALETTE)]}
              for i, name in enumerate(series_names)]
    if others:
        agents.append({"name": f"{format_int(others)} other agent{'s' if others != 1 else ''}",
                       "colour": OTHER_COLOUR, "other": True})
    return {
        "unit": unit,
        "labels": [label for label, _, _ in buckets],
        "agents": agents,
        "calls": calls,
        "cost": [[round(v, 10) for v in row] for row in cost],
        "unknown_cost": unknown,
        "events": events,
        "p50": p50,
        "p95": p95,
        "success_rate": [_num(rate(good, total)) for good, total in zip(ok, events)],
    }


# --- tables ------------------------------------------------------------------------------------

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


def _error_message(metadata: dict[str, Any]) -> str | None:
    message = metadata.get("error_message")
    return None if message is None else " ".join(str(message).split())


# --- traces ------------------------------------------------------------------------------------

class _TraceSet:
    """The traces the page embeds, each once, keyed by ``(trace_id, run_id)``."""

    def __init__(self, conn: sqlite3.Connection, window: Window, filters: Filters, limits: Limits) -> None:
        self.conn, self.window, self.filters, self.limits = conn, window, filters, limits
        self.keys: dict[tuple[str, str | None], int] = {}
        self.traces: list[dict[str, Any]] = []
        self.count: dict[str, int] = {}

    def add(self, trace_id: str | None, run_id: str | None, reason: str) -> int | None:
        """The index of the trace in the page (``None`` when there is no id or no room left)."""
        if not trace_id:
            return None
        run = run_id if run_id is not None else self.filters.run_id
        key = (trace_id, run)
        if key in self.keys:
            return self.keys[key]
        if self.count.get(reason, 0) >= (self.limits.slow_traces if reason == "slowest" else self.limits.traces):
            return None
        try:
            trace = self._load(trace_id, run, reason)
        except (TypeError, ValueError):  # hand-edited rows with text in number columns: not drawn
            trace = None
        if trace is None:
            return None
        self.keys[key] = len(self.traces)
        self.traces.append(trace)
        self.count[reason] = self.count.get(reason, 0) + 1
        return self.keys[key]

    def _load(self, trace_id: str, run_id: str | None, reason: str) -> dict[str, Any] | None:
        from dev_system.render.text import trace_tree

        present = table_columns(self.conn)
        where, params = where_clause(self.window, Filters(trace_id=trace_id, run_id=run_id), present)
        total = self.conn.execute(f"SELECT COUNT(*) FROM telemetry_events{where}", params).fetchone()[0]
        if not total:
            return None
        rows = self.conn.execute(select_events_sql(self.conn) + where + " ORDER BY timestamp, id LIMIT ?",
                                 [*params, self.limits.trace_events]).fetchall()
        events = [row_to_event(row) for row in rows]
        t0 = min(e.timestamp for e in events)
        end = max(e.timestamp + e.latency_ms / 1000.0 for e in events)
        clip = self.limits.text_chars
        drawn = []
        for depth, e in trace_tree(events):
            error = None
            if not e.success:
                message = _error_message(e.metadata_dict)
                error = _clip((e.error_type or "error") + (f": {message}" if message else ""), clip)
            drawn.append([
                depth, _clip(e.agent_name, clip), _clip(e.function_name, clip), _clip(e.event_type, clip),
                _clip(e.model, clip), _num(round((e.timestamp - t0) * 1000.0, 3)), _num(e.latency_ms),
                e.input_tokens, e.output_tokens, _num(e.cost_usd), bool(e.success), error,
            ])
        failed = sum(1 for e in events if not e.success)
        cost = sum(e.cost_usd for e in events if e.cost_usd is not None)
        return {
            "id": _clip(trace_id, clip), "run_id": _clip(run_id, clip), "reason": reason,
            "calls": total, "shown": len(events), "failed": failed,
            "start": local_text(t0), "duration_ms": _num((end - t0) * 1000.0),
            "duration": format_ms((end - t0) * 1000.0), "cost": format_usd(cost),
            "events": drawn,
        }


def _failed_events(conn: sqlite3.Connection, window: Window, filters: Filters, traces: _TraceSet,
                   limits: Limits, total: int) -> dict[str, Any]:
    from dev_system.store.queries import list_events

    rows = []
    for e in list_events(conn, window, filters, failed_only=True, limit=limits.failed_events):
        clip = limits.text_chars
        rows.append({
            "time": local_text(e.timestamp), "agent": _clip(e.agent_name, clip),
            "function": _clip(e.function_name, clip), "model": _clip(e.model, clip),
            "error_type": _clip(e.error_type or "unknown", clip),
            "message": _clip(_error_message(e.metadata_dict), clip),
            "latency": format_ms(e.latency_ms), "trace_id": _clip(e.trace_id, clip),
            "trace": traces.add(e.trace_id, e.run_id, "failed"),
        })
    return {"rows": rows, "total": total}


def _slowest_traces(conn: sqlite3.Connection, window: Window, filters: Filters, traces: _TraceSet,
                    limits: Limits) -> None:
    present = table_columns(conn)
    where, params = where_clause(window, filters, present)
    where += (" AND " if where else " WHERE ") + "trace_id IS NOT NULL"
    sql = (f"SELECT trace_id, {column_expr('run_id', present)} FROM telemetry_events{where}"
           " ORDER BY latency_ms DESC LIMIT ?")
    for trace_id, run_id in conn.execute(sql, [*params, limits.slow_traces * 3]).fetchall():
        traces.add(trace_id, run_id, "slowest")


# --- a pytest run ------------------------------------------------------------------------------

def _has_table(conn: sqlite3.Connection, table: str) -> bool:
    return bool(table_columns(conn, table))


def _run_record(conn: sqlite3.Connection, run_id: str) -> dict[str, Any] | None:
    """The ``runs`` row of a run (written by the pytest plugin), or ``None``."""
    if not _has_table(conn, "runs"):
        return None
    cursor = conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,))
    row = cursor.fetchone()
    return None if row is None else dict(zip((d[0] for d in cursor.description), row))


def _tests_of_run(conn: sqlite3.Connection, run_id: str) -> dict[str, dict[str, Any]]:
    """Per test of a run: outcome and duration (the ``test_results`` rows the plugin stores) and the
    figures of its events (their trace id is the test's node id)."""
    out: dict[str, dict[str, Any]] = {}
    if _has_table(conn, "test_results"):
        rows = conn.execute("SELECT nodeid, outcome, duration_s, events, input_tokens + output_tokens, cost_usd"
                            " FROM test_results WHERE run_id = ?", (run_id,)).fetchall()
        for nodeid, outcome, duration_s, calls, tokens, cost in rows:
            out[nodeid] = {"outcome": outcome, "duration_s": duration_s, "calls": calls or 0,
                           "cost": cost or 0.0, "tokens": tokens or 0, "latency_ms": None}
    if "run_id" in table_columns(conn):
        rows = conn.execute(
            "SELECT trace_id, COUNT(*), TOTAL(cost_usd), TOTAL(input_tokens) + TOTAL(output_tokens), TOTAL(latency_ms)"
            " FROM telemetry_events WHERE run_id = ? AND trace_id IS NOT NULL GROUP BY trace_id",
            (run_id,),
        ).fetchall()
        for nodeid, calls, cost, tokens, latency in rows:
            test = out.get(nodeid)
            if test is None:
                if "::" not in nodeid:  # a trace that is not a test's
                    continue
                test = out[nodeid] = {"outcome": None, "duration_s": None, "calls": calls, "cost": cost,
                                      "tokens": int(tokens), "latency_ms": None}
            test["latency_ms"] = latency
    return out


def _run_summary_row(summary: Summary) -> dict[str, float | None]:
    return {"calls": summary.events, "success_rate": summary.success_rate, "p50": summary.p50_latency_ms,
            "p95": summary.p95_latency_ms, "cost": summary.total_cost_usd,
            "tokens": summary.input_tokens + summary.output_tokens}


def _run_section(conn: sqlite3.Connection, run_id: str, baseline_run_id: str | None, summary: Summary,
                 traces: _TraceSet, limits: Limits) -> dict[str, Any]:
    clip = limits.text_chars
    record = _run_record(conn, run_id)
    tests = _tests_of_run(conn, run_id)
    by_cost = sorted(((t["cost"] or 0.0, k) for k, t in tests.items() if (t["cost"] or 0) > 0), reverse=True)
    timed = [(t["duration_s"], k) for k, t in tests.items() if t["duration_s"] is not None]
    slow_unit = "s"
    if not timed:  # no stored results: the time spent in the test's calls
        timed = [(t["latency_ms"] / 1000.0, k) for k, t in tests.items() if t["latency_ms"]]
        slow_unit = "s in calls"
    slowest = sorted(timed, reverse=True)[: limits.tests]
    expensive = by_cost[: limits.tests]
    table = []
    for nodeid in sorted(tests, key=lambda k: (-(tests[k]["cost"] or 0.0), k))[: limits.table_rows]:
        t = tests[nodeid]
        table.append({
            "nodeid": _clip(nodeid, clip), "outcome": t["outcome"] or "n/a",
            "duration": _opt(t["duration_s"], lambda s: f"{s:,.2f}s"), "calls": format_int(t["calls"]),
            "tokens": format_int(t["tokens"]), "cost": format_usd(t["cost"] or 0.0),
            "trace": traces.add(nodeid, run_id, "test"),
        })
    section: dict[str, Any] = {
        "id": _clip(run_id, clip),
        "info": None if record is None else {
            "status": _clip(record.get("status"), clip), "started": local_text(record.get("started_at")),
            "duration": _opt(None if record.get("ended_at") is None or record.get("started_at") is None
                             else record["ended_at"] - record["started_at"], lambda s: f"{s:,.1f}s"),
            "branch": _clip(record.get("git_branch"), clip), "commit": (str(record.get("git_commit") or "")[:12] or None),
            "host": _clip(record.get("host"), clip), "command": _clip(record.get("command"), clip),
            "passed": record.get("passed"), "failed": record.get("failed"), "skipped": record.get("skipped"),
            "errors": record.get("errors"),
        },
        "expensive": {"labels": [_clip(k, clip) for _, k in expensive], "values": [_num(v) for v, _ in expensive]},
        "slowest": {"labels": [_clip(k, clip) for _, k in slowest], "values": [_num(v) for v, _ in slowest],
                    "unit": slow_unit},
        "tests": {"rows": table, "more": max(len(tests) - limits.table_rows, 0), "total": len(tests)},
        "baseline": None,
    }
    if baseline_run_id:
        base_summary = compute_summary(conn, Window(label=f"Run {baseline_run_id}"), Filters(run_id=baseline_run_id))
        base_tests = _tests_of_run(conn, baseline_run_id)
        now_row, base_row = _run_summary_row(summary), _run_summary_row(base_summary)
        formats = {"calls": format_int, "success_rate": format_percent, "p50": format_ms, "p95": format_ms,
                   "cost": format_usd, "tokens": format_int}
        labels = {"calls": "Calls", "success_rate": "Success rate", "p50": "P50 latency", "p95": "P95 latency",
                  "cost": "Total cost", "tokens": "Tokens"}
        totals = [[labels[k], _opt(base_row[k], f), _opt(now_row[k], f),
                   change_text(now_row[k], base_row[k], _points, relative=False) if k == "success_rate"
                   else change_text(now_row[k], base_row[k], f)]
                  for k, f in formats.items()]
        shared = [k for k in tests if k in base_tests]
        cost_keys = sorted(set(tests) | set(base_tests),
                           key=lambda k: (-max((tests.get(k) or {}).get("cost") or 0.0,
                                               (base_tests.get(k) or {}).get("cost") or 0.0), k))[: limits.tests]

        def duration(t: dict[str, Any] | None) -> float | None:
            if t is None:
                return None
            if t["duration_s"] is not None:
                return t["duration_s"]
            return None if t["latency_ms"] is None else t["latency_ms"] / 1000.0

        time_keys = sorted(set(tests) | set(base_tests),
                           key=lambda k: (-max(duration(tests.get(k)) or 0.0, duration(base_tests.get(k)) or 0.0), k))
        time_keys = time_keys[: limits.tests]
        section["baseline"] = {
            "id": _clip(baseline_run_id, clip),
            "totals": {"columns": ["figure", "baseline", "this run", "change"], "rows": totals},
            "shared_tests": len(shared),
            "cost": {"labels": [_clip(k, clip) for k in cost_keys],
                     "baseline": [_num((base_tests.get(k) or {}).get("cost")) for k in cost_keys],
                     "current": [_num((tests.get(k) or {}).get("cost")) for k in cost_keys]},
            "duration": {"labels": [_clip(k, clip) for k in time_keys],
                         "baseline": [_num(duration(base_tests.get(k))) for k in time_keys],
                         "current": [_num(duration(tests.get(k))) for k in time_keys]},
            "latency": {"labels": ["P50", "P95"], "baseline": [_num(base_row["p50"]), _num(base_row["p95"])],
                        "current": [_num(now_row["p50"]), _num(now_row["p95"])]},
        }
    return section


# --- the data ----------------------------------------------------------------------------------

def _cards(summary: Summary, thresholds: Thresholds, alerts: Sequence[Any]) -> list[dict[str, Any]]:
    fired = {alert.rule for alert in alerts}
    cost_note = None
    if summary.unknown_cost_events:
        cost_note = f"+ {format_int(summary.unknown_cost_events)} calls of unknown cost"
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


def collect_report(conn: sqlite3.Connection, window: Window, filters: Filters = Filters(),
                   thresholds: Thresholds = Thresholds(), *, extra_rules: Iterable[AlertRule] = (),
                   cost_scope: CostScope = "day", run_id: str | None = None, baseline_run_id: str | None = None,
                   title: str | None = None, limits: Limits = Limits(), now: float | None = None,
                   source: str | None = None, alerts: Sequence[Alert] | None = None) -> dict[str, Any]:
    """Everything the page shows, as a JSON-ready dict (see docs/report.md).

    ``run_id`` adds the section of a pytest run (its tests; against ``baseline_run_id`` when given);
    pass ``Filters(run_id=run_id)`` and ``cost_scope="total"`` too for the figures of the run alone,
    as the plugin does. ``source`` names where the events came from (shown in the footer).
    ``alerts``, when given, are shown instead of evaluating the thresholds again (the plugin passes
    the alerts its own rules and hooks raised for the run).
    """
    now = time.time() if now is None else now
    summary = compute_summary(conn, window, filters)
    if alerts is None:
        alerts = evaluate_alerts(summary, thresholds, extra_rules, cost_scope=cost_scope)
    by_agent = compute_breakdown(conn, window, filters, "agent") if not summary.empty else []
    traces = _TraceSet(conn, window, filters, limits)
    data: dict[str, Any] = {
        "format": HTML_FORMAT,
        "title": title or (f"Telemetry of run {run_id}" if run_id else "Telemetry report"),
        "generated_at": local_text(now),
        "source": _clip(source, limits.text_chars),
        "period": {"spec": window.spec, "label": window.label, "start": local_text(window.start),
                   "end": local_text(window.end)},
        "filters": {k: _clip(v, limits.text_chars) for k, v in filters.as_dict().items() if v is not None},
        "events": summary.events,
        "first": local_text(summary.first_timestamp),
        "last": local_text(summary.last_timestamp),
        "cards": _cards(summary, thresholds, alerts),
        "alerts": [{"rule": a.rule, "message": _clip(a.message, 1000)} for a in alerts],
        "notes": [],
        "thresholds": {"success_rate_min": thresholds.success_rate_min,
                       "p95_latency_ms_max": thresholds.p95_latency_ms_max,
                       "daily_cost_usd_max": thresholds.daily_cost_usd_max, "cost_scope": cost_scope},
        "series": _bucket_series(conn, window, filters, summary, by_agent, limits),
        "errors": {"labels": [], "counts": []},
        "tables": {},
        "failed": {"rows": [], "total": summary.failures},
        "traces": [],
        "run": None,
        "palette": list(PALETTE),
    }
    if summary.unknown_cost_events:
        data["notes"].append(f"{format_int(summary.unknown_cost_events)} calls of unknown cost are not in the cost figures.")
    if summary.dropped_events:
        data["notes"].append(f"{format_int(summary.dropped_events)} events were dropped (never stored).")
    errors = list(summary.failures_by_error_type.items())
    if len(errors) > limits.error_types:
        rest = errors[limits.error_types - 1:]
        errors = errors[: limits.error_types - 1] + [(f"{len(rest)} other types", sum(c for _, c in rest))]
    data["errors"] = {"labels": [_clip(k, limits.text_chars) for k, _ in errors], "counts": [c for _, c in errors]}
    if not summary.empty:
        data["tables"] = {
            "agent": breakdown_rows(by_agent, limits),
            "model": breakdown_rows(compute_breakdown(conn, window, filters, "model"), limits),
            "function": breakdown_rows(compute_breakdown(conn, window, filters, "function"), limits),
        }
        data["failed"] = _failed_events(conn, window, filters, traces, limits, summary.failures)
    if run_id:
        data["run"] = _run_section(conn, run_id, baseline_run_id, summary, traces, limits)
    if not summary.empty:
        _slowest_traces(conn, window, filters, traces, limits)
    data["traces"] = traces.traces
    return data


# --- the page ----------------------------------------------------------------------------------

_MARKER = re.compile(r"@@([A-Z_]+)@@")


def embed_json(data: Any) -> str:
    """``data`` as JSON safe inside ``<script type="application/json">`` (``<``, ``>``, ``&`` escaped)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _script_body(text: str) -> str:
    """A script's text made safe to inline (no ``</script``, no ``<!--``, no source map)."""
    text = re.sub(r"\n//# sourceMappingURL=\S*\s*$", "\n", text)
    text = re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)
    return text.replace("<!--", "<\\!--")


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


class AssetsMissing(RuntimeError):
    """The page's files (``dev_system/render/html/assets``) are not installed; the message is one line."""


def _asset(name: str) -> str:
    try:
        return (ASSETS / name).read_text(encoding="utf-8")
    except OSError as exc:
        raise AssetsMissing(f"the HTML report's {name} is missing from {ASSETS} ({exc.strerror or exc}): "
                            "reinstall pytest-devtelemetry") from None


def render_html(data: dict[str, Any]) -> str:
    """The page of :func:`collect_report`'s ``data``: one HTML document, nothing to fetch."""
    library = _script_body(_asset(CHART_JS))
    script = _script_body(_asset(SCRIPT))
    styles = _asset(STYLES).replace("</", "<\\/")
    csp = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
           f"script-src {_hash(library)} {_hash(script)}; base-uri 'none'; form-action 'none'")
    values = {"CSP": csp, "STYLES": styles, "CHART_JS": library, "SCRIPT": script, "DATA": embed_json(data)}
    template = _asset(TEMPLATE)
    return _MARKER.sub(lambda m: values[m.group(1)], template)


def write_html_report(path: str | os.PathLike[str], data: dict[str, Any]) -> Path:
    """Write the page of ``data`` to ``path`` atomically (a reader never sees half a file)."""
    path = Path(path)
    page = render_html(data)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def write_run_report(path: str | os.PathLike[str], report: Any, *, limits: Limits = Limits()) -> Path:
    """Write the page of a finished pytest run: ``report`` is the plugin's
    :class:`pytest_devtelemetry.runreport.RunReport` (run id, database, thresholds, alerts, and the
    comparison when ``--telemetry-compare`` made one). The baseline is the comparison's, else the
    most recent earlier run of the same tests (:func:`dev_system.analysis.compare.find_baseline`)."""
    from dev_system.store import db as store
    from dev_system.analysis.compare import find_baseline

    conn = store.connect(report.db_path, readonly=True)
    try:
        comparison = getattr(report, "comparison", None)
        if comparison is not None:
            baseline: str | None = comparison.base.run_id
        else:
            tests = getattr(report, "tests", None) or []
            found = find_baseline(conn, report.run_id, nodeids=[t.nodeid for t in tests] if tests else None)
            baseline = None if found is None else found.run_id
        data = collect_report(
            conn, Window(None, None, f"Run {report.run_id}", "run"), Filters(run_id=report.run_id),
            getattr(report, "thresholds", None) or Thresholds(), cost_scope="total", run_id=report.run_id,
            baseline_run_id=baseline, limits=limits, source=str(report.db_path),
            alerts=list(report.alerts) if getattr(report, "summary", None) is not None else None,
        )
    finally:
        conn.close()
    return write_html_report(path, data)
