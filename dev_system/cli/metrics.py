"""``dev-system metrics``: the figures and alerts of a period, in one format.

Exit status 1 when an alert fired under ``--fail-on-alert``.
"""

from __future__ import annotations

import argparse

from dev_system.analysis import evaluation
from dev_system.analysis.alerts import Thresholds
from dev_system.analysis.periods import Window, parse_period
from dev_system.cli.common import ascii_only, error, filters, open_readonly, write
from dev_system.cli.parser import PROG
from dev_system.render import text as report


def thresholds(args: argparse.Namespace) -> Thresholds:
    """The thresholds of the project's settings, with the command's threshold flags on top."""
    return evaluation.resolve_thresholds(overrides={
        "success_rate_min": args.success_rate_min,
        "p95_latency_ms_max": args.p95_latency_ms_max,
        "daily_cost_usd_max": args.daily_cost_usd_max,
    })


def warn_failed_rules(failures: list[evaluation.RuleFailure]) -> None:
    """One warning line on stderr for each alert rule that raised (its alerts are missing)."""
    for failure in failures:
        error(f"{PROG}: warning: an alert plugin failed: {failure.detail}")


def cmd_metrics(args: argparse.Namespace) -> int:
    """``metrics``: the summary, alerts and an optional breakdown, in one format."""
    limits = thresholds(args)
    conn = open_readonly(args)
    try:
        wanted = filters(args, conn)  # the run name of --run resolved
        run_id = wanted.run_id
        window = args.period or (Window(label=f"Run {run_id}") if run_id else parse_period("1d"))
        result = evaluation.evaluate_window(conn, window, wanted, limits, breakdowns=(args.by,) if args.by else ())
    finally:
        conn.close()
    warn_failed_rules(result.rule_failures)
    alerts, scores = result.alerts, result.scores
    breakdown = (args.by, result.breakdowns[args.by]) if args.by else None
    if args.format == "json":
        write(report.render_json(result.summary, alerts, limits, breakdown, scores=scores))
    elif args.format == "csv":
        write(report.render_csv(result.summary, alerts, breakdown, scores=scores), exact=True)
    elif args.format == "markdown":
        text = report.render_markdown(result.summary, alerts, breakdown, scores=scores)
        if ascii_only():
            for icon in report.EMOJI.values():
                text = text.replace(icon + " ", "")
        write(text)
    else:
        write(report.render_text(result.summary, alerts, breakdown, ascii_only=ascii_only(), scores=scores))
    return 1 if alerts and args.fail_on_alert else 0
