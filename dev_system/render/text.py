"""Rendering summaries, breakdowns, event lists and traces as text, JSON, Markdown and CSV.

Knows nothing of SQLite: it is given :class:`~dev_system.analysis.metrics.Summary` objects, alerts and
events. Every format is made from the same values (text and Markdown round them for people;
JSON and CSV keep them whole for machines), so they agree with each other. Text and Markdown
write stored names through :func:`~dev_system.formatting.printable`: a control character in
an agent name, an error message or a trace id is shown as an escape, never sent to the terminal.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TextIO

from dev_system.analysis.alerts import Alert, Thresholds
from dev_system.analysis.metrics import BreakdownRow, Summary
from dev_system.analysis.scores import ScoreStat
from dev_system.analysis.traces import trace_tree
from dev_system.events import EVENT_COLUMNS, TelemetryEvent
from dev_system.formatting import format_int, format_ms, format_percent, format_usd, plural, printable
from dev_system.render.score_summary import score_block, score_dicts

FORMATS = ("text", "json", "markdown", "csv")
JSON_FORMAT = "dev-system-metrics/1"
RULE = "=" * 50
EMOJI = {"chart": "📊", "alert": "🚨"}


def can_encode(text: str, encoding: str | None) -> bool:
    """True when ``text`` can be written in ``encoding`` (an unknown encoding counts as no)."""
    try:
        text.encode(encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def can_print_emoji(stream: object) -> bool:
    """True when ``stream`` can write the reports' emoji (:data:`EMOJI`): the one check of both
    front ends. ``stream`` is anything with an ``encoding`` (``sys.stdout``, pytest's terminal
    writer); ``None``, a stream without an encoding or an unknown encoding counts as no."""
    return can_encode("".join(EMOJI.values()), getattr(stream, "encoding", None))


def _icon(name: str, ascii_only: bool) -> str:
    return "" if ascii_only else EMOJI[name] + " "


def _opt(value: float | None, fmt: Any) -> str:
    return "n/a" if value is None else fmt(value)


def markdown_text(text: object) -> str:
    """``text`` (a stored name: an agent, a model, an error type) as plain text in GitHub Markdown:
    :func:`printable`, then the characters that would make a table cell, a link, an image, an
    autolink, emphasis or HTML escaped, so that a name cannot inject content into a job summary."""
    text = printable(text)
    for char, escaped in _MARKDOWN_ESCAPES:
        if char in text:
            text = text.replace(char, escaped)
    return text


_MARKDOWN_ESCAPES = (("\\", "\\\\"), ("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("[", "\\["),
                     ("]", "\\]"), ("!", "\\!"), ("`", "\\`"), ("*", "\\*"), ("~", "\\~"),
                     ("://", ":\\/\\/"), ("www.", "www\\."))


def summary_lines(summary: Summary, name: Callable[[object], str] = printable) -> list[tuple[str, str]]:
    """The ``(label, value)`` figures of a summary, as the text and Markdown reports show them
    (stored names shown by ``name``: :func:`printable`, or :func:`markdown_text`)."""
    lines = [
        ("Success Rate", _opt(summary.success_rate, format_percent)),
        ("P95 Latency", _opt(summary.p95_latency_ms, format_ms)),
        ("Total Cost", format_usd(summary.total_cost_usd)),
    ]
    if summary.replayed_events:  # answered from a recording: notional, never paid
        lines.append(("Spent", format_usd(summary.spent_cost_usd)))
        lines.append(("Replayed", f"{plural(summary.replayed_events, 'event')}, "
                                  f"{format_usd(summary.replayed_cost_usd)} notional (not spent; in the total)"))
    if summary.unknown_cost_events:
        lines.append(("Unknown Cost", f"{plural(summary.unknown_cost_events, 'event')} (not in the total)"))
        lines.extend(unknown_cost_lines(summary, name))
    lines.append(("Top Agent", "n/a" if summary.top_agent is None else name(summary.top_agent)))
    lines.append(("Failed Calls", format_int(summary.failures)))
    return lines


def unknown_cost_lines(summary: Summary, name: Callable[[object], str] = printable) -> list[tuple[str, str]]:
    """Why costs are unknown, as indented ``(label, value)`` lines: the models without a known
    price first, then usages without a model name, then results without a usage."""
    lines = [(f"  no price for {name(model)}", plural(count, "event"))
             for model, count in summary.unpriced_models.items()]
    if summary.unknown_cost_without_model:
        lines.append(("  no model name", plural(summary.unknown_cost_without_model, "event")))
    if summary.unknown_cost_without_usage:
        lines.append(("  no usage reported", plural(summary.unknown_cost_without_usage, "event")))
    return lines


#: Why a row is left out of reports (see ``dev_system.store.queries.USABLE``).
UNUSABLE = ("values a report cannot use: text in a number column, a timestamp that is not a number, "
            "NULL where a number is required")


def skipped_note(count: int) -> str:
    """``3 skipped (values a report cannot use: ...)``: rows edited by hand, left out of every figure."""
    return f"{format_int(count)} skipped ({UNUSABLE})"


def undrawn_note(summary: Summary) -> str:
    """Why some events of the window are in no daily figure: dated in the future, or too long ago."""
    n = summary.undrawn_events
    if summary.drawn_first is None or summary.drawn_last is None:
        return f"{plural(n, 'event')} dated in the future (a wrong clock?): counted, not drawn by day"
    lo, hi = (datetime.fromtimestamp(t).date().isoformat() for t in (summary.drawn_first, summary.drawn_last))
    return (f"{plural(n, 'event')} dated outside {lo} .. {hi} (in the future, a wrong clock?, or more than ten "
            "years earlier): counted, not drawn by day")


def render_text(summary: Summary, alerts: Sequence[Alert], breakdown: tuple[str, Sequence[BreakdownRow]] | None = None,
                *, ascii_only: bool = False, scores: Sequence[ScoreStat] = ()) -> str:
    """The human report: the headline figures, the scores (of a run), the alerts, then the
    breakdown table, if any."""
    out = [f"{_icon('chart', ascii_only)}Development Metrics ({summary.window.label})", RULE]
    if summary.empty:
        out.append("No events in this period.")
    else:
        for label, value in summary_lines(summary):
            out.append(f"{label}: {value}")
            if label == "Failed Calls":
                out.extend(f"  {printable(name)}: {format_int(count)}"
                           for name, count in summary.failures_by_error_type.items())
    if summary.dropped_events:
        out.append(f"Dropped Events: {format_int(summary.dropped_events)} (lost before storage)")
    if summary.skipped_rows:
        out.append(f"Unusable Rows: {skipped_note(summary.skipped_rows)}")
    if summary.undrawn_events:
        out.append(f"Not Drawn: {undrawn_note(summary)}")
    if scores:
        out.append("")
        out.extend(score_block(scores))
    if alerts:
        out.append("")
        out.append(f"{_icon('alert', ascii_only)}Alerts:")
        out.extend(f"  - {printable(alert.message)}" for alert in alerts)
    if breakdown is not None and not summary.empty:
        by, rows = breakdown
        out.append("")
        out.append(breakdown_table(by, rows, "simple"))
    return "\n".join(out) + "\n"


_TABLE_HEADERS = ("calls", "success", "p50", "p95", "p99", "tokens in", "tokens out", "cost", "unknown cost")


def breakdown_table(by: str, rows: Sequence[BreakdownRow], tablefmt: str = "simple",
                    name: Callable[[object], str] = printable) -> str:
    """The breakdown as a ``tabulate`` table (``simple`` for terminals, ``github`` for Markdown)."""
    from tabulate import tabulate

    body = [
        [
            "(none)" if row.key is None else name(row.key), format_int(row.calls), format_percent(row.success_rate),
            format_ms(row.p50_latency_ms), format_ms(row.p95_latency_ms), format_ms(row.p99_latency_ms),
            format_int(row.input_tokens), format_int(row.output_tokens), format_usd(row.cost_usd),
            format_int(row.unknown_cost_events),
        ]
        for row in rows
    ]
    return tabulate(body, headers=(by, *_TABLE_HEADERS), tablefmt=tablefmt, disable_numparse=True,
                    colalign=("left",) + ("right",) * len(_TABLE_HEADERS))


def render_markdown(summary: Summary, alerts: Sequence[Alert],
                    breakdown: tuple[str, Sequence[BreakdownRow]] | None = None, *,
                    scores: Sequence[ScoreStat] = ()) -> str:
    """The report as GitHub Markdown (for a CI job summary or a pull request comment)."""
    from tabulate import tabulate

    out = [f"## {EMOJI['chart']} Development Metrics ({summary.window.label})", ""]
    if summary.empty:
        out.append("No events in this period.")
    else:
        rows = [[label, value] for label, value in summary_lines(summary, markdown_text)]
        rows.extend([f"Failed: {markdown_text(name)}", format_int(count)]
                    for name, count in summary.failures_by_error_type.items())
        if summary.dropped_events:
            rows.append(["Dropped Events", format_int(summary.dropped_events)])
        out.append(tabulate(rows, headers=("Metric", "Value"), tablefmt="github", disable_numparse=True))
    if summary.empty and summary.dropped_events:
        out.append("")
        out.append(f"Dropped events: {format_int(summary.dropped_events)} (lost before storage)")
    if summary.skipped_rows:
        out.append("")
        out.append(f"Unusable rows: {skipped_note(summary.skipped_rows)}")
    if scores:
        out.extend(["", "### Scores", ""])
        out.append(tabulate([[printable(s.name), f"{s.mean:.2f}", f"{s.min:.2f}", printable(s.min_nodeid or ""),
                              format_int(s.tests)] for s in scores],
                            headers=("score", "mean", "min", "lowest test", "tests"), tablefmt="github",
                            disable_numparse=True))
    if alerts:
        out.extend(["", f"### {EMOJI['alert']} Alerts", ""])
        out.extend(f"- {markdown_text(alert.message)}" for alert in alerts)
    if breakdown is not None and not summary.empty:
        by, table = breakdown
        out.extend(["", f"### By {by}", "", breakdown_table(by, table, "github", markdown_text)])
    return "\n".join(out) + "\n"


def breakdown_dict(row: BreakdownRow) -> dict[str, Any]:
    """One breakdown row for JSON."""
    return {
        "key": row.key, "calls": row.calls, "successes": row.successes, "success_rate": row.success_rate,
        "latency_ms": {"p50": row.p50_latency_ms, "p95": row.p95_latency_ms, "p99": row.p99_latency_ms},
        "input_tokens": row.input_tokens, "output_tokens": row.output_tokens,
        "cost_usd": row.cost_usd, "unknown_cost_events": row.unknown_cost_events,
    }


def summary_dict(summary: Summary, alerts: Sequence[Alert], thresholds: Thresholds | None = None,
                 breakdown: tuple[str, Sequence[BreakdownRow]] | None = None, *,
                 scores: Sequence[ScoreStat] = ()) -> dict[str, Any]:
    """The stable JSON document of a report (documented in docs/cli.md)."""
    window = summary.window
    return {
        "format": JSON_FORMAT,
        "period": {"spec": window.spec, "label": window.label, "start": window.start, "end": window.end},
        "filters": summary.filters.as_dict(),
        "events": summary.events,
        "successes": summary.successes,
        "failed_calls": summary.failures,
        "failures_by_error_type": dict(summary.failures_by_error_type),
        "success_rate": summary.success_rate,
        "latency_ms": {"p50": summary.p50_latency_ms, "p95": summary.p95_latency_ms, "p99": summary.p99_latency_ms},
        "cost_usd": {
            "total": summary.total_cost_usd,
            "spent": summary.spent_cost_usd,
            "replayed": summary.replayed_cost_usd,
            "replayed_events": summary.replayed_events,
            "unknown_cost_events": summary.unknown_cost_events,
            "unpriced_models": dict(summary.unpriced_models),
            "unknown_cost_without_model": summary.unknown_cost_without_model,
            "unknown_cost_without_usage": summary.unknown_cost_without_usage,
            "by_day": dict(summary.daily_cost_usd),
        },
        "tokens": {"input": summary.input_tokens, "output": summary.output_tokens},
        "top_agent": None if summary.top_agent is None else {"name": summary.top_agent, "events": summary.top_agent_events},
        "dropped_events": summary.dropped_events,
        "skipped_rows": summary.skipped_rows,
        "undrawn_events": summary.undrawn_events,
        "first_timestamp": summary.first_timestamp,
        "last_timestamp": summary.last_timestamp,
        "thresholds": None if thresholds is None else {
            "success_rate_min": thresholds.success_rate_min,
            "p95_latency_ms_max": thresholds.p95_latency_ms_max,
            "daily_cost_usd_max": thresholds.daily_cost_usd_max,
            "score_min": dict(thresholds.score_min or ()),
        },
        "scores": score_dicts(scores),
        "alerts": [alert.as_dict() for alert in alerts],
        "breakdown": None if breakdown is None else {"by": breakdown[0], "rows": [breakdown_dict(r) for r in breakdown[1]]},
    }


def render_json(summary: Summary, alerts: Sequence[Alert], thresholds: Thresholds | None = None,
                breakdown: tuple[str, Sequence[BreakdownRow]] | None = None, *,
                scores: Sequence[ScoreStat] = ()) -> str:
    """:func:`summary_dict` as indented JSON."""
    return json.dumps(summary_dict(summary, alerts, thresholds, breakdown, scores=scores), indent=2) + "\n"


def render_csv(summary: Summary, alerts: Sequence[Alert],
               breakdown: tuple[str, Sequence[BreakdownRow]] | None = None, *,
               scores: Sequence[ScoreStat] = ()) -> str:
    """CSV: the breakdown rows when there is a breakdown, else ``metric,value`` rows (alerts as ``alert`` rows)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if breakdown is not None:
        by, rows = breakdown
        writer.writerow([by, "calls", "successes", "success_rate", "p50_latency_ms", "p95_latency_ms",
                         "p99_latency_ms", "input_tokens", "output_tokens", "cost_usd", "unknown_cost_events"])
        for row in rows:
            writer.writerow([row.key, row.calls, row.successes, row.success_rate, row.p50_latency_ms,
                             row.p95_latency_ms, row.p99_latency_ms, row.input_tokens, row.output_tokens,
                             row.cost_usd, row.unknown_cost_events])
        return buffer.getvalue()
    writer.writerow(["metric", "value"])
    figures: list[tuple[str, Any]] = [
        ("period", summary.window.label),
        ("events", summary.events),
        ("success_rate", summary.success_rate),
        ("p50_latency_ms", summary.p50_latency_ms),
        ("p95_latency_ms", summary.p95_latency_ms),
        ("p99_latency_ms", summary.p99_latency_ms),
        ("total_cost_usd", summary.total_cost_usd),
        ("unknown_cost_events", summary.unknown_cost_events),
        ("input_tokens", summary.input_tokens),
        ("output_tokens", summary.output_tokens),
        ("top_agent", summary.top_agent),
        ("failed_calls", summary.failures),
        ("dropped_events", summary.dropped_events),
        ("skipped_rows", summary.skipped_rows),
    ]
    figures.extend((f"unpriced_model:{name}", count) for name, count in summary.unpriced_models.items())
    figures.extend((f"failed_calls:{name}", count) for name, count in summary.failures_by_error_type.items())
    figures.extend((f"cost_usd:{day}", cost) for day, cost in summary.daily_cost_usd.items())
    figures.extend((f"score:{stat.name}", stat.mean) for stat in scores)
    figures.extend(("alert", alert.message) for alert in alerts)
    for name, value in figures:
        writer.writerow([name, "" if value is None else value])
    return buffer.getvalue()


