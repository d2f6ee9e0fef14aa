"""The ``dev-system`` command: ``init``, ``metrics``, ``events``, ``trace``, ``export``, ``prune``,
``combine``, ``report``, ``runs``, ``compare``.

A thin front end: the figures come from :mod:`dev_system.analysis.metrics`, the alerts from
:mod:`dev_system.analysis.alerts`, the layout from :mod:`dev_system.render.text`. Exit status: 0 done,
1 an alert fired under ``--fail-on-alert`` (or a trace was not found), 2 bad input — always one
line on stderr, never a traceback. Reading commands open the database read-only. Everything
written for people (text, Markdown, tables, messages) goes through
:func:`~dev_system.render.formatting.printable`, so a stored name or a typed argument holding ESC,
BEL or CR shows as an escape; JSON and CSV are written exact.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any, NoReturn, Sequence

PROG = "dev-system"


class UsageError(Exception):
    """Bad input: reported as one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """argparse echoes the bad argument raw ('unrecognized arguments: a<newline>b', an ESC
        sequence): the message becomes one inert line, ``dev-system: error: ...``, exit status 2."""
        from dev_system.render.formatting import printable

        raise UsageError(f"{printable(message)} (see '{self.prog} --help')")


def _period(text: str) -> Any:
    from dev_system.analysis.periods import PeriodError, parse_period

    try:
        return parse_period(text)
    except PeriodError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


#: The longest ``prune --older-than``: its cut-off must stay a date a calendar can show.
MAX_DURATION_DAYS = 365_000
#: The largest count a flag takes: one below SQLite's largest integer (``events`` asks for one more).
MAX_COUNT = 2**63 - 2


def _duration(text: str) -> tuple[float, str]:
    from dev_system.analysis.periods import PeriodError, parse_duration

    try:
        seconds, label = parse_duration(text)
    except PeriodError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("unknown period", "unknown duration")) from None
    if seconds > MAX_DURATION_DAYS * 86400:
        raise argparse.ArgumentTypeError(f"duration {text!r} is too long: at most {MAX_DURATION_DAYS}d (1,000 years)")
    return seconds, label


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to {MAX_COUNT:,}, not {text!r}")
    return value


