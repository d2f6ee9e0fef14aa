"""The recording parts of a run, held by the roles:

- :class:`RecorderSession`: the process's recorder switched to the run's settings for the
  session (and SDKs instrumented), then back to what it was.
- :class:`TestRecording`: each test's events tagged with its stored id and captured in a list of
  its own, its figures read from them; a registered plugin whose one hook implementation wraps
  each test (the hot path of a run: read docs/performance.md before adding to it).
- :class:`TeardownProperties`: each test's figures attached to its teardown report, where they
  are read (JUnit XML, an xdist worker's tests reaching the controller).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from dev_system import config as config_module
from dev_system.record.context import get_frame, reset_frame, set_frame
from dev_system.record.recorder import get_recorder
from dev_system.record.redaction import notice_environment_changes
from dev_system.record.scores import set_current_test
from dev_system.record.settle import settle_pending_calls
from pytest_devtelemetry.children import ChildRecording
from pytest_devtelemetry.figures import TestFigures, figures_of_raw_records, score_properties, stored_nodeid
from pytest_devtelemetry.names import CAPTURE_KEY, PROPERTIES_PLUGIN, TESTS_PLUGIN
from pytest_devtelemetry.running_test import SessionWatcher, TestTelemetry, unwatch, watch

if TYPE_CHECKING:
    from pathlib import Path


class RecorderSession:
    """Switches the process's recorder to the run's settings, and back at the end."""

    def __init__(self, settings: config_module.Settings, instrument: tuple[str, ...] | None = None) -> None:
        self.settings = settings
        #: the SDKs to instrument (``()``: every installed one; ``None``: none)
        self.instrument = instrument
        self.rec = get_recorder()
        self._previous: config_module.Settings | None = None
        self._previous_trace: str | None = None
        #: the recorder's drop count when the session began
        self.dropped_before = 0
        self.instrumented: list[str] = []
        self.instrument_note: str | None = None

    def begin(self) -> None:
        rec = self.rec
        self._previous = rec.settings
        self._previous_trace = rec.default_trace
        self.dropped_before = rec.dropped
        rec.apply(self.settings)
        if self.instrument is not None:
            self._instrument(self.instrument)
        try:  # calls answered from a vcrpy cassette are marked replayed (pytest-recording loads it first)
            from dev_system.record.replay import watch

            watch()
        except Exception:
            pass

    def _instrument(self, names: tuple[str, ...]) -> None:
        try:
            from dev_system.record.instrument import instrument
        except ImportError as exc:
            self.instrument_note = f"SDK instrumentation is not available in this version ({exc})"
            return
        try:
            self.instrumented = list(instrument(*names))
        except (ImportError, ValueError) as exc:
            raise pytest.UsageError(f"telemetry: --telemetry-instrument: {exc}") from None
        if not self.instrumented:
            self.instrument_note = "SDK instrumentation: no provider SDK installed"

    def end(self) -> None:
        rec = self.rec
        try:
            if self.instrumented:
                from dev_system.record.instrument import uninstrument

                uninstrument(*self.instrumented)
        finally:
            rec.flush()
            rec.default_trace = self._previous_trace
            if self._previous is not None:
                rec.apply(self._previous)

    def header_lines(self) -> list[str]:
        """What the instrumentation did, for the report header."""
        lines = []
        if self.instrumented:
            lines.append(f"telemetry: instrumented {', '.join(self.instrumented)}")
        if self.instrument_note:
            lines.append(f"telemetry: {self.instrument_note}")
        return lines


class TestRecording:
    """Per test: its stored id as the trace id of its events, its raw records captured, its figures.

    Registered as :data:`~pytest_devtelemetry.names.TESTS_PLUGIN` by :meth:`begin`."""

    __test__ = False  # not a pytest test class

    def __init__(self, config: pytest.Config, *, figures_on_teardown_reports: bool,
                 settings: config_module.Settings | None = None) -> None:
        self.config = config
        self.rec = get_recorder()
        #: the running test's children record under it (``settings``: the run's database and id)
        self.children = ChildRecording(self.rec, settings.db_path if settings else None,
                                       settings.run_id if settings else None)
        self._on_teardown_reports = figures_on_teardown_reports
        # One raw-record watcher for the session; each test points it at its own list (see
        # SessionWatcher).
        self.session_watcher = SessionWatcher()
        #: node id -> the id it is stored under (worked out once, when the test starts)
        self.stored_ids: dict[str, str] = {}
        #: node id -> the test's figures, once it has ended
        self.test_figures: dict[str, TestFigures] = {}
        #: the running test's node id and the list its raw records go to (None between tests)
        self._test_nodeid: str | None = None
        self._test_raws: list[tuple] | None = None
        #: the running test's scores (``record.scores.Score``), for the fixture, budgets and JUnit
        self._test_scores: list[Any] | None = None
        #: the key of the digests of redacted node ids (see stored_nodeid), the database's own
        self.digest_key = b""

    def begin(self, db_path: Path) -> None:
        from pytest_devtelemetry.run_store import nodeid_digest_key

        self.digest_key = nodeid_digest_key(db_path)
        self.children.begin()
        with self.rec.lock:
            self.rec.raw_watchers.append(self.session_watcher)
        if self._on_teardown_reports:
            self.config.pluginmanager.register(TeardownProperties(self), PROPERTIES_PLUGIN)
        self.config.pluginmanager.register(self, TESTS_PLUGIN)

    def end(self) -> None:
        self.children.end()
        with self.rec.lock:
            if self.session_watcher in self.rec.raw_watchers:
                self.rec.raw_watchers.remove(self.session_watcher)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        nodeid = item.nodeid
        # The test's raw records; a TestTelemetry around them is made only when the ``telemetry``
        # fixture or a budget asks for one (see capture_running_test).
        raws: list[tuple] = []
        watcher = self.session_watcher
        watch(watcher, raws)
        self._test_nodeid, self._test_raws = nodeid, raws
        rec = self.rec
        outer = rec.default_trace
        test_id = self.stored_ids[nodeid] = stored_nodeid(nodeid, self.digest_key)
        children = self.children
        children.test_starts(test_id)
        rec.default_trace = test_id  # threads the test starts carry no context: they get this
        # What ``with trace(test_id)`` does, without a context manager's cost for every test.
        parent = get_frame()
        token = set_frame([test_id, 0, 0, None, parent[4] if parent is not None else True, 0])
        scores: list[Any] = []
        self._test_scores = scores
        outer_test = set_current_test(test_id, scores)
        try:
            return (yield)
        finally:
            reset_frame(token)
            set_current_test(*outer_test)
            rec.default_trace = outer
            self._test_raws = self._test_scores = None
            captured = item.stash.get(CAPTURE_KEY, None)
            if captured is not None:
                del item.stash[CAPTURE_KEY]
                captured.stop()
            unwatch(watcher, raws)
            if nodeid not in self.test_figures:  # not attached to its teardown report already
                self.test_figures[nodeid] = children.with_children(test_id, figures_of_raw_records(raws))
            children.test_ends()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The tests are known: the secrets a ``.env`` or a conftest put in the environment while
        collecting are learnt before any node id is redacted (see ``stored_nodeid``)."""
        notice_environment_changes()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        """After the test's body, before its fixtures are torn down: the secrets a test or its
        fixtures put in the environment (``monkeypatch.setenv``) are learnt while still set."""
        try:
            return (yield)
        finally:
            notice_environment_changes()

    def capture_running_test(self, item: pytest.Item) -> TestTelemetry | None:
        """The running test's capture (for the ``telemetry`` fixture and budgets), made around
        the raw records it has recorded so far; ``None`` when ``item`` is not running here."""
        captured = item.stash.get(CAPTURE_KEY, None)
        if captured is None and self._test_raws is not None and item.nodeid == self._test_nodeid:
            captured = item.stash[CAPTURE_KEY] = TestTelemetry(item.nodeid, self.session_watcher,
                                                              self._test_raws, self._test_scores).start()
        return captured

    def settle_running_test(self) -> None:
        """Work out the running test's figures so far (the run ends while it runs)."""
        nodeid, raws = self._test_nodeid, self._test_raws
        if raws is None or nodeid is None:
            return
        rec = self.rec
        if rec.buffer:
            with rec.lock:
                rec.set_aside()  # the watcher hands them to raws
        self.test_figures[nodeid] = self.children.with_children(self.stored_ids[nodeid], figures_of_raw_records(raws))

    def with_children(self, item: pytest.Item, figures: TestFigures) -> TestFigures:
        """``figures`` of the running test ``item`` with its child processes' events added."""
        test_id = self.stored_ids.get(item.nodeid)
        return figures if test_id is None else self.children.with_children(test_id, figures)

    def attach_figures(self, report: pytest.TestReport) -> None:
        """Attach the running test's figures to its teardown report as ``user_properties``."""
        nodeid = report.nodeid
        raws = self._test_raws
        if raws is None or self._test_nodeid != nodeid:
            return
        settle_pending_calls()  # calls still being recorded on another thread
        rec = self.rec
        if rec.buffer:
            with rec.lock:
                rec.set_aside()  # the watcher hands them to raws
        figures = self.test_figures[nodeid] = self.children.with_children(self.stored_ids[nodeid],
                                                                          figures_of_raw_records(raws))
        report.user_properties += figures.properties()
        if self._test_scores:
            report.user_properties += score_properties(self._test_scores)


class TeardownProperties:
    """Attaches each test's figures to its teardown report (JUnit XML properties; an xdist
    worker's figures reach the controller so). First among the ``pytest_runtest_logreport``
    implementations, so that junitxml's and xdist's read them. Registered only where they are
    read: in an xdist worker, and in a single process writing JUnit XML."""

    def __init__(self, tests: TestRecording) -> None:
        self.tests = tests

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            self.tests.attach_figures(report)
