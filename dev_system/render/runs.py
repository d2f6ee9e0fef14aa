"""The list of recorded test runs as a text table (``dev-system runs``).

Given the runs and their event totals (read by :mod:`dev_system.store.runs`); opens no database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from dev_system.formatting import format_int, format_usd

if TYPE_CHECKING:
    from dev_system.store.runs import Run, RunTotals

HEADERS = ("run", "started", "took", "status", "tests", "events", "cost", "git")


def runs_table(records: Iterable[Run], totals: Mapping[str, RunTotals]) -> str:
    """The runs as a text table, newest first as given; a run missing from ``totals`` has no events."""
    from tabulate import tabulate

    rows = []
    for run in records:
        total = totals.get(run.run_id)
        events, cost_usd, unknown = (0, 0.0, 0) if total is None else (total.events, total.cost_usd,
                                                                      total.unknown_cost)
        tests = "" if run.passed is None else (
            f"{run.passed} passed" + "".join(f", {n} {label}" for n, label in (
                (run.failed, "failed"), (run.errors, "errors"), (run.skipped, "skipped"),
                (run.metadata.get("interrupted_tests"), "interrupted")) if n))
        cost = format_usd(cost_usd) + (f" (+{unknown} unknown)" if unknown else "")
        rows.append([
            run.run_id, datetime.fromtimestamp(run.started_at).strftime("%Y-%m-%d %H:%M:%S"),
            "" if run.duration_s is None else f"{run.duration_s:.1f}s", run.status, tests,
            format_int(events), cost,
            " ".join(part for part in (run.git_branch or "", (run.git_commit or "")[:10]) if part),
        ])
    return tabulate(rows, headers=HEADERS, tablefmt="simple", disable_numparse=True)
