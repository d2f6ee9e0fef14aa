"""A comparison of two runs as text: the totals and the run's scores, the tests that changed most
(with their scores), the tests added or removed (what ``dev-system compare`` and
``pytest --telemetry-compare`` print)."""

from __future__ import annotations

import math

from dev_system.analysis.compare import TEST_FIGURES, TOTALS, Change, Comparison, TestChange, format_value
from dev_system.formatting import printable


def _short_delta(change: Change, kind: str) -> str:
    delta = change.delta
    if delta is None:
        return "n/a"
    if delta == 0:
        return "="
    sign = "+" if delta > 0 else "-"
    text = f"{sign}{format_value(kind, abs(delta))}"
    rel = change.relative
    if rel is not None and not math.isinf(rel):
        text += f" ({rel:+.0f}%)"
    return text


_TEST_KINDS = {"cost": "usd", "tokens": "int", "calls": "int", "max_latency": "ms"}


def _score_cell(test: TestChange) -> str:
    """``correctness 0.92 -> 0.90`` for each score of the test that moved; ``=`` when none did."""
    moved = [f"{printable(name)} {format_value('score', c.base)} -> {format_value('score', c.new)}"
             for name, c in test.scores.items() if c.base != c.new]
    return ", ".join(moved) or "="


def comparison_lines(comparison: Comparison, *, max_tests: int | None = 10) -> list[str]:
    """The comparison as text: one line per total, then a table of the tests that changed most
    (at most ``max_tests``; ``None``: all; 0: none), then the tests added or removed."""
    out = [f"Compared with run {comparison.base.run_id}"
           + (f" ({comparison.base.git_branch} {comparison.base.git_commit[:10]})"
              if comparison.base.git_branch and comparison.base.git_commit else "") + ":"]
    for name, change in comparison.totals.items():
        label, kind = TOTALS[name]
        out.append(f"  {label}: {format_value(kind, change.base)} -> {format_value(kind, change.new)}"
                   f"  {_short_delta(change, kind)}")
    for name, change in comparison.scores.items():
        out.append(f"  score {printable(name)}: {format_value('score', change.base)} -> "
                   f"{format_value('score', change.new)}  {_short_delta(change, 'score')}")
    changed = comparison.changed_count
    if changed and max_tests != 0:
        shown = comparison.changed_tests(max_tests)
        from tabulate import tabulate

        with_scores = any(t.scores for t in shown)
        rows = [[t.nodeid] + [_short_delta(t.changes[name], _TEST_KINDS[name]) for name in TEST_FIGURES]
                + ([_score_cell(t)] if with_scores else []) for t in shown]
        headers = ("test", "cost", "tokens", "calls", "max latency") + (("scores",) if with_scores else ())
        table = tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True,
                         colalign=("left", "right", "right", "right", "right") + (("left",) if with_scores else ()))
        title = "Tests that changed" + ("" if len(shown) == changed else f" (top {len(shown)} of {changed})")
        out.append(f"{title}:")
        out.extend("  " + line for line in table.splitlines())
    elif not changed:
        out.append("No test changed its cost, tokens, calls, latency or scores.")
    if comparison.added:
        out.append(f"Tests not in the baseline: {len(comparison.added)}")
    if comparison.removed:
        out.append(f"Tests only in the baseline: {len(comparison.removed)}")
    return out
