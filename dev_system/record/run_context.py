"""The children of a pytest run's tests record under the running test, as coverage.py measures
a test's subprocesses: the run passes what they need through the environment.

- :data:`RUN_ENV`, set for the session by the process that runs the tests: JSON with the run's
  database (``db``), run id (``run``), a file (``marks``) where children say which test they
  record under, and a file (``current``) holding the running test's id once a multiprocessing
  forkserver runs (its children inherit the forkserver's environment, not the test's);
- :data:`TEST_ENV`, updated at every test's start: the id the running test is stored under.

A process started with them (``spawn``, ``forkserver``, ``subprocess``) switches telemetry on
into that database and run, under that test, as its recorder is first configured
(:func:`join_test_run`); a forked child inherits its parent's recorder and only says so
(:func:`forked_in_test_run`). Each appends the test's id to the marks file, so that the test's
process knows to add its children's events to the test's figures. A forked child writes each
event before the call returns: it may end with ``os._exit`` and no chance to store them later.
"""

from __future__ import annotations

import json
import os
from typing import Any

RUN_ENV = "DEV_SYSTEM_PYTEST_RUN"
TEST_ENV = "DEV_SYSTEM_PYTEST_TEST"


def parent_run_context(environ: Any = None) -> dict[str, str] | None:
    """The run and test this process's parent passed on, or None (not a child of a test)."""
    environ = os.environ if environ is None else environ
    raw = environ.get(RUN_ENV)
    test_id = environ.get(TEST_ENV)
    if not raw or not test_id:
        return None
    try:
        context = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(context, dict) or not all(isinstance(context.get(k), str) for k in ("db", "run", "marks")):
        return None
    current = context.get("current")
    if isinstance(current, str):
        try:
            with open(current, encoding="utf-8", errors="surrogateescape") as handle:
                test_id = handle.read() or test_id
        except OSError:  # no forkserver yet: the environment is the test's
            pass
    return {**context, "test": test_id}


def _mark(context: dict[str, str]) -> None:
    """Tell the test's process that a child records under its test (one line, appended)."""
    try:
        fd = os.open(context["marks"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (context["test"] + "\n").encode("utf-8", "surrogateescape"))
        finally:
            os.close(fd)
    except (OSError, ValueError):
        pass


def join_test_run(rec: Any, configure: Any) -> bool:
    """In a child of a test (see the module's docstring): configure ``rec`` to record into the
    run, under the test; True if it did. ``configure``: the recorder's ``configure``."""
    context = parent_run_context()
    if context is None:
        return False
    configure(enabled=True, db_path=context["db"], run_id=context["run"])
    rec.default_trace = context["test"]
    _mark(context)
    return True


def forked_in_test_run(rec: Any) -> None:
    """In a child forked by a test's process (``os.fork``, multiprocessing's ``fork``): say so, and
    write each event before its call returns."""
    if not rec.on:
        return
    context = parent_run_context()
    if context is None or context["run"] != rec.run_id:
        return
    rec.default_trace = context["test"]  # a forkserver's child: the test that asked for it
    rec.sync = True
    rec.wake_at = 0
    _mark(context)
