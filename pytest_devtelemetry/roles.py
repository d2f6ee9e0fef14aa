"""The run's roles: one object per process role, registered by :func:`start` when telemetry is on.

- :class:`SingleProcess` (no xdist): records, tags each test's events, stores the run, reports.
- :class:`Controller` (xdist ``-n``): runs no test; hands the run id and database to the workers,
  notes workers that crash, and once every worker is down stores and reports the run.
- :class:`Worker` (xdist): records and tags its tests' events into the shared database (each
  test's as soon as it is over, so that a crash of the worker loses only the running test's),
  and sends its counters back; it stores no run and prints nothing.

Each role is made of the parts it needs, held as objects: a
:class:`~pytest_devtelemetry.recording.RecorderSession` (every role), a
:class:`~pytest_devtelemetry.recording.TestRecording` (the roles that run tests) and a
:class:`~pytest_devtelemetry.reporting.RunReporting` (the roles that report). The role object is
registered as :data:`~pytest_devtelemetry.names.RUN_PLUGIN`; its hook implementations hand each
session event to its parts.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dev_system import config as config_module
from pytest_devtelemetry.names import RUN_PLUGIN, SWITCHED_OFF_PLUGIN, WORKER_KEY
from pytest_devtelemetry.options import RunOptions, resolve
from pytest_devtelemetry.outcomes import fold_outcomes
from pytest_devtelemetry.recording import RecorderSession, TestRecording
from pytest_devtelemetry.termination import TerminationWatch


def start(config: pytest.Config) -> None:
    """Switch telemetry on for this pytest process in the role it plays (called by ``pytest_configure``)."""
    role: SingleProcess | Controller | Worker
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        given = workerinput.get(WORKER_KEY)
        if given is None:  # the controller does not record: neither does the worker
            return
        settings, options = resolve(config, given["run_id"])
        settings = replace(settings, db_path=Path(given["db_path"]))
        role = Worker(config, settings, options)
    else:
        from dev_system.store.runs import new_run_id

        try:  # CI shards share one run through DEV_SYSTEM_RUN_ID; a bad value is reported by resolve()
            shared = config_module.from_environment().get("run_id")
        except config_module.ConfigError:
            shared = None
        settings, options = resolve(config, shared or new_run_id())
        if not settings.enabled:
            config.pluginmanager.register(SwitchedOff(), SWITCHED_OFF_PLUGIN)  # no role: budgets as without --telemetry
            return
        role = Controller(config, settings, options) if _distributed(config) else SingleProcess(config, settings, options)
    config.add_cleanup(role.end)  # first: a usage error found by begin() still restores the recorder
    role.begin()
    config.pluginmanager.register(role, RUN_PLUGIN)


def _distributed(config: pytest.Config) -> bool:
    """Whether pytest-xdist will run the tests in workers (its own test, made before it registers)."""
    if config.getoption("collectonly", False):
        return False
    return config.getoption("dist", "no") != "no" and bool(config.getoption("tx", None))


class SwitchedOff:
    """``DEV_SYSTEM_TELEMETRY=0`` beats ``--telemetry``: say so and what is still in force. It is
    not the run's role (:data:`~pytest_devtelemetry.names.RUN_PLUGIN`), so the budgets of
    ``telemetry_budget`` markers are checked exactly as in a run without ``--telemetry``."""

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        return ["telemetry: off (DEV_SYSTEM_TELEMETRY=0 beats --telemetry)",
                "telemetry: nothing is recorded or stored, no summary, no gate; telemetry_budget markers are still checked"]


def _store_terminated(reporting: Any, results: Any, signum: int) -> None:
    """A signal ends the run before pytest could finish it: store what is known, as ``terminated``
    (nothing when the run's report is being made already)."""
    import signal

    if reporting.report is not None:
        return
    rec = reporting.recorder.rec  # its events are stored by the handler called next (the recorder's)
    reporting.store.finish_terminated(results(), signal.Signals(signum).name,
                                      dropped=rec.dropped - reporting.recorder.dropped_before)


class SingleProcess:
    """No xdist: the tests run here, and this process stores and reports the run."""

    def __init__(self, config: pytest.Config, settings: config_module.Settings, options: RunOptions) -> None:
        from pytest_devtelemetry.reporting import RunReporting

        self.config = config
        self.recorder = RecorderSession(settings, options.instrument)
        # --junitxml reads each test's figures on its teardown report
        self.tests = TestRecording(config, figures_on_teardown_reports=bool(getattr(config.option, "xmlpath", None)),
                                   settings=settings)
        self.reporting = RunReporting(config, settings, options, self.recorder)
        self.run_id = self.reporting.run_id
        self.db_path = self.reporting.db_path
        self.termination = TerminationWatch(self._terminated)

    def begin(self) -> None:
        self.recorder.begin()
        self.tests.begin(self.db_path)

    def end(self) -> None:
        self.termination.uninstall()
        try:
            self.recorder.end()
        finally:
            self.tests.end()

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.reporting.session_started(session)
        self.termination.install()

    def _results(self) -> list[Any]:
        from pytest_devtelemetry.run_store import result_rows

        tests = self.tests
        outcomes = fold_outcomes(self.reporting.report_lists, order=tests.stored_ids)
        return result_rows(outcomes, tests.stored_ids, tests.test_figures, tests.digest_key)

    def _terminated(self, signum: int) -> None:
        """SIGTERM: store the run as terminated, the running test's figures so far with it."""
        self.tests.settle_running_test()
        _store_terminated(self.reporting, self._results, signum)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        return self.reporting.header_lines()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.reporting.session_finished(session, self._results)

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        self.reporting.terminal_summary(terminalreporter, config)


class Controller:
    """The xdist controller: gives the workers the run, waits for them, stores and reports the run."""

    def __init__(self, config: pytest.Config, settings: config_module.Settings, options: RunOptions) -> None:
        from pytest_devtelemetry.reporting import RunReporting, WorkerResults

        self.config = config
        self.recorder = RecorderSession(settings)  # runs no test: instruments nothing
        self.workers = WorkerResults()
        self.reporting = RunReporting(config, settings, options, self.recorder, self.workers)
        self.run_id = self.reporting.run_id
        self.db_path = self.reporting.db_path
        self.termination = TerminationWatch(self._terminated)

    def begin(self) -> None:
        from pytest_devtelemetry.run_store import nodeid_digest_key

        self.recorder.begin()
        self.digest_key = nodeid_digest_key(self.db_path)  # the workers read the same one

    def end(self) -> None:
        self.termination.uninstall()
        self.recorder.end()

    def _results(self) -> list[Any]:  # the workers' figures came on their tests' teardown reports
        from pytest_devtelemetry.run_store import result_rows

        return result_rows(fold_outcomes(self.reporting.report_lists, read_figures=True), {}, {},
                           self.digest_key)

    def _terminated(self, signum: int) -> None:
        _store_terminated(self.reporting, self._results, signum)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKER_KEY] = {"run_id": self.run_id, "db_path": str(self.db_path)}

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        name = getattr(getattr(node, "gateway", None), "id", None) or str(node)
        info = (getattr(node, "workeroutput", None) or {}).get(WORKER_KEY)
        if error is not None or info is None:
            self.workers.crashed[name] = str(error) if error is not None else "it ended without reporting its telemetry"
        else:
            self.workers.info[name] = info

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.reporting.session_started(session)
        self.termination.install()

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        return self.reporting.header_lines()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.reporting.session_finished(session, self._results)

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        self.reporting.terminal_summary(terminalreporter, config)


