"""Scores and test histories for people and machines: ``dev-system scores`` and ``dev-system
history`` as text, Markdown, CSV and JSON.

Given what :mod:`dev_system.analysis.run_scores` and :mod:`dev_system.analysis.history` computed;
opens no database. Text and Markdown round figures and write stored names through
:func:`~dev_system.formatting.printable`; JSON and CSV keep values whole.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dev_system.analysis.compare import format_value
from dev_system.formatting import exact_digits, format_score, format_usd, printable

if TYPE_CHECKING:
    from dev_system.analysis.compare import Change
    from dev_system.analysis.history import DriftReport, TestHistory
    from dev_system.analysis.run_scores import RunScores

_KINDS = {"cost": "usd", "latency": "ms", "tokens": "int", "calls": "int"}
_LABELS = {"cost": "cost", "latency": "slowest call", "tokens": "tokens", "calls": "calls"}


def _score(value: float | None) -> str:
    """A score for people, as the run summary writes it (``0.92``)."""
    return "n/a" if value is None else format_score(value)


def _usd(value: float | None) -> str:
    """A test's cost: up to four decimals, so that $0.016 does not read as $0.02."""
    return "n/a" if value is None else format_usd(value, exact_digits(value, 2, 4) if abs(value) >= 0.01 else 2)


def _figure(name: str, value: float | None) -> str:
    if name.startswith("score."):
        return _score(value)
    return _usd(value) if name == "cost" else format_value(_KINDS[name], value)


def _label(name: str) -> str:
    return printable(name[len("score."):]) if name.startswith("score.") else _LABELS[name]


def change_text(name: str, change: Change) -> str:
    """``$0.012 -> $0.0071 (-41%)``: a trend from first to last, its change in percent."""
    text = f"{_figure(name, change.base)} -> {_figure(name, change.new)}"
    rel = change.relative
    if change.delta == 0:
        return text + " (=)"
    if rel is None:
        return text
    return text + (" (from 0)" if math.isinf(rel) else f" ({rel:+.1f}%)")


def _table(headers: Sequence[str], rows: list[list[str]], markdown: bool) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt="github" if markdown else "simple", disable_numparse=True)


