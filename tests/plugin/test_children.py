"""The test's process side of child recording (pytest_devtelemetry/children.py): what it passes
on through the environment, and how it learns which tests have children."""

from __future__ import annotations

import json
import os

from dev_system.record.recorder import get_recorder
from dev_system.record.run_context import RUN_ENV, TEST_ENV, parent_run_context
from pytest_devtelemetry.children import ChildRecording


def test_the_run_is_passed_on_for_the_session_and_the_test_for_its_run(tmp_path, monkeypatch):
    monkeypatch.setenv(RUN_ENV, "outer")  # an outer run's (pytester inside a run): given back at the end
    monkeypatch.delenv(TEST_ENV, raising=False)
    children = ChildRecording(get_recorder(), tmp_path / "t.db", "run-1")
    children.begin()
    try:
        assert parent_run_context() is None  # between tests, children do not record
        children.test_starts("t.py::a")
        context = parent_run_context()
        assert context is not None and (context["db"], context["run"], context["test"]) == (
            str(tmp_path / "t.db"), "run-1", "t.py::a")
        children.test_ends()
        assert TEST_ENV not in os.environ
    finally:
        children.end()
    assert os.environ[RUN_ENV] == "outer" and TEST_ENV not in os.environ


def test_tests_with_children_are_read_from_whole_lines_only(tmp_path, monkeypatch):
    monkeypatch.delenv(RUN_ENV, raising=False)
    children = ChildRecording(get_recorder(), tmp_path / "t.db", "run-1")
    children.begin()
    try:
        marks = json.loads(os.environ[RUN_ENV])["marks"]
        assert not children.has_children("t.py::a")
        with open(marks, "ab") as handle:
            handle.write(b"t.py::a\nt.py::b[\xc3\xa9]\nt.py::c")  # c: still being written
        assert children.has_children("t.py::a") and children.has_children("t.py::b[é]")
        assert not children.has_children("t.py::c")
        with open(marks, "ab") as handle:
            handle.write(b"[2]\n")
        assert children.has_children("t.py::c[2]") and children.has_children("t.py::a")
    finally:
        children.end()
    assert not os.path.exists(marks)
