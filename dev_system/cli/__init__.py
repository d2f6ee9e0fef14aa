"""The ``dev-system`` command: ``init``, ``metrics``, ``events``, ``trace``, ``export``, ``prune``,
``combine``, ``report``, ``runs``, ``compare``, ``scores``, ``history``.

A thin front end: :mod:`~dev_system.cli.parser` reads the command line, and each command is one
short ``cmd_<name>`` function in the module :data:`~dev_system.cli.parser.COMMANDS` names (imported
when that command runs), which asks :mod:`dev_system.analysis` (the shared
:mod:`~dev_system.analysis.evaluation` for figures and alerts) and hands the result to
:mod:`dev_system.render`. Exit status: 0 done, 1 an alert fired under ``--fail-on-alert`` (or a
trace was not found, or ``compare --fail`` found a regression), 2 bad input — always one line on
stderr, never a traceback. Reading commands open the database read-only. Everything written for
people goes through :func:`~dev_system.formatting.printable`; JSON and CSV are written exact.
"""

from __future__ import annotations

import importlib
import os
import sqlite3
import sys
from collections.abc import Sequence

from dev_system.cli.common import error
from dev_system.cli.parser import COMMANDS, PROG, UsageError, build_parser
from dev_system.config import ConfigError
from dev_system.store.db import StoreError

__all__ = ["COMMANDS", "PROG", "UsageError", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dev-system`` with ``argv`` (default: the process arguments); returns the exit status."""
    try:
        sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        pass
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        args = build_parser(argv).parse_args(argv)
        if args.command is None:
            raise UsageError(f"choose a command: {', '.join(COMMANDS)} (see '{PROG} --help')")
        module = importlib.import_module(f"dev_system.cli.{COMMANDS[args.command]}")
        return getattr(module, f"cmd_{args.command}")(args)
    except (UsageError, ConfigError, StoreError) as exc:
        error(f"{PROG}: error: {exc}")  # one line: a path or name in the message is made inert
        return 2
    except sqlite3.Error as exc:
        error(f"{PROG}: error: the telemetry database cannot be read: {exc}")
        return 2
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:  # a file or folder the system refused: one line, never a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        error(f"{PROG}: error: {where}{(exc.strerror or str(exc)).lower()}")
        return 2
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0

