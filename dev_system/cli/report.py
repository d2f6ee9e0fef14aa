"""``dev-system report --html PATH``: the HTML report of a period, or of one run against its baseline.

Exit status 1 when an alert fired under ``--fail-on-alert``.
"""

from __future__ import annotations

import argparse
import sqlite3

from dev_system.analysis import evaluation
from dev_system.analysis.periods import Window, parse_period
from dev_system.cli.common import db_path, filters, open_readonly, write
from dev_system.cli.metrics import thresholds, warn_failed_rules
from dev_system.cli.parser import UsageError
from dev_system.formatting import plural
from dev_system.render.html import page


def cmd_report(args: argparse.Namespace) -> int:
    """``report --html PATH``: the HTML report of a period, or of a run against its baseline."""
    limits = thresholds(args)
    failures: list[evaluation.RuleFailure] = []
    if args.baseline and not args.run:
        raise UsageError("--baseline goes with --run RUN")
    conn = open_readonly(args)
    try:
        wanted = filters(args, conn)  # the run name of --run resolved
        run_id = wanted.run_id
        baseline_id = _baseline(conn, run_id, args.baseline) if run_id else None
        window = args.period or (Window(label=f"Run {run_id}") if run_id else parse_period("30d"))
        data = page.collect_report(
            conn, window, wanted, limits, extra_rules=evaluation.guarded_rules(failures),
            cost_scope="total" if run_id else "day", run_id=run_id, baseline_run_id=baseline_id,
            title=args.title, source=str(db_path(args)))
    finally:
        conn.close()
    warn_failed_rules(failures)
    try:
        page.write_html_report(args.html, data)
    except page.AssetsMissing as exc:
        raise UsageError(str(exc)) from None
    except (OSError, ValueError) as exc:  # ValueError: a path holding a NUL
        raise UsageError(f"cannot write {args.html}: {getattr(exc, 'strerror', None) or exc}") from None
    line = f"Wrote {args.html}: {plural(data['events'], 'event')} ({window.label})"
    if data["alerts"]:
        line += f", {plural(len(data['alerts']), 'alert')}"
    write(line + "\n")
    return 1 if data["alerts"] and args.fail_on_alert else 0


def _baseline(conn: sqlite3.Connection, run_id: str, baseline: str | None) -> str | None:
    """The id of the baseline of run ``run_id``: the run ``--baseline`` names, none for
    ``--baseline none``, else the automatic one (which may not exist)."""
    if baseline and baseline.lower() == "none":
        return None
    try:
        base = evaluation.baseline_run(conn, run_id, baseline or None)
    except evaluation.RunNotFound as exc:
        raise UsageError(str(exc)) from None
    return None if base is None else base.run_id
