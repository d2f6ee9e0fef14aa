"""What every command of ``dev-system`` shares: the database and filters its flags name, and
writing for people.

Everything written for people (text, Markdown, tables, messages) goes through
:func:`~dev_system.formatting.printable`, so a stored name or a typed argument holding ESC,
BEL or CR shows as an escape; JSON and CSV are written exact.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from dev_system.cli.parser import PROG, UsageError
from dev_system.config import default_db_path
from dev_system.formatting import plural, printable
from dev_system.render.text import UNUSABLE, can_print_emoji
from dev_system.store import db as store
from dev_system.store.queries import Filters


def db_path(args: argparse.Namespace) -> Path:
    """The database of ``--db``, or the project's."""
    if args.db is not None:
        return args.db
    return default_db_path()


def open_readonly(args: argparse.Namespace) -> sqlite3.Connection:
    """The database of the command, opened read-only (a reading command never changes it)."""
    return store.connect(db_path(args), readonly=True)


def filters(args: argparse.Namespace, conn: sqlite3.Connection) -> Filters:
    """The ``--agent``, ``--event-type``, ``--function``, ``--trace`` and ``--run`` filters, the
    run name of ``--run`` (an id, a unique prefix, ``latest``, ``latest~N``) resolved to its id;
    a name that matches no run or several is a :class:`UsageError`."""
    wanted = Filters(agent=args.agent, event_type=args.event_type, function=args.function,
                     trace_id=args.trace, run_id=args.run)
    from dev_system.analysis import evaluation  # the figures' stage: imported by the commands that read

    try:
        return evaluation.resolve_filters(conn, wanted)
    except evaluation.RunNotFound as exc:
        raise UsageError(str(exc)) from None


def write(text: str, *, exact: bool = False) -> None:
    """Write ``text`` to stdout; control characters as visible escapes unless ``exact`` (CSV)."""
    sys.stdout.write(text if exact else printable(text, keep_newlines=True))
    sys.stdout.flush()


def error(text: str) -> None:
    """One line on stderr, control characters (a newline too) as visible escapes."""
    print(printable(text), file=sys.stderr)


def ascii_only() -> bool:
    """True when stdout cannot print the report's emoji."""
    return not can_print_emoji(sys.stdout)


def skipped(count: int, *, to_stderr: bool) -> None:
    """Say how many rows were left out as unusable: a line of the text output, or a note on
    stderr when stdout is JSON."""
    note = f"{plural(count, 'unusable row')} skipped ({UNUSABLE})"
    if to_stderr:
        error(f"{PROG}: note: {note}")
    else:
        write(f"{note}\n")