class Worker:
    """An xdist worker: records its tests' events into the run's database and reports its counters."""

    def __init__(self, config: pytest.Config, settings: config_module.Settings, options: RunOptions) -> None:
        self.config = config
        self.run_id: str = settings.run_id or ""
        self.db_path = Path(settings.db_path) if settings.db_path else Path()
        self.recorder = RecorderSession(settings, options.instrument)
        # the controller reads each test's figures on its teardown report
        self.tests = TestRecording(config, figures_on_teardown_reports=True, settings=settings)

    def begin(self) -> None:
        self.recorder.begin()
        self.tests.begin(self.db_path)

    def end(self) -> None:
        try:
            self.recorder.end()
        finally:
            self.tests.end()

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        """The test is over: store its events now, so that they outlive a crash of this worker
        (killed, a segfault) in a later test; its figures are on its teardown report already."""
        rec = self.recorder.rec
        if rec.buffer or rec.aside or rec.unstored or rec.scores or rec.unstored_scores:
            rec.flush()

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from dev_system.problems import problem_counts, problem_messages

        rec = self.recorder.rec
        info: dict[str, Any] = {}
        try:
            rec.flush()
            rec.store_drops()
            rec.checkpoint_soon()  # while the worker ends (see RunReporting)
            stats = rec.stats()
            info = {"stored": stats["stored"], "dropped": stats["dropped"] - self.recorder.dropped_before}
        except Exception as exc:
            info = {"error": f"{type(exc).__name__}: {exc}"}
        info["problems"] = sum(problem_counts().values())
        info["problem_messages"] = problem_messages()
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[WORKER_KEY] = info