def _text(text: str) -> str:
    """A name to match stored text against: a byte that is not UTF-8 on the command line arrives
    as a lone surrogate, which no stored name holds and sqlite3 cannot bind; say so in one line."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not UTF-8 text") from None
    return text


def _version() -> str:
    from dev_system import __version__

    return __version__


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH", type=Path,
                        help="the telemetry database (default: .dev-system/data/telemetry.db of the project)")


def _add_filters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters (exact match)")
    group.add_argument("--agent", type=_text, help="only this agent_name")
    group.add_argument("--event-type", type=_text, help="only this event_type (model_call, tool_call, ...)")
    group.add_argument("--function", type=_text, help="only this function_name")
    group.add_argument("--trace", type=_text, help="only this trace_id")
    group.add_argument("--run", type=_text, help="only this run_id (one pytest session)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``dev-system``."""
    from dev_system.analysis.metrics import BREAKDOWN_KEYS
    from dev_system.analysis.periods import PERIOD_HELP
    from dev_system.render.text import FORMATS

    parser = _Parser(prog=PROG, description="Telemetry for AI-agent development: set up, report, debug, export.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    init = commands.add_parser("init", help="set the project up (init --telemetry)",
                               description="Create .dev-system/ with telemetry enabled and an empty database.")
    init.add_argument("--telemetry", action="store_true", help="enable telemetry recording for this project")
    _add_db(init)

    metrics = commands.add_parser("metrics", help="figures and alerts over a period",
                                  description="Success rate, latency, cost, top agent, failures and alerts.")
    metrics.add_argument("--period", type=_period, default="1d", help=f"{PERIOD_HELP} (default: 1d)")
    metrics.add_argument("--by", choices=tuple(BREAKDOWN_KEYS), help="add a breakdown table by this key")
    metrics.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    metrics.add_argument("--fail-on-alert", action="store_true", help="exit with status 1 when an alert fires")
    metrics.add_argument("--success-rate-min", type=float, metavar="PERCENT",
                         help="alert below this success rate (default 90)")
    metrics.add_argument("--p95-latency-ms-max", type=float, metavar="MS", help="alert above this p95 latency (default 3000)")
    metrics.add_argument("--daily-cost-usd-max", type=float, metavar="USD",
                         help="alert when one day costs more (default 10)")
    _add_filters(metrics)
    _add_db(metrics)

    events = commands.add_parser("events", help="raw events, newest first",
                                 description="The raw events, newest first; --failed shows failures with their errors.")
    events.add_argument("--period", type=_period, default="all", help=f"{PERIOD_HELP} (default: all)")
    events.add_argument("--failed", action="store_true", help="only failed calls, with error types and messages")
    events.add_argument("--limit", type=_positive_int, default=50, help="at most this many (default 50; 0: no limit)")
    events.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    _add_filters(events)
    _add_db(events)

    trace = commands.add_parser("trace", help="one trace as a tree of calls",
                                description="One trace as a tree of calls with latency, tokens, cost and errors.")
    trace.add_argument("trace_id", metavar="ID", type=_text, help="the trace id")
    trace.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    _add_db(trace)

    export = commands.add_parser("export", help="the events of a period as JSON lines, CSV or OTLP spans",
                                 description="Write the events of a period, oldest first, as JSON lines or CSV, "
                                             "or send them to an OTLP/HTTP endpoint as OpenTelemetry spans.")
    export.add_argument("--format", choices=("jsonl", "csv", "otlp"), default="jsonl",
                        help="output format (default: jsonl); otlp sends the events as OpenTelemetry spans")
    export.add_argument("--endpoint", metavar="URL",
                        help="with --format otlp: the OTLP/HTTP endpoint (default: otlp-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT)")
    export.add_argument("--period", type=_period, default="all", help=f"{PERIOD_HELP} (default: all)")
    export.add_argument("--output", "-o", type=Path, metavar="FILE", help="write to FILE instead of standard output")
    _add_filters(export)
    _add_db(export)

    prune = commands.add_parser("prune", help="delete old events",
                                description="Delete the events older than a duration; reports what it removed.")
    prune.add_argument("--older-than", type=_duration, required=True, metavar="DURATION",
                       help="N followed by m, h, d or w, e.g. 90d")
    prune.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    _add_db(prune)
    _add_combine(commands)
    _add_report(commands)
    _add_runs(commands)
    return parser


def _db_path(args: argparse.Namespace) -> Path:
    if args.db is not None:
        return args.db
    from dev_system.config import default_db_path

    return default_db_path()


def _open_readonly(args: argparse.Namespace) -> sqlite3.Connection:
    from dev_system.store import db as store

    return store.connect(_db_path(args), readonly=True)


def _filters(args: argparse.Namespace) -> Any:
    from dev_system.store.queries import Filters

    return Filters(agent=args.agent, event_type=args.event_type, function=args.function,
                   trace_id=args.trace, run_id=args.run)


def _write(text: str, *, exact: bool = False) -> None:
    """Write ``text`` to stdout; control characters as visible escapes unless ``exact`` (CSV)."""
    from dev_system.render.formatting import printable

    sys.stdout.write(text if exact else printable(text, keep_newlines=True))
    sys.stdout.flush()


def _error(text: str) -> None:
    """One line on stderr, control characters (a newline too) as visible escapes."""
    from dev_system.render.formatting import printable

    print(printable(text), file=sys.stderr)


def _ascii_only() -> bool:
    from dev_system.render.text import EMOJI, can_encode

    return not can_encode("".join(EMOJI.values()), getattr(sys.stdout, "encoding", None))


