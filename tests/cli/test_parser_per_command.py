"""The parser built for one command line (only the command it names) parses every line exactly as
the parser of every command does: the same values, the same one-line error, the same help."""

from __future__ import annotations

import contextlib
import io
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dev_system.analysis.periods import Window
from dev_system.cli.parser import COMMANDS, UsageError, build_parser

#: Every option of every command, and values of each kind the options take (good and bad).
_OPTIONS = sorted({option for action in [
    a for sub in build_parser()._subparsers._group_actions[0].choices.values() for a in sub._actions]
    for option in action.option_strings})
_VALUES = ["all", "7d", "2026-01-01", "x", "0", "1", "-1", "50", "text", "json", "csv", "agent", "model", "day",
           "--", "-", "--help", "-h", "--version", "--fail=cost:10%", "--lim", "--db=a.db", "a b", "latest"]
_TOKEN = st.sampled_from(_OPTIONS + _VALUES + list(COMMANDS))


def outcome(parser_for: Any, argv: list[str]) -> tuple:
    """What parsing ``argv`` gives: the values read, or the error, or the exit and its output."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser_for(argv).parse_args(argv)
    except UsageError as exc:
        return ("error", str(exc))
    except SystemExit as exc:
        return ("exit", exc.code, out.getvalue(), err.getvalue())
    values = {k: (v.spec, v.label) if isinstance(v, Window) else v for k, v in vars(args).items()}
    return ("parsed", values)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(list(COMMANDS)), st.lists(_TOKEN, max_size=6))
def test_a_line_naming_a_command_parses_as_with_every_command(command: str, rest: list[str]) -> None:
    argv = [command, *rest]
    assert outcome(build_parser, argv) == outcome(lambda _: build_parser(), argv)


@settings(max_examples=100, deadline=None)
@given(st.lists(_TOKEN, max_size=5))
def test_any_line_parses_as_with_every_command(argv: list[str]) -> None:
    assert outcome(build_parser, argv) == outcome(lambda _: build_parser(), argv)


def test_only_the_named_command_is_built() -> None:
    parser = build_parser(["events", "--failed"])
    assert list(parser._subparsers._group_actions[0].choices) == ["events"]
    assert list(build_parser(["--help"])._subparsers._group_actions[0].choices) == list(COMMANDS)