# --- events and traces -------------------------------------------------------------------------

def local_time(timestamp: float) -> str:
    """``2026-11-28 14:03:07`` in local time."""
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def error_text(event: TelemetryEvent, width: int | None = 120) -> str:
    """``ErrorType: message`` of a failed event (message from metadata ``error_message``), shortened to ``width``."""
    message = event.metadata_dict.get("error_message")
    text = event.error_type or "error"
    if message:
        text += f": {message}"
    text = " ".join(str(text).split())
    if width is not None and len(text) > width:
        text = text[: width - 3] + "..."
    return printable(text)


def _tokens(event: TelemetryEvent) -> str:
    if event.input_tokens is None and event.output_tokens is None:
        return "?"
    parts = ["?" if t is None else format_int(t) for t in (event.input_tokens, event.output_tokens)]
    return "/".join(parts)


def _cost(event: TelemetryEvent) -> str:
    return "?" if event.cost_usd is None else format_usd(event.cost_usd)


def render_events(events: Sequence[TelemetryEvent], *, show_errors: bool = False) -> str:
    """A table of events (tokens as ``in/out``, ``?`` when unknown); error types and messages with ``show_errors``."""
    if not events:
        return "No matching events.\n"
    headers = ["time", "agent", "type", "function", "model", "latency", "tokens", "cost", "status", "trace"]
    if show_errors:
        headers.append("error")
    body = []
    for event in events:
        row = [local_time(event.timestamp), printable(event.agent_name), printable(event.event_type),
               printable(event.function_name), printable(event.model or ""), format_ms(event.latency_ms),
               _tokens(event), _cost(event), "ok" if event.success else "FAILED", printable(event.trace_id or "")]
        if show_errors:
            row.append("" if event.success else error_text(event))
        body.append(row)
    return simple_table(headers, body) + "\n"


