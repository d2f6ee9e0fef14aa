"""The commands that show the events themselves: ``events``, ``trace`` and ``export``."""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Any

from dev_system import config
from dev_system.analysis.periods import Window
from dev_system.cli.common import db_path, error, filters, open_readonly, skipped, write
from dev_system.cli.parser import PROG, UsageError
from dev_system.render import text as report
from dev_system.store.queries import TABLE_COLUMNS, Filters, count_unusable, iter_events, iter_table_rows, list_events


def cmd_events(args: argparse.Namespace) -> int:
    """``events``: newest first, optionally failures only."""
    conn = open_readonly(args)
    try:
        wanted = filters(args, conn)
        events = list_events(conn, args.period, wanted, failed_only=args.failed,
                             limit=args.limit + 1 if args.limit else None)  # one more: is there more?
        more = bool(args.limit) and len(events) > args.limit
        # The unusable rows left out of what is listed: when the listing is cut, only those from
        # the oldest event shown on (the window's older rows would not be shown anyway).
        shown = args.period if not more else Window(events[args.limit - 1].timestamp, args.period.end)
        unusable = count_unusable(conn, shown, wanted)
    finally:
        conn.close()
    events = events[: args.limit or None]
    if args.format == "json":
        write(report.events_json(events))
    else:
        write(report.render_events(events, show_errors=args.failed or any(not e.success for e in events)))
        if more:
            write(f"(the {args.limit:,} newest shown; --limit N for more, --limit 0 for all)\n")
    if unusable:
        skipped(unusable, to_stderr=args.format == "json")
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    """``trace ID``: the tree of one trace in one run (``--run``, default: its latest)."""
    from dev_system.analysis import evaluation

    conn = open_readonly(args)
    try:
        try:
            view = evaluation.trace_view(conn, args.trace_id, args.run)
        except evaluation.RunNotFound as exc:
            raise UsageError(str(exc)) from None
        unusable = count_unusable(conn, Window(), Filters(trace_id=args.trace_id, run_id=view.run_id))
    finally:
        conn.close()
    events = view.events
    if unusable:
        skipped(unusable, to_stderr=args.format == "json" or not events)
    if not events:
        where = f"run {view.run_id} of " if view.named else ""
        error(f"{PROG}: no events with trace id {args.trace_id!r} in {where}{db_path(args)}")
        return 1
    if args.format == "json":
        write(report.trace_json(events))
    else:
        write(report.render_trace(args.trace_id, events, run_id=view.run_id,
                                  other_runs=0 if view.named else view.other_runs))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``export``: the events of a period as JSON lines or CSV, or as OTLP spans (``--format otlp``)."""
    if args.format == "otlp":
        return _export_otlp(args)
    conn = open_readonly(args)
    what = "event"
    try:
        if args.scores:  # one table per export: a line or row always has one shape
            from dev_system.store.scores import SCORE_COLUMNS

            events = _scores(conn, args)
            write_events = (functools.partial(report.write_csv, columns=SCORE_COLUMNS) if args.format == "csv"
                            else report.write_jsonl)
            what = "score"
        elif args.format == "csv":  # the table's columns, id and created_at included
            events: Any = iter_table_rows(conn, args.period, filters(args, conn))
            write_events: Any = functools.partial(report.write_csv, columns=TABLE_COLUMNS)
        else:
            events = iter_events(conn, args.period, filters(args, conn))
            write_events = report.write_jsonl
        if args.output is None:
            write_events(events, sys.stdout)
            sys.stdout.flush()
        else:
            try:
                with open(args.output, "w", encoding="utf-8", newline="") as handle:
                    count = write_events(events, handle)
            except (OSError, ValueError) as exc:  # ValueError: a path holding a NUL
                raise UsageError(f"cannot write {args.output}: {getattr(exc, 'strerror', None) or exc}") from None
            error(f"Exported {count:,} {what}{'' if count == 1 else 's'} to {args.output}")
    finally:
        conn.close()
    return 0


def _event_only_filters(wanted: Filters) -> bool:
    """Whether a filter that scores do not have (agent, event type, function) is set."""
    return any(value is not None for value in (wanted.agent, wanted.event_type, wanted.function))


def _scores(conn: Any, args: argparse.Namespace) -> list[Any]:
    """The scores of the period, of the run and trace the filters name (the other filters are
    about events: a score has no agent, event type or function)."""
    from dev_system.store.scores import scores_between

    wanted = filters(args, conn)
    return scores_between(conn, args.period.start, args.period.end, run_id=wanted.run_id, trace_id=wanted.trace_id)


def _export_otlp(args: argparse.Namespace) -> int:
    """``export --format otlp``: send the stored events as spans now (exit 1 if the collector did not take them)."""
    from dev_system.record import otlp  # the OTLP exporter: imported when spans are sent

    if args.output is not None:
        raise UsageError("--output does not go with --format otlp (the spans are sent to --endpoint)")
    endpoint = args.endpoint or otlp.resolve_endpoint(config.load().otlp_endpoint)
    if not endpoint:
        raise UsageError("no OTLP endpoint: give --endpoint URL, or set otlp-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT")
    conn = open_readonly(args)
    try:
        scores = [] if _event_only_filters(filters(args, conn)) else _scores(conn, args)
        outcome = otlp.export_events(iter_events(conn, args.period, filters(args, conn)), endpoint, scores=scores)
    except otlp.OtelUnavailable as exc:
        raise UsageError(str(exc)) from None
    finally:
        conn.close()
    if outcome.failed:
        error(f"{PROG}: error: {outcome.endpoint} did not accept {outcome.failed:,} of "
              f"{outcome.sent + outcome.failed:,} spans (unreachable, slow or refusing); {outcome.sent:,} sent")
        return 1
    error(f"Exported {outcome.sent:,} span{'' if outcome.sent == 1 else 's'} to {outcome.endpoint}")
    return 0