def cmd_init(args: argparse.Namespace) -> int:
    """``init --telemetry``: the folder, its config and the database; idempotent."""
    from dev_system import config
    from dev_system.store import db as store

    if not args.telemetry:
        raise UsageError("init: nothing to do; run 'dev-system init --telemetry'")
    root = config.find_project_root()
    folder = root / config.DATA_DIR
    config_path = root / config.FOLDER_CONFIG
    db_path = args.db if args.db is not None else config.default_db_path(root)
    done: list[str] = []
    if not folder.is_dir():
        folder.mkdir(mode=0o700, parents=True)
        os.chmod(folder, 0o700)
        done.append(f"created {folder}/ (private)")
    if not config_path.is_file():
        fd = os.open(config_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("[telemetry]\nenabled = true\n")
        done.append(f"wrote {config_path} (telemetry enabled)")
    elif not config.folder_enabled(root):
        text = config_path.read_text(encoding="utf-8")
        if "[telemetry]" in text:
            raise UsageError(f"{config_path} has a [telemetry] table without 'enabled = true': set it there")
        with open(config_path, "a", encoding="utf-8") as handle:
            handle.write(("" if text.endswith("\n") or not text else "\n") + "\n[telemetry]\nenabled = true\n")
        done.append(f"enabled telemetry in {config_path}")
    done.extend(_init_db(Path(db_path), store))
    if done:
        for line in done:
            _write(f"{line[0].upper()}{line[1:]}\n")
    else:
        _write("Telemetry is already set up; nothing changed.\n")
    _write(f"Config:   {config_path}\nDatabase: {db_path}\n")
    _write("Decorated calls are now recorded. See them with: dev-system metrics --period 1d\n")
    return 0


def _init_db(path: Path, store: Any) -> list[str]:
    if path.is_file() and path.stat().st_size > 0:
        conn = store.connect(path, readonly=True)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
        if version == store.SCHEMA_VERSION:
            return []
        store.connect(path).close()
        return [f"migrated {path} to schema version {store.SCHEMA_VERSION}"]
    store.connect(path).close()
    os.chmod(path, 0o600)
    return [f"created the database {path} (private)"]


def _thresholds(args: argparse.Namespace) -> Any:
    from dev_system import config
    from dev_system.analysis.alerts import Thresholds

    overrides = {
        "success_rate_min": args.success_rate_min,
        "p95_latency_ms_max": args.p95_latency_ms_max,
        "daily_cost_usd_max": args.daily_cost_usd_max,
    }
    return Thresholds.from_settings(config.load(overrides))


def _safe_rules() -> list[Any]:
    from dev_system.analysis.alerts import plugin_rules

    def guard(rule: Any) -> Any:
        def run(summary: Any, thresholds: Any) -> Any:
            try:
                return list(rule(summary, thresholds) or ())
            except Exception as exc:  # a broken plugin must not hide the built-in alerts
                _error(f"{PROG}: warning: an alert plugin failed: {type(exc).__name__}: {exc}")
                return []
        return run

    return [guard(rule) for rule in plugin_rules()]


def cmd_metrics(args: argparse.Namespace) -> int:
    """``metrics``: the summary, alerts and an optional breakdown, in one format."""
    from dev_system.render import text as report
    from dev_system.analysis.alerts import evaluate_alerts
    from dev_system.analysis.metrics import compute_breakdown, compute_summary

    thresholds = _thresholds(args)
    conn = _open_readonly(args)
    try:
        filters = _filters(args)
        summary = compute_summary(conn, args.period, filters)
        breakdown = (args.by, compute_breakdown(conn, args.period, filters, args.by)) if args.by else None
    finally:
        conn.close()
    alerts = evaluate_alerts(summary, thresholds, _safe_rules())
    if args.format == "json":
        _write(report.render_json(summary, alerts, thresholds, breakdown))
    elif args.format == "csv":
        _write(report.render_csv(summary, alerts, breakdown), exact=True)
    elif args.format == "markdown":
        text = report.render_markdown(summary, alerts, breakdown)
        if _ascii_only():
            for icon in report.EMOJI.values():
                text = text.replace(icon + " ", "")
        _write(text)
    else:
        _write(report.render_text(summary, alerts, breakdown, ascii_only=_ascii_only()))
    return 1 if alerts and args.fail_on_alert else 0


def cmd_events(args: argparse.Namespace) -> int:
    """``events``: newest first, optionally failures only."""
    from dev_system.render import text as report
    from dev_system.store.queries import count_unusable, list_events

    conn = _open_readonly(args)
    try:
        events = list_events(conn, args.period, _filters(args), failed_only=args.failed,
                             limit=args.limit + 1 if args.limit else None)  # one more: is there more?
        skipped = count_unusable(conn, args.period, _filters(args))
    finally:
        conn.close()
    more = bool(args.limit) and len(events) > args.limit
    events = events[: args.limit or None]
    if args.format == "json":
        _write(report.events_json(events))
    else:
        _write(report.render_events(events, show_errors=args.failed or any(not e.success for e in events)))
        if more:
            _write(f"(the {args.limit:,} newest shown; --limit N for more, --limit 0 for all)\n")
    if skipped:
        _skipped(skipped, to_stderr=args.format == "json")
    return 0


def _skipped(count: int, *, to_stderr: bool) -> None:
    """Say how many rows were left out as unusable: a line of the text output, or a note on
    stderr when stdout is JSON."""
    from dev_system.render.formatting import plural
    from dev_system.render.text import UNUSABLE

    note = f"{plural(count, 'unusable row')} skipped ({UNUSABLE})"
    if to_stderr:
        _error(f"{PROG}: note: {note}")
    else:
        _write(f"{note}\n")


def cmd_trace(args: argparse.Namespace) -> int:
    """``trace ID``: the tree of one trace."""
    from dev_system.render import text as report
    from dev_system.analysis.periods import Window
    from dev_system.store.queries import Filters, count_unusable, trace_events

    conn = _open_readonly(args)
    try:
        events = trace_events(conn, args.trace_id)
        skipped = count_unusable(conn, Window(), Filters(trace_id=args.trace_id))
    finally:
        conn.close()
    if skipped:
        _skipped(skipped, to_stderr=args.format == "json" or not events)
    if not events:
        _error(f"{PROG}: no events with trace id {args.trace_id!r} in {_db_path(args)}")
        return 1
    if args.format == "json":
        _write(report.trace_json(events))
    else:
        _write(report.render_trace(args.trace_id, events))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``export``: the events of a period as JSON lines or CSV, or as OTLP spans (``--format otlp``)."""
    from dev_system.render import text as report
    from dev_system.store.queries import iter_events

    if args.format == "otlp":
        return _export_otlp(args)
    conn = _open_readonly(args)
    try:
        events = iter_events(conn, args.period, _filters(args))
        write = report.write_csv if args.format == "csv" else report.write_jsonl
        if args.output is None:
            write(events, sys.stdout)
            sys.stdout.flush()
        else:
            try:
                with open(args.output, "w", encoding="utf-8", newline="") as handle:
                    count = write(events, handle)
            except (OSError, ValueError) as exc:  # ValueError: a path holding a NUL
                raise UsageError(f"cannot write {args.output}: {getattr(exc, 'strerror', None) or exc}") from None
            _error(f"Exported {count:,} event{'' if count == 1 else 's'} to {args.output}")
    finally:
        conn.close()
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    """``prune --older-than``: delete old events (a writer: the only command that changes the data)."""
    from dev_system.store import db as store
    from dev_system.render.formatting import plural
    from dev_system.store.queries import prune
    from dev_system.render.text import local_time

    seconds, label = args.older_than
    path = _db_path(args)
    store.connect(path, readonly=True).close()  # the checks and messages of a reader, before writing
    conn = store.connect(path)
    try:
        result = prune(conn, time.time() - seconds, dry_run=args.dry_run)
    finally:
        conn.close()
    verb = "Would remove" if result.dry_run else "Removed"
    line = f"{verb} {plural(result.events, 'event')} older than {label} (before {local_time(result.cutoff)})"
    if result.dropped_records:
        line += f" and {plural(result.dropped_records, 'dropped-event record')}"
    _write(line + f" from {path}\n")
    return 0


# -- combine and the OTLP export (issue 8) --------------------------------------------------------


def _add_combine(commands: Any) -> None:
    combine = commands.add_parser(
        "combine", help="merge databases from CI jobs into one",
        description="Merge telemetry databases (files, quoted glob patterns, folders) into one, like "
                    "'coverage combine': events, runs and test results each once however often merged.")
    combine.add_argument("inputs", nargs="+", metavar="DB",
                         help="a database, a glob pattern such as 'shards/**/*.db', or a folder (every *.db below it)")
    combine.add_argument("--into", required=True, type=Path, metavar="PATH",
                         help="the database to merge into (created, or migrated to the current schema)")
    combine.add_argument("--delete-inputs", action="store_true", help="delete the inputs once they are merged")
    combine.add_argument("--quiet", "-q", action="store_true", help="print only the summary line")


def cmd_combine(args: argparse.Namespace) -> int:
    """``combine A.db B.db ... --into merged.db``."""
    from dev_system.store.combine import CombineError, combine
    from dev_system.render.formatting import plural

    try:
        result = combine(args.inputs, args.into, delete_inputs=args.delete_inputs,
                         message=None if args.quiet else (lambda line: _write(line + "\n")))
    except CombineError as exc:
        raise UsageError(str(exc)) from None
    merged = sum(1 for item in result.inputs if item.status == "combined")
    line = (f"Combined {plural(merged, 'database')} into {result.output}: {plural(result.total_events, 'event')}, "
            f"{plural(result.total_runs, 'run')}, {plural(result.total_test_results, 'test result')}")
    if result.deleted:
        line += f"; deleted {plural(len(result.deleted), 'input')}"
    _write(line + "\n")
    return 0


def _export_otlp(args: argparse.Namespace) -> int:
    """``export --format otlp``: send the stored events as spans now (exit 1 if the collector did not take them)."""
    from dev_system import config
    from dev_system.record import otlp as otel
    from dev_system.store.queries import iter_events

    if args.output is not None:
        raise UsageError("--output does not go with --format otlp (the spans are sent to --endpoint)")
    endpoint = args.endpoint or otel.resolve_endpoint(config.load().otlp_endpoint)
    if not endpoint:
        raise UsageError("no OTLP endpoint: give --endpoint URL, or set otlp-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT")
    conn = _open_readonly(args)
    try:
        outcome = otel.export_events(iter_events(conn, args.period, _filters(args)), endpoint)
    except otel.OtelUnavailable as exc:
        raise UsageError(str(exc)) from None
    finally:
        conn.close()
    if outcome.failed:
        _error(f"{PROG}: error: {outcome.endpoint} did not accept {outcome.failed:,} of "
               f"{outcome.sent + outcome.failed:,} spans (unreachable, slow or refusing); {outcome.sent:,} sent")
        return 1
    _error(f"Exported {outcome.sent:,} span{'' if outcome.sent == 1 else 's'} to {outcome.endpoint}")
    return 0


# -- the HTML report (issue 9) ----------------------------------------------------------------------


def _add_report(commands: Any) -> None:
    from dev_system.analysis.periods import PERIOD_HELP

    report = commands.add_parser(
        "report", help="write a self-contained HTML report with charts",
        description="Write one HTML file (cards, alerts, charts, tables, traces) that opens without a network: "
                    "the events of a period, or of one pytest run (--run) against its baseline.")
    report.add_argument("--html", required=True, type=Path, metavar="PATH", help="the HTML file to write")
    report.add_argument("--period", type=_period, default=None,
                        help=f"{PERIOD_HELP} (default: 30d; with --run: the whole run)")
    report.add_argument("--baseline", metavar="RUN", type=_text,
                        help="with --run: the run to compare with (default: the previous run of the same tests; "
                             "'none' for no comparison)")
    report.add_argument("--title", help="the page title")
    report.add_argument("--fail-on-alert", action="store_true", help="exit with status 1 when an alert fires")
    report.add_argument("--success-rate-min", type=float, metavar="PERCENT",
                        help="alert below this success rate (default 90)")
    report.add_argument("--p95-latency-ms-max", type=float, metavar="MS", help="alert above this p95 latency (default 3000)")
    report.add_argument("--daily-cost-usd-max", type=float, metavar="USD",
                        help="alert when one day (with --run: the run) costs more (default 10)")
    _add_filters(report)
    _add_db(report)


def cmd_report(args: argparse.Namespace) -> int:
    """``report --html PATH``: the HTML report of a period, or of a run against its baseline."""
    import dataclasses

    from dev_system.render.html import page as html_report
    from dev_system.analysis.periods import Window, parse_period
    from dev_system.store.queries import table_columns

    thresholds = _thresholds(args)
    filters = _filters(args)
    conn = _open_readonly(args)
    try:
        run_id = baseline_id = None
        if args.run:
            from dev_system.analysis.compare import find_baseline
            from dev_system.store.runs import RunNotFound, resolve_run

            try:
                try:
                    run_id = resolve_run(conn, args.run).run_id
                except RunNotFound:  # events of a run whose record is missing (an older plugin, a merge)
                    if "run_id" not in table_columns(conn) or conn.execute(
                            "SELECT 1 FROM telemetry_events WHERE run_id = ? LIMIT 1", (args.run,)).fetchone() is None:
                        raise
                    run_id = args.run
                if args.baseline and args.baseline.lower() != "none":
                    baseline_id = resolve_run(conn, args.baseline).run_id
                elif not args.baseline:
                    found = find_baseline(conn, run_id)
                    baseline_id = None if found is None else found.run_id
            except RunNotFound as exc:
                raise UsageError(str(exc)) from None
            filters = dataclasses.replace(filters, run_id=run_id)
        elif args.baseline:
            raise UsageError("--baseline goes with --run RUN")
        window = args.period or (Window(label=f"Run {run_id}") if run_id else parse_period("30d"))
        data = html_report.collect_report(
            conn, window, filters, thresholds, extra_rules=_safe_rules(), cost_scope="total" if run_id else "day",
            run_id=run_id, baseline_run_id=baseline_id, title=args.title, source=str(_db_path(args)))
    finally:
        conn.close()
    try:
        html_report.write_html_report(args.html, data)
    except html_report.AssetsMissing as exc:
        raise UsageError(str(exc)) from None
    except (OSError, ValueError) as exc:  # ValueError: a path holding a NUL
        raise UsageError(f"cannot write {args.html}: {getattr(exc, 'strerror', None) or exc}") from None
    from dev_system.render.formatting import plural

    line = f"Wrote {args.html}: {plural(data['events'], 'event')} ({window.label})"
    if data["alerts"]:
        line += f", {plural(len(data['alerts']), 'alert')}"
    _write(line + "\n")
    return 1 if data["alerts"] and args.fail_on_alert else 0


# -- test runs and their comparison (issue 5) -----------------------------------------------------


def _add_runs(commands: Any) -> None:
    runs = commands.add_parser("runs", help="recent pytest runs recorded with --telemetry",
                               description="The pytest runs recorded with --telemetry, newest first.")
    runs.add_argument("--limit", type=_positive_int, default=20, help="at most this many (default 20; 0: no limit)")
    runs.add_argument("--branch", type=_text, help="only the runs of this git branch")
    runs.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    _add_db(runs)
    compare = commands.add_parser(
        "compare", help="compare two pytest runs: cost, tokens, calls, latency",
        description="Compare run NEW with run BASE: the totals and the tests that changed. A run is an id, a "
                    "unique prefix of one, 'latest', 'latest~N' or 'previous'.")
    compare.add_argument("base", metavar="BASE", type=_text, help="the baseline run")
    compare.add_argument("new", metavar="NEW", nargs="?", default="latest", type=_text,
                         help="the run to judge (default: latest)")
    compare.add_argument("--fail", metavar="LIMITS",
                         help="exit with status 1 when NEW regressed beyond LIMITS, e.g. cost:10%%,p95:20%%,calls:0")
    compare.add_argument("--tests", type=_positive_int, default=10,
                         help="list at most this many changed tests (default 10; 0: none)")
    compare.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    _add_db(compare)


def cmd_runs(args: argparse.Namespace) -> int:
    """``runs``: recent runs with their status, tests, events and cost."""
    import json

    from dev_system.store import runs

    conn = _open_readonly(args)
    try:
        records = runs.list_runs(conn, limit=args.limit or None, branch=args.branch)
        totals = runs.event_totals(conn, [r.run_id for r in records])
    finally:
        conn.close()
    if args.format == "json":
        _write(json.dumps([{**r.as_dict(), "events": totals.get(r.run_id, runs.RunTotals()).events,
                            "cost_usd": totals.get(r.run_id, runs.RunTotals()).cost_usd,
                            "unknown_cost_events": totals.get(r.run_id, runs.RunTotals()).unknown_cost}
                           for r in records], indent=2) + "\n")
    elif not records:
        _write(f"No pytest runs in {_db_path(args)}: run 'pytest --telemetry' first.\n")
    else:
        _write(runs.runs_table(records, totals) + "\n")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """``compare BASE [NEW]``: totals and per-test changes; ``--fail`` judges the regressions."""
    import json

    from dev_system.analysis import compare
    from dev_system.store import runs

    limits = []
    if args.fail:
        try:
            limits = compare.parse_limits(args.fail)
        except compare.LimitError as exc:
            raise UsageError(f"--fail: {exc}") from None
    conn = _open_readonly(args)
    try:
        try:
            base, new = runs.resolve_run(conn, args.base), runs.resolve_run(conn, args.new)
        except runs.RunNotFound as exc:
            raise UsageError(str(exc)) from None
        if base.run_id == new.run_id:
            raise UsageError(f"{args.base!r} and {args.new!r} are the same run ({base.run_id})")
        comparison = compare.compare_runs(conn, base.run_id, new.run_id)
    finally:
        conn.close()
    found = compare.regressions(comparison, limits)
    if args.format == "json":
        _write(json.dumps(comparison.as_dict(found), indent=2) + "\n")
    else:
        lines = compare.comparison_lines(comparison, max_tests=args.tests)
        lines.extend(f"FAIL {r.message}" for r in found)
        _write("\n".join(lines) + "\n")
    return 1 if found else 0


COMMANDS = {
    "init": cmd_init,
    "metrics": cmd_metrics,
    "events": cmd_events,
    "trace": cmd_trace,
    "export": cmd_export,
    "prune": cmd_prune,
    "combine": cmd_combine,
    "report": cmd_report,
    "runs": cmd_runs,
    "compare": cmd_compare,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dev-system`` with ``argv`` (default: the process arguments); returns the exit status."""
    from dev_system.config import ConfigError
    from dev_system.store.db import StoreError

    try:
        sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        pass
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            raise UsageError(f"choose a command: {', '.join(COMMANDS)} (see '{PROG} --help')")
        return COMMANDS[args.command](args)
    except (UsageError, ConfigError, StoreError) as exc:
        _error(f"{PROG}: error: {exc}")  # one line: a path or name in the message is made inert
        return 2
    except sqlite3.Error as exc:
        _error(f"{PROG}: error: the telemetry database cannot be read: {exc}")
        return 2
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
