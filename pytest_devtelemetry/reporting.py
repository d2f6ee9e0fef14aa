"""The report at the end of the run, made once by the process that reports (the single process,
or the xdist controller once every worker is down): the run and its tests stored, the run
evaluated by :mod:`dev_system.analysis.evaluation` (the evaluation ``dev-system`` uses), the gate
and the comparison applied, the JSON written, the ``pytest_devtelemetry_summary`` hook called,
and the terminal summary printed by :mod:`dev_system.render.run_summary`.

The gate turns an exit status of 0 (or 5, no tests) into 1 and leaves every other status alone.
A failure of the telemetry itself is reported in the summary, never as a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dev_system import config as config_module
from dev_system.store.runs import TestResult
from pytest_devtelemetry.names import REPORTS_PLUGIN
from pytest_devtelemetry.options import RunOptions
from pytest_devtelemetry.outcomes import ReportCollector
from pytest_devtelemetry.recording import RecorderSession
from pytest_devtelemetry.run_store import RunStore
from pytest_devtelemetry.runreport import RunReport

#: The name the ``pytest_devtelemetry_alerts`` hook's failures are reported under.
PYTEST_RULES_NAME = "a pytest_devtelemetry_alerts hook"


class WorkerResults:
    """What the xdist workers sent back: the counters of those that ended, the crash of those
    that did not (filled by the controller)."""

    def __init__(self) -> None:
        #: worker id -> why it crashed
        self.crashed: dict[str, str] = {}
        #: worker id -> its counters (``stored``, ``dropped``, ``problems`` or ``error``)
        self.info: dict[str, dict[str, Any]] = {}

    def count(self, key: str) -> int:
        """The sum of one counter over the workers that ended."""
        return sum(int(info.get(key, 0)) for info in self.info.values())


class RunReporting:
    """Stores and reports the run, at the end of the session."""

    def __init__(self, config: pytest.Config, settings: config_module.Settings, options: RunOptions,
                 recorder: RecorderSession, workers: WorkerResults | None = None) -> None:
        self.config = config
        self.settings = settings
        self.options = options
        self.recorder = recorder
        self.workers = workers or WorkerResults()
        self.run_id: str = settings.run_id or ""
        self.db_path = Path(settings.db_path) if settings.db_path else Path()
        self.store = RunStore(config, self.run_id, self.db_path, settings.redact_keys)
        #: the baseline ``--telemetry-compare=RUN`` names, read before the run starts (None: auto or no comparison)
        self.named_baseline = (None if options.compare in (None, "auto")
                               else named_baseline(self.db_path, options.compare, self.run_id))
        #: where the tests' reports are read at the end: the terminal reporter's ``stats`` or
        #: a collector's list (see session_started)
        self.report_lists: Any = ()
        self.report: RunReport | None = None

    def session_started(self, session: pytest.Session) -> None:
        self.store.start()
        # The tests' outcomes are read from the reports the terminal reporter keeps anyway, once,
        # at the end: no hook implementation of ours runs for each of a test's three reports.
        stats = getattr(session.config.pluginmanager.get_plugin("terminalreporter"), "stats", None)
        if isinstance(stats, dict):
            self.report_lists = stats.values()
        else:
            collector = ReportCollector()
            session.config.pluginmanager.register(collector, REPORTS_PLUGIN)
            self.report_lists = (collector.reports,)

    def header_lines(self) -> list[str]:
        return [f"telemetry: run {self.run_id} -> {self.db_path}" + (" (gate on)" if self.options.gate else ""),
                *self.recorder.header_lines()]

    # -- the end of the run -----------------------------------------------------------------

    def _local_flush(self) -> None:
        """Store what this process still buffers (and the drops it counted)."""
        rec = self.recorder.rec
        rec.flush()
        try:
            rec.store_drops()
        except Exception:  # the database is unusable: the drops stay counted in memory, and shown
            pass

    def _counted_drops(self) -> int:
        """Events this session's processes counted as dropped."""
        return self.recorder.rec.dropped - self.recorder.dropped_before + self.workers.count("dropped")

    def _problems(self) -> int:
        from dev_system.problems import problem_counts

        return sum(problem_counts().values()) + self.workers.count("problems")

    def _problem_messages(self) -> dict[str, str]:
        from dev_system.problems import problem_messages

        messages: dict[str, str] = {}
        for info in self.workers.info.values():
            messages.update(info.get("problem_messages") or {})
        messages.update(problem_messages())
        return messages

    def session_finished(self, session: pytest.Session, tests: Callable[[], list[TestResult]]) -> None:
        """Store and evaluate the run (``tests``: its tests' rows, asked for once the run is over)."""
        if self.report is not None:
            return
        options = self.options
        pytest_status = int(session.exitstatus)
        self.store.wait_started()
        crashed = self.workers.crashed
        report = self.report = RunReport(self.run_id, self.db_path, gate=options.gate, top=options.top,
                                         pytest_exit_status=pytest_status, crashed_workers=dict(crashed),
                                         workers=len(self.workers.info) + len(crashed))
        if self.store.start_error:
            report.errors.append(self.store.start_error)
        try:
            self._finish(session, report, pytest_status, tests)
        except Exception as exc:
            report.dropped = max(report.dropped, self._counted_drops())
            report.errors.append(f"the run's telemetry could not be stored or read ({self.db_path}):"
                                 f" {type(exc).__name__}: {exc}")
            if options.gate or options.compare_limits:
                report.failures.append("telemetry gate: the run's telemetry could not be evaluated")
            report.exit_status = _apply_exit(session, report, pytest_status)
        if options.json_path is not None:
            try:
                report.write_json(options.json_path)
            except OSError as exc:
                report.errors.append(f"cannot write {options.json_path}: {exc.strerror or exc}")
        try:
            self.config.hook.pytest_devtelemetry_summary(config=self.config, report=report)
        except Exception as exc:
            report.errors.append(f"a pytest_devtelemetry_summary hook failed: {type(exc).__name__}: {exc}")

    def _pytest_rule(self, summary: Any, thresholds: Any) -> list[Any]:
        """The ``pytest_devtelemetry_alerts`` hook as one alert rule."""
        results = self.config.hook.pytest_devtelemetry_alerts(config=self.config, summary=summary,
                                                               thresholds=thresholds)
        return [alert for result in results if result for alert in result]

    def _finish(self, session: pytest.Session, report: RunReport, pytest_status: int,
                tests: Callable[[], list[TestResult]]) -> None:
        from dev_system.analysis.evaluation import evaluate_run, resolve_thresholds

        options = self.options
        self._local_flush()
        report.problems = self._problems()
        report.problem_messages = self._problem_messages()
        report.dropped = self._counted_drops()
        report.tests = tests()
        conn = self.store.connect()
        try:
            self.store.store_tests(conn, report.tests)
            breakdowns = ("agent", "event_type", "model") if self.config.get_verbosity() > 0 else ("agent",)
            thresholds = resolve_thresholds(self.settings, switched_off=options.thresholds_off)
            evaluation = evaluate_run(conn, self.run_id, thresholds, breakdowns=breakdowns,
                                      rules=[(PYTEST_RULES_NAME, self._pytest_rule)])
            summary = report.summary = evaluation.summary
            report.thresholds = thresholds
            report.dropped = max(report.dropped, summary.dropped_events)
            report.agents = evaluation.breakdowns["agent"]
            report.event_types = evaluation.breakdowns.get("event_type", [])
            report.models = evaluation.breakdowns.get("model", [])
            for failure in evaluation.rule_failures:  # a broken rule must not hide the others
                report.errors.append(failure.message)
                if options.gate:
                    report.failures.append(f"telemetry gate: {failure.name} failed, the alerts are incomplete")
            report.alerts = evaluation.alerts
            report.scores = evaluation.scores
            if options.gate:
                report.failures.extend(f"telemetry gate: {alert.message}" for alert in report.alerts)
            if options.compare is not None:
                self._compare(conn, report, summary)
            report.exit_status = _apply_exit(session, report, pytest_status)
            self.store.finish(conn, report, pytest_status=pytest_status, gate=options.gate)
        finally:
            conn.close()
        # Everything is stored: the database file takes in its write-ahead log on the writer's
        # thread while pytest prints its summary, rather than when the recorder closes.
        self.recorder.rec.checkpoint_soon()

    def _compare(self, conn: Any, report: RunReport, summary: Any) -> None:
        """``--telemetry-compare``: the run against its baseline, regressions beyond the limits."""
        from dev_system.analysis.evaluation import RunNotFound, baseline_run, compare_run

        wanted = self.options.compare
        if wanted == "auto":
            base = baseline_run(conn, self.run_id, nodeids=[t.nodeid for t in report.tests],
                                branch=self.store.run_record.git_branch)
            if base is None:
                report.compare_note = ("Telemetry comparison: no earlier completed run of the same tests"
                                       " in the database; nothing to compare with")
                return
        else:
            try:
                base = baseline_run(conn, self.run_id, self.named_baseline or wanted)
            except RunNotFound as exc:  # removed while the tests ran
                report.errors.append(f"--telemetry-compare: {exc}")
                if self.options.compare_limits:
                    report.failures.append(f"telemetry compare: no baseline run {wanted!r}")
                return
            if base.run_id == self.run_id:
                report.errors.append(f"--telemetry-compare: {wanted!r} is this run itself")
                return
        report.comparison, report.regressions = compare_run(conn, base.run_id, self.run_id,
                                                            self.options.compare_limits, new_summary=summary)
        report.failures.extend(f"telemetry compare: {r.message}" for r in report.regressions)

    def terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        report = self.report
        if report is None:
            return
        from dev_system.render.run_summary import summary_lines
        from dev_system.render.text import can_print_emoji

        verbosity = config.get_verbosity()
        ascii_only = not can_print_emoji(getattr(terminalreporter, "_tw", None))
        lines = summary_lines(report, verbosity, ascii_only=ascii_only)
        if not lines:
            return
        if verbosity >= 0:
            terminalreporter.write_sep("-", "telemetry")
        from dev_system.formatting import printable

        for text, markup in lines:  # a stored name or test id holding ESC/CR shows as an escape
            terminalreporter.write_line(printable(text), **markup)