def _csv(headers: Sequence[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue()


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def _started(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


# --- dev-system scores ---------------------------------------------------------------------


def render_scores(scores: RunScores, fmt: str, *, by_test: bool = False) -> str:
    """A run's scores in ``fmt`` (``text``, ``json``, ``markdown``, ``csv``): per name, or per test and name (``by_test``)."""
    if fmt == "json":
        return _json({"format": "dev-system-scores/1", **scores.as_dict(by_test=by_test)})
    if by_test:
        headers = ("test", "score", "mean", "values")
        exact = [[s.nodeid, s.name, s.mean, s.count] for s in scores.by_test]
        shown = [[printable(s.nodeid or ""), printable(s.name), _score(s.mean), str(s.count)] for s in scores.by_test]
    else:
        headers = ("score", "mean", "min", "lowest test", "tests")
        exact = [[s.name, s.mean, s.min, s.min_nodeid, s.tests] for s in scores.stats]
        shown = [[printable(s.name), _score(s.mean), _score(s.min), printable(s.min_nodeid or ""),
                  str(s.tests)] for s in scores.stats]
    if fmt == "csv":
        return _csv(("run_id", *headers), [[scores.run.run_id, *row] for row in exact])
    markdown = fmt == "markdown"
    title = f"Scores of run {printable(scores.run.run_id)} ({_started(scores.run.started_at)})"
    if not shown:
        return f"{title}: no scores recorded (record them with telemetry.score(NAME, VALUE) in a test)\n"
    heading = f"## {title}\n" if markdown else f"{title}:"
    return f"{heading}\n{_table(headers, shown, markdown)}\n"


# --- dev-system history NODEID --------------------------------------------------------------


def _history_rows(history: TestHistory, names: list[str], *, exact: bool) -> list[list[Any]]:
    rows = []
    for row in history.rows:
        r = row.result
        if exact:
            rows.append([row.run.run_id, row.run.started_at, r.outcome, r.events, r.tokens, r.cost_usd,
                         r.unknown_cost, r.max_latency_ms, *(row.scores.get(n) for n in names)])
        else:
            cost = _usd(r.cost_usd) + (f" (+{r.unknown_cost} unknown)" if r.unknown_cost else "")
            rows.append([printable(row.run.run_id), _started(row.run.started_at), printable(r.outcome),
                         format_value("int", r.events), format_value("int", r.tokens), cost,
                         format_value("ms", r.max_latency_ms), *(_score(row.scores.get(n)) for n in names)])
    return rows


def render_test_history(history: TestHistory, fmt: str) -> str:
    """One test over its runs (newest first) and its trend, in ``fmt`` (``text``, ``json``, ``markdown``, ``csv``)."""
    if fmt == "json":
        return _json({"format": "dev-system-history/1", **history.as_dict()})
    names = history.score_names
    if fmt == "csv":
        headers = ("run_id", "started_at", "outcome", "calls", "tokens", "cost_usd", "unknown_cost",
                   "slowest_call_ms", *(f"score.{n}" for n in names))
        return _csv(headers, _history_rows(history, names, exact=True))
    markdown = fmt == "markdown"
    headers = ("run", "started", "outcome", "calls", "tokens", "cost", "slowest call", *map(printable, names))
    title = f"History of {printable(history.nodeid)}: the last {len(history.rows)} run{'s' * (len(history.rows) != 1)}"
    lines = [f"## {title}", ""] if markdown else [f"{title}, newest first:"]
    lines.append(_table(headers, _history_rows(history, names, exact=False), markdown))
    if len(history.rows) > 1:
        lines += ["", "Trend, oldest to newest run:"] + ([""] if markdown else [])
        lines.extend(f"{'- ' if markdown else '  '}{_label(name)}: {change_text(name, change)}"
                     for name, change in history.trends.items())
    return "\n".join(lines) + "\n"


# --- dev-system history --tests --------------------------------------------------------------


def render_drift(report: DriftReport, fmt: str) -> str:
    """The tests that changed most over the last runs, in ``fmt`` (``text``, ``json``, ``markdown``, ``csv``)."""
    if fmt == "json":
        return _json({"format": "dev-system-drift/1", **report.as_dict()})
    names = sorted({name for drift in report.tests for name in drift.trends if name.startswith("score.")})
    columns = ["cost", "latency", *names]
    if report.sort not in columns:
        columns.append(report.sort)
    if fmt == "csv":
        headers = ["nodeid", "runs"]
        for name in columns:
            headers += [f"{name}.first", f"{name}.last", f"{name}.change_pct"]
        rows = []
        for drift in report.tests:
            row: list[Any] = [drift.nodeid, drift.runs]
            for name in columns:
                change = drift.trends.get(name)
                rel = None if change is None else change.relative
                row += [None if change is None else change.base, None if change is None else change.new,
                        None if rel is None or math.isinf(rel) else rel]
            rows.append(row)
        return _csv(headers, rows)
    markdown = fmt == "markdown"
    count = len(report.run_ids)
    title = (f"Tests that changed most by {printable(report.sort)} over the last {count} run{'s' * (count != 1)}"
             f" (first -> last)")
    if not report.run_ids:
        return "No pytest runs recorded: run 'pytest --telemetry' first.\n"
    if not report.tests:
        return f"{title}: none ran twice with that figure.\n"
    headers = ("test", "runs", *(_label(name) for name in columns))
    rows = [[printable(d.nodeid), str(d.runs),
             *("" if d.trends.get(name) is None else change_text(name, d.trends[name]) for name in columns)]
            for d in report.tests]
    shown = "" if len(report.tests) == report.candidates else f", top {len(report.tests)} of {report.candidates}"
    heading = f"## {title}{shown}\n" if markdown else f"{title}{shown}:"
    return f"{heading}\n{_table(headers, rows, markdown)}\n"
