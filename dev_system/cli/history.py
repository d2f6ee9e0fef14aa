"""The commands on scores and on tests across runs: ``scores`` shows a run's scores, ``history``
one test over its last runs, or (``--tests``) the tests that drifted most."""

from __future__ import annotations

import argparse

from dev_system.analysis import evaluation
from dev_system.analysis.history import HistoryError, drifting_tests, parse_sort, test_history
from dev_system.analysis.run_scores import run_scores
from dev_system.cli.common import open_readonly, write
from dev_system.cli.parser import UsageError
from dev_system.render.history import render_drift, render_scores, render_test_history


def cmd_scores(args: argparse.Namespace) -> int:
    """``scores [--run R] [--by test]``: a run's scores per name, or per test and name."""
    conn = open_readonly(args)
    try:
        try:
            run = evaluation.resolve_run(conn, args.run)
        except evaluation.RunNotFound as exc:
            raise UsageError(str(exc)) from None
        scores = run_scores(conn, run)
    finally:
        conn.close()
    write(render_scores(scores, args.format, by_test=args.by == "test"), exact=args.format == "csv")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """``history NODEID`` or ``history --tests``: a test over its last runs, or the tests whose
    cost, latency or a score changed most."""
    if (args.nodeid is None) == (not args.tests):
        raise UsageError("give a test's node id, or --tests (not both)")
    try:
        sort = parse_sort(args.sort) if args.sort is not None else "cost"
        if args.sort is not None and not args.tests:
            raise HistoryError("--sort goes with --tests")
        conn = open_readonly(args)
        try:
            if args.tests:
                text = render_drift(drifting_tests(conn, runs=args.runs or None, sort=sort,
                                                   limit=args.limit or None), args.format)
            else:
                text = render_test_history(test_history(conn, args.nodeid, runs=args.runs or None), args.format)
        finally:
            conn.close()
    except HistoryError as exc:
        raise UsageError(str(exc)) from None
    write(text, exact=args.format == "csv")
    return 0
