"""The command line of ``dev-system``: its parser, the types of its arguments, and which module
runs each command.

Imports only light modules at the top (argparse, the period parser, the text helpers), so that
importing the command stays cheap; the formats and breakdown keys the help lists are read from
their owners when the parser is built.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from dev_system import __version__, config
from dev_system.analysis.periods import DURATION_HELP, PERIOD_HELP, PeriodError, parse_duration, parse_period
from dev_system.formatting import printable

PROG = "dev-system"

#: The largest count a flag takes: one below SQLite's largest integer (``events`` asks for one more).
MAX_COUNT = 2**63 - 2

#: Each command and the module of ``dev_system.cli`` whose ``cmd_<command>`` runs it.
COMMANDS = {
    "init": "database",
    "metrics": "metrics",
    "events": "events",
    "trace": "events",
    "export": "events",
    "prune": "database",
    "combine": "database",
    "report": "report",
    "runs": "runs",
    "compare": "runs",
    "scores": "history",
    "history": "history",
}


#: How a run is named wherever a command takes one.
RUN_NAMES = "a run id, a unique prefix of one, latest, latest~N or previous"


class UsageError(Exception):
    """Bad input: reported as one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """argparse echoes the bad argument raw ('unrecognized arguments: a<newline>b', an ESC
        sequence): the message becomes one inert line, ``dev-system: error: ...``, exit status 2."""
        raise UsageError(f"{printable(message)} (see '{self.prog} --help')")

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        """As argparse's, but arguments left over after a command point to that command's help
        (argparse reports them on the main parser: ``see 'dev-system --help'``)."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(parsed, "command", None)
            prog = f"{self.prog} {command}" if command else self.prog
            raise UsageError(f"unrecognized arguments: {printable(' '.join(extras))} (see '{prog} --help')")
        return parsed


def _period(text: str) -> Any:
    """A ``--period`` value: a :class:`~dev_system.analysis.periods.Window`."""
    try:
        return parse_period(text)
    except PeriodError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _duration(text: str) -> tuple[float, str]:
    """A ``--older-than`` value: ``(seconds, label)`` (see :data:`~dev_system.analysis.periods.DURATION_HELP`)."""
    try:
        return parse_duration(text)
    except PeriodError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    """A count flag: a whole number from 0 to :data:`MAX_COUNT`."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to {MAX_COUNT:,}, not {text!r}")
    return value


def _setting(key: str) -> Any:
    """The type of a flag that sets the setting ``key``: its value checked as in any other place."""
    def parse(text: str) -> Any:
        try:
            return config.convert(key, text)
        except config.ConfigError:
            raise argparse.ArgumentTypeError(f"expected {config.EXPECTED[key]}, not {text!r}") from None
    parse.__name__ = key  # argparse names the type in some messages
    return parse


