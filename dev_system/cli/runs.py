"""The commands on pytest runs: ``runs`` lists them, ``compare`` judges one against another.

``compare`` exits with status 1 when ``--fail`` found a regression.
"""

from __future__ import annotations

import argparse
import json

from dev_system.analysis import evaluation
from dev_system.analysis.compare import LimitError, parse_limits
from dev_system.cli.common import db_path, open_readonly, write
from dev_system.cli.parser import UsageError
from dev_system.render.compare import comparison_lines
from dev_system.render.runs import runs_table
from dev_system.store.runs import RunTotals, event_totals, list_runs


def cmd_runs(args: argparse.Namespace) -> int:
    """``runs``: recent runs with their status, tests, events and cost."""
    conn = open_readonly(args)
    try:
        records = list_runs(conn, limit=args.limit or None, branch=args.branch)
        totals = event_totals(conn, [r.run_id for r in records])
    finally:
        conn.close()
    if args.format == "json":
        write(json.dumps([{**r.as_dict(), "events": totals.get(r.run_id, RunTotals()).events,
                           "cost_usd": totals.get(r.run_id, RunTotals()).cost_usd,
                           "unknown_cost_events": totals.get(r.run_id, RunTotals()).unknown_cost}
                          for r in records], indent=2) + "\n")
    elif not records:
        write(f"No pytest runs in {db_path(args)}: run 'pytest --telemetry' first.\n")
    else:
        write(runs_table(records, totals) + "\n")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """``compare BASE [NEW]``: totals and per-test changes; ``--fail`` judges the regressions."""
    limits = []
    if args.fail:
        try:
            limits = parse_limits(args.fail)
        except LimitError as exc:
            raise UsageError(f"--fail: {exc}") from None
    conn = open_readonly(args)
    try:
        try:
            base, new = evaluation.resolve_run(conn, args.base), evaluation.resolve_run(conn, args.new)
        except evaluation.RunNotFound as exc:
            raise UsageError(str(exc)) from None
        if base.run_id == new.run_id:
            raise UsageError(f"{args.base!r} and {args.new!r} are the same run ({base.run_id})")
        comparison, found = evaluation.compare_run(conn, base.run_id, new.run_id, limits)
    finally:
        conn.close()
    if args.format == "json":
        write(json.dumps(comparison.as_dict(found), indent=2) + "\n")
    else:
        lines = comparison_lines(comparison, max_tests=args.tests)
        lines.extend(f"FAIL {r.message}" for r in found)
        write("\n".join(lines) + "\n")
    return 1 if found else 0