def named_baseline(db_path: Path, name: str, run_id: str) -> str:
    """The id of the run ``--telemetry-compare=NAME`` names, read with the resolver every command
    uses (a run id, a unique prefix of one, ``latest``, ``latest~N``, ``previous``) before this
    run is stored, so ``latest`` is the newest earlier run. A name that matches no run or several,
    or a database that cannot be read, is a usage error (:class:`pytest.UsageError`, exit 4)."""
    import sqlite3

    from dev_system.analysis.evaluation import RunNotFound, baseline_run
    from dev_system.store import db

    problem = None
    try:
        conn = db.connect(db_path, readonly=True)
        try:
            base = baseline_run(conn, run_id, name)
        finally:
            conn.close()
    except (RunNotFound, db.StoreError) as exc:
        problem = str(exc)
    except sqlite3.Error as exc:
        problem = f"the telemetry database cannot be read: {exc}"
    else:
        if base is not None and base.run_id != run_id:
            return base.run_id
        problem = f"{name!r} is this run itself ({run_id})"
    raise pytest.UsageError(f"telemetry: --telemetry-compare={name}: {problem}")


def _apply_exit(session: pytest.Session, report: RunReport, pytest_status: int) -> int:
    """Fail a passing run when the gate found something; never touch any other status."""
    if report.failures and pytest_status in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    return int(session.exitstatus)