def _url(text: str) -> str:
    """An ``--endpoint``: an http:// or https:// URL."""
    try:
        return config.http_url(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an http:// or https:// URL, not {config.url_without_credentials(text)!r}") from None


def _text(text: str) -> str:
    """A name to match stored text against: a byte that is not UTF-8 on the command line arrives
    as a lone surrogate, which no stored name holds and sqlite3 cannot bind; say so in one line."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not UTF-8 text") from None
    return text


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH", type=Path,
                        help="the telemetry database (default: .dev-system/data/telemetry.db of the project)")


def _add_filters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters (exact match)")
    group.add_argument("--agent", type=_text, help="only this agent_name")
    group.add_argument("--event-type", type=_text, help="only this event_type (model_call, tool_call, ...)")
    group.add_argument("--function", type=_text, help="only this function_name")
    group.add_argument("--trace", type=_text, help="only this trace_id")
    group.add_argument("--run", type=_text, metavar="RUN", help=f"only the events of this pytest run: {RUN_NAMES}")


def _add_thresholds(parser: argparse.ArgumentParser, cost_help: str) -> None:
    parser.add_argument("--fail-on-alert", action="store_true", help="exit with status 1 when an alert fires")
    parser.add_argument("--success-rate-min", type=_setting("success_rate_min"), metavar="PERCENT",
                        help="alert below this success rate, 0 to 100 (default 90)")
    parser.add_argument("--p95-latency-ms-max", type=_setting("p95_latency_ms_max"), metavar="MS",
                        help="alert above this p95 latency (default 3000)")
    parser.add_argument("--daily-cost-usd-max", type=_setting("daily_cost_usd_max"), metavar="USD", help=cost_help)


def _command_of(argv: Sequence[str] | None) -> str | None:
    """The command ``argv`` names when its first argument is one (argparse then dispatches to it
    whatever follows), else ``None``."""
    return argv[0] if argv and argv[0] in COMMANDS else None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``dev-system``. Given a command line ``argv`` whose first argument is
    a command, only that command's parser is added: it parses that line exactly as the full parser
    does, at a fraction of the cost. Else (no ``argv``, ``--help``, no command, an unknown one)
    every command's."""
    parser = _Parser(prog=PROG, description="Telemetry for AI-agent development: set up, report, debug, export.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    named = _command_of(argv)
    for name in COMMANDS if named is None else (named,):
        _ADD_COMMAND[name](commands)
    return parser


def _add_init(commands: Any) -> None:
    init = commands.add_parser("init", help="set the project up (init --telemetry)",
                               description="Create .dev-system/ with telemetry enabled and an empty database.")
    init.add_argument("--telemetry", action="store_true", help="enable telemetry recording for this project")
    _add_db(init)


def _add_metrics(commands: Any) -> None:
    from dev_system.analysis.metrics import BREAKDOWN_KEYS  # heavier: imported when this parser is built
    from dev_system.render.text import FORMATS
    metrics = commands.add_parser("metrics", help="figures and alerts over a period",
                                  description="Success rate, latency, cost, top agent, failures and alerts.")
    metrics.add_argument("--period", type=_period, default=None,
                         help=f"{PERIOD_HELP} (default: 1d; with --run: the whole run)")
    metrics.add_argument("--by", choices=tuple(BREAKDOWN_KEYS), help="add a breakdown table by this key")
    metrics.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    _add_thresholds(metrics, "alert when one day costs more (default 10)")
    _add_filters(metrics)
    _add_db(metrics)


def _add_events(commands: Any) -> None:
    events = commands.add_parser("events", help="raw events, newest first",
                                 description="The raw events, newest first; --failed shows failures with their errors.")
    events.add_argument("--period", type=_period, default="all", help=f"{PERIOD_HELP} (default: all)")
    events.add_argument("--failed", action="store_true", help="only failed calls, with error types and messages")
    events.add_argument("--limit", type=_positive_int, default=50, help="at most this many (default 50; 0: no limit)")
    events.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    _add_filters(events)
    _add_db(events)


def _add_trace(commands: Any) -> None:
    trace = commands.add_parser("trace", help="one trace as a tree of calls",
                                description="One trace as a tree of calls with latency, tokens, cost and errors.")
    trace.add_argument("trace_id", metavar="ID", type=_text, help="the trace id")
    trace.add_argument("--run", type=_text, metavar="RUN",
                       help=f"the run whose calls to show: {RUN_NAMES} (default: the latest run with this trace)")
    trace.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    _add_db(trace)


def _add_export(commands: Any) -> None:
    export = commands.add_parser("export", help="the events of a period as JSON lines, CSV or OTLP spans",
                                 description="Write the events of a period, oldest first, as JSON lines or CSV "
                                             "(the quality scores instead with --scores), or send them to an "
                                             "OTLP/HTTP endpoint as OpenTelemetry spans (the scores with them).")
    export.add_argument("--format", choices=("jsonl", "csv", "otlp"), default="jsonl",
                        help="output format (default: jsonl); otlp sends the events as OpenTelemetry spans")
    export.add_argument("--endpoint", metavar="URL", type=_url,
                        help="with --format otlp: the OTLP/HTTP endpoint (default: otlp-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT)")
    export.add_argument("--period", type=_period, default="all", help=f"{PERIOD_HELP} (default: all)")
    export.add_argument("--output", "-o", type=Path, metavar="FILE", help="write to FILE instead of standard output")
    export.add_argument("--scores", action="store_true",
                        help="export the quality scores instead of the events (jsonl, csv; --run and --trace "
                             "filter them)")
    _add_filters(export)
    _add_db(export)


def _add_prune(commands: Any) -> None:
    prune = commands.add_parser("prune", help="delete old events",
                                description="Delete the events older than a duration; reports what it removed.")
    prune.add_argument("--older-than", type=_duration, required=True, metavar="DURATION",
                       help=f"{DURATION_HELP}, e.g. 90d")
    prune.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    _add_db(prune)


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


def _add_report(commands: Any) -> None:
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
    _add_thresholds(report, "alert when one day (with --run: the run) costs more (default 10)")
    _add_filters(report)
    _add_db(report)


def _add_runs(commands: Any) -> None:
    runs = commands.add_parser("runs", help="recent pytest runs recorded with --telemetry",
                               description="The pytest runs recorded with --telemetry, newest first.")
    runs.add_argument("--limit", type=_positive_int, default=20, help="at most this many (default 20; 0: no limit)")
    runs.add_argument("--branch", type=_text, help="only the runs of this git branch")
    runs.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    _add_db(runs)


def _add_compare(commands: Any) -> None:
    compare = commands.add_parser(
        "compare", help="compare two pytest runs: cost, tokens, calls, latency, scores",
        description=f"Compare run NEW with run BASE: the totals and the tests that changed. A run is {RUN_NAMES}.")
    compare.add_argument("base", metavar="BASE", type=_text, help="the baseline run")
    compare.add_argument("new", metavar="NEW", nargs="?", default="latest", type=_text,
                         help="the run to judge (default: latest)")
    compare.add_argument("--fail", metavar="LIMITS",
                         help="exit with status 1 when NEW regressed beyond LIMITS, e.g. cost:10%%,p95:20%%,calls:0")
    compare.add_argument("--tests", type=_positive_int, default=10,
                         help="list at most this many changed tests (default 10; 0: none)")
    compare.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    _add_db(compare)


def _add_scores(commands: Any) -> None:
    from dev_system.render.text import FORMATS
    scores = commands.add_parser(
        "scores", help="the quality scores of a pytest run",
        description="The scores a run's tests recorded: per name, the mean over the tests (each test's own mean "
                    "first), the lowest test and how many tests; --by test: per test and name.")
    scores.add_argument("--run", default="latest", type=_text, metavar="RUN", help=f"the run: {RUN_NAMES} (default: latest)")
    scores.add_argument("--by", choices=("test",), help="one row per test and score name")
    scores.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    _add_db(scores)


def _add_history(commands: Any) -> None:
    from dev_system.render.text import FORMATS
    history = commands.add_parser(
        "history", help="one test over its last runs, or the tests that drifted most",
        description="NODEID: the test's outcome, calls, tokens, cost, slowest call and scores in each of its last "
                    "runs (newest first), then the trend from the oldest to the newest. --tests: the tests whose "
                    "cost, latency or a score changed most over the last runs.")
    history.add_argument("nodeid", metavar="NODEID", nargs="?", type=_text, help="the test's pytest node id")
    history.add_argument("--tests", action="store_true", help="rank the tests by how much they changed")
    history.add_argument("--runs", type=_positive_int, default=10, metavar="N",
                         help="the last N runs (default 10; 0: all)")
    history.add_argument("--sort", metavar="KEY", type=_text,
                         help="with --tests: cost (default), latency or score.NAME")
    history.add_argument("--limit", type=_positive_int, default=10,
                         help="with --tests: at most this many tests (default 10; 0: all)")
    history.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    _add_db(history)


#: Each command and the function adding its parser.
_ADD_COMMAND = {
    "init": _add_init, "metrics": _add_metrics, "events": _add_events, "trace": _add_trace,
    "export": _add_export, "prune": _add_prune, "combine": _add_combine, "report": _add_report,
    "runs": _add_runs, "compare": _add_compare, "scores": _add_scores, "history": _add_history,
}