def simple_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """``tabulate(rows, headers, tablefmt="simple", disable_numparse=True)``, laid out directly when
    every cell is one line of plain ASCII (a cell's width is then its length): each column as wide
    as its header plus two or its widest cell, cells stripped and left-aligned, lines right-stripped.
    Any other cell goes to tabulate (wide characters, escape codes, several lines)."""
    if not all(cell.isascii() and "\x1b" not in cell and "\n" not in cell and "\r" not in cell
               for row in rows for cell in row):
        from tabulate import tabulate

        return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)
    cells = [[cell.strip() for cell in row] for row in rows]
    widths = [max(len(header) + 2, *(len(row[i]) for row in cells)) for i, header in enumerate(headers)]
    lines = ["  ".join(header.ljust(width) for header, width in zip(headers, widths)).rstrip(),
             "  ".join("-" * width for width in widths)]
    lines.extend("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in cells)
    return "\n".join(lines)


def events_json(events: Iterable[TelemetryEvent]) -> str:
    """A JSON array of events (metadata decoded)."""
    return json.dumps([event.to_dict() for event in events], indent=2) + "\n"


def write_jsonl(events: Iterable[TelemetryEvent], stream: TextIO) -> int:
    """Write one JSON object per event; returns how many."""
    count = 0
    for event in events:
        stream.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
        count += 1
    return count


def write_csv(events: Iterable[Sequence[Any]], stream: TextIO, columns: Sequence[str] = EVENT_COLUMNS) -> int:
    """Write the events (or rows whose values follow ``columns``) as CSV with ``columns`` as header
    (metadata as JSON text, success as 1/0, NULL as empty); returns how many."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(columns)
    count = 0
    for event in events:
        writer.writerow(["" if v is None else (int(v) if isinstance(v, bool) else v) for v in event])
        count += 1
    return count


def trace_json(events: Sequence[TelemetryEvent]) -> str:
    """The trace as a JSON array of events in tree order, each with its ``depth`` (0 for a root)."""
    return json.dumps([{"depth": depth, **event.to_dict()} for depth, event in trace_tree(events)], indent=2) + "\n"


def render_trace(trace_id: str, events: Sequence[TelemetryEvent], *, run_id: str | None = None,
                 other_runs: int = 0) -> str:
    """One trace as an indented tree of calls with latency, tokens, cost and errors, then totals.
    The heading names the run shown (``run_id``; ``None``: events of no run) and, when
    ``other_runs`` is not 0, how many earlier runs hold the same trace."""
    tree = trace_tree(events)
    failed = sum(1 for e in events if not e.success)
    tokens = sum(e.total_tokens for e in events)
    cost = sum(e.cost_usd for e in events if e.cost_usd is not None)
    unknown = sum(1 for e in events if e.cost_usd is None)
    root_ms = sum(e.latency_ms for depth, e in tree if depth == 0)
    lines = [f"Trace {printable(trace_id)}{_trace_run(run_id, other_runs)}"]
    for depth, event in tree:
        parts = [f"{'  ' * depth}- {printable(event.agent_name)}.{printable(event.function_name)}",
                 f"[{printable(event.event_type)}{' ' + printable(event.model) if event.model else ''}]",
                 format_ms(event.latency_ms)]
        if event.input_tokens is not None or event.output_tokens is not None:
            parts.append(f"{_tokens(event)} tokens")
        parts.append(_cost(event) if event.cost_usd is not None else "cost ?")
        parts.append("ok" if event.success else f"FAILED {error_text(event)}")
        lines.append(" ".join(parts))
    total = (f"Total: {plural(len(events), 'call')}, {format_int(failed)} failed, {format_ms(root_ms)} at the top level, "
             f"{format_int(tokens)} tokens, {format_usd(cost)}")
    if unknown:
        total += f" + {plural(unknown, 'call')} of unknown cost"
    lines.append(total)
    return "\n".join(lines) + "\n"


def _trace_run(run_id: str | None, other_runs: int) -> str:
    """`` (run R; 2 earlier runs have this trace: --run to choose)``, or nothing for a trace of no run alone."""
    shown = f"run {printable(run_id)}" if run_id is not None else "outside any pytest run" if other_runs else ""
    if other_runs:
        shown += f"; {plural(other_runs, 'earlier run')} {'has' if other_runs == 1 else 'have'} this trace: --run to choose"
    return f" ({shown})" if shown else ""
