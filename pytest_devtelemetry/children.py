"""The children of the running test: processes it starts (multiprocessing with any start method,
``os.fork``, ``subprocess``) record under it, and their events count in its figures and budgets.

:class:`ChildRecording` passes the run on through the environment
(:mod:`dev_system.record.run_context`: the database, the run id, and the running test's stored id,
updated at each test's start). A child that records says so in a marks file; only for a test with
such children are its figures read again, with its children's events from the database (those of
other processes than this one, under the test's id, in this run).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from dev_system.record.run_context import RUN_ENV, TEST_ENV
from pytest_devtelemetry.figures import TestFigures, combined_figures, figures_of_events


class ChildRecording:
    """Passes the run to the running test's children, and reads what they recorded."""

    def __init__(self, rec: Any, db_path: Path | None, run_id: str | None) -> None:
        self.rec = rec
        self.db_path = db_path
        self.run_id = run_id
        self._folder: str | None = None
        self._marks = self._current = ""
        self._read = 0  # bytes of the marks file read so far
        self._with_children: set[str] = set()
        self._saved: dict[str, str | None] = {}

    def begin(self) -> None:
        if self.db_path is None or not self.run_id:
            return
        try:
            self._folder = tempfile.mkdtemp(prefix="devtelemetry-children-")
        except OSError:
            return
        self._marks = os.path.join(self._folder, "tests")
        self._current = os.path.join(self._folder, "current")
        self._saved = {name: os.environ.get(name) for name in (RUN_ENV, TEST_ENV)}
        os.environ[RUN_ENV] = json.dumps({"db": str(self.db_path), "run": self.run_id, "marks": self._marks,
                                          "current": self._current})

    def end(self) -> None:
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved = {}
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def test_starts(self, test_id: str) -> None:
        """The running test is now ``test_id`` (its stored id)."""
        if self._folder is not None:
            try:
                os.environ[TEST_ENV] = test_id
            except ValueError:  # a NUL in the id: its children record as the run's
                os.environ.pop(TEST_ENV, None)
            if "multiprocessing.forkserver" in sys.modules:
                self._write_current(test_id)

    def _write_current(self, test_id: str) -> None:
        """A forkserver's children inherit its environment, from the test that started it: they
        read the running test's id from a file instead (replaced whole: never read half written)."""
        try:
            fd, temporary = tempfile.mkstemp(dir=self._folder)
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as handle:
                handle.write(test_id)
            os.replace(temporary, self._current)
        except OSError:
            pass

    def test_ends(self) -> None:
        if self._folder is not None:
            os.environ.pop(TEST_ENV, None)

    def has_children(self, test_id: str) -> bool:
        """Whether a child of ``test_id`` recorded (or is recording) under it."""
        if self._folder is None:
            return False
        try:
            size = os.stat(self._marks).st_size
            if size > self._read:
                with open(self._marks, "rb") as handle:
                    handle.seek(self._read)
                    new = handle.read(size - self._read)
            else:
                new = b""
        except OSError:
            return test_id in self._with_children
        end = new.rfind(b"\n")  # a line being written is read next time
        if end >= 0:
            self._read += end + 1
            self._with_children.update(line.decode("utf-8", "surrogateescape") for line in new[:end].split(b"\n"))
        return test_id in self._with_children

    def with_children(self, test_id: str, figures: TestFigures) -> TestFigures:
        """``figures`` (this process's events of the test) with its children's events added."""
        if not self.has_children(test_id):
            return figures
        from dev_system.problems import report_problem
        from dev_system.store import db
        from dev_system.store.queries import trace_events

        own = self.rec.process_prefix
        try:
            conn = db.connect(self.db_path, readonly=True)  # type: ignore[arg-type]
            try:
                events = [e for e in trace_events(conn, test_id)
                          if e.run_id == self.run_id and not e.event_id.startswith(own)]
            finally:
                conn.close()
        except Exception as exc:
            report_problem("children", f"the events of a test's child processes could not be read: {exc!r}")
            return figures
        return combined_figures(figures, figures_of_events(events))
