"""The run: one object per process role, registered by :func:`start` when telemetry is on.

- :class:`SingleProcess` (no xdist): records, tags each test's events, stores the run, reports.
- :class:`Controller` (xdist ``-n``): runs no test; hands the run id and database to the workers,
  notes workers that crash, and once every worker is down stores and reports the run.
- :class:`Worker` (xdist): records and tags its tests' events into the shared database, and
  sends its counters back; it stores no run and prints nothing.

Reporting (store the run, summary, alerts, gate, comparison, JSON) happens once, in
``pytest_sessionfinish`` of the single process or the controller. The gate turns an exit
status of 0 (or 5, no tests) into 1 and leaves every other status alone.
"""

from __future__ import annotations

import shlex
import threading
import time
from dataclasses import replace
from itertools import repeat
from operator import attrgetter
from pathlib import Path
from typing import Any

import pytest

from dev_system import config as config_module
from dev_system.record.context import get_frame, reset_frame, set_frame
from dev_system.record.recorder import get_recorder
from dev_system.structs import struct
from pytest_devtelemetry.capture import (
    BUDGET_MARKER, CAPTURE_KEY, Budget, BudgetError, SessionWatcher, TestTelemetry, budget_message,
    figures_from_properties, figures_to_properties, raw_figures, running_capture, unwatch, watch,
)
from pytest_devtelemetry.plugin import RUN_PLUGIN, any_budget_marker
from pytest_devtelemetry.runreport import RunReport, terminal_lines

_WORKERINPUT_KEY = "devtelemetry"
_OFF = {"off", "none", "no"}
_THRESHOLDS = (
    ("success_rate_min", "telemetry_success_rate_min"),
    ("p95_latency_ms_max", "telemetry_p95_latency_ms_max"),
    ("daily_cost_usd_max", "telemetry_cost_usd_max"),
)


@struct
class RunOptions:
    """What the options and ini keys ask of this run, checked."""

    gate: bool = False
    top: int = 5
    json_path: Path | None = None
    compare: str | None = None
    compare_limits: tuple = ()
    instrument: tuple[str, ...] | None = None
    thresholds_off: frozenset[str] = frozenset()


def stored_nodeid(nodeid: str) -> str:
    """The id a test is stored under: the trace id of its events and its ``test_results.nodeid``.

    A test parametrized by an API key has the key in its node id; the id is redacted as stored
    text is (the environment's secrets and well-known key shapes, ``capture.redact_text``). The
    same function makes both, in every process, so events still match their test. A redacted id
    ends with ``@`` and 8 hex digits of the original's SHA-256, so that two tests differing only
    in the secret stay two tests (and the same test matches itself from run to run).
    """
    from dev_system.record.arguments import redact_text

    redacted = redact_text(nodeid)
    if redacted == nodeid:
        return nodeid
    import hashlib

    return f"{redacted}@{hashlib.sha256(nodeid.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"


def _ini(config: pytest.Config, name: str) -> str:
    value = config.getini(name)
    return value.strip() if isinstance(value, str) else value


def resolve(config: pytest.Config, run_id: str) -> tuple[config_module.Settings, RunOptions]:
    """The settings (``[tool.dev-system]`` < ini < ``DEV_SYSTEM_*`` < options) and options of this run.
    Raises :class:`pytest.UsageError` with one line for anything that cannot be used."""
    try:
        env = config_module.from_environment()
        overrides: dict[str, Any] = {}
        off: set[str] = set()
        for key, name in _THRESHOLDS:
            ini_value = _ini(config, name)
            option_value = config.getoption(name, None)
            value = option_value if option_value is not None else (ini_value if key not in env else None)
            if value is None or value == "":
                continue
            if str(value).strip().lower() in _OFF:
                off.add(key)
            else:
                overrides[key] = value
        db = config.getoption("telemetry_db", None)
        if db:
            overrides["db_path"] = config.invocation_params.dir / Path(db).expanduser()
        elif _ini(config, "telemetry_db") and "db_path" not in env:
            base = config.inipath.parent if config.inipath else config.rootpath
            overrides["db_path"] = base / Path(_ini(config, "telemetry_db")).expanduser()
        overrides["run_id"] = run_id
        overrides["enabled"] = True
        settings = config_module.load(overrides, cwd=config.rootpath)
    except config_module.ConfigError as exc:
        raise pytest.UsageError(f"telemetry: {exc}") from None
    settings = replace(settings, db_path=Path(settings.db_path).resolve() if settings.db_path else None)

    top_text = config.getoption("telemetry_top", None) or _ini(config, "telemetry_top") or "5"
    try:
        top = int(top_text)
        if top < 0:
            raise ValueError
    except ValueError:
        raise pytest.UsageError(f"telemetry: --telemetry-top must be a whole number >= 0, not {top_text!r}") from None

    compare = config.getoption("telemetry_compare", None)
    if compare not in (None, "auto") and ("::" in compare or (config.invocation_params.dir / compare).exists()):
        raise pytest.UsageError(
            f"telemetry: --telemetry-compare took {compare!r} as the run to compare with; write "
            f"--telemetry-compare={compare} for a run, or put --telemetry-compare after the test paths")
    if compare is None and config.getini("telemetry_compare"):
        compare = "auto"
    limits_text = config.getoption("telemetry_compare_fail", None) or _ini(config, "telemetry_compare_fail")
    limits: tuple = ()
    if limits_text:
        from dev_system.analysis.compare import LimitError, parse_limits

        try:
            limits = tuple(parse_limits(limits_text))
        except LimitError as exc:
            raise pytest.UsageError(f"telemetry: --telemetry-compare-fail: {exc}") from None
        compare = compare or "auto"

    gate = config.getoption("telemetry_gate", None)
    if gate is None:
        gate = bool(config.getini("telemetry_gate"))

    json_path = config.getoption("telemetry_json", None)
    instrument_text = config.getoption("telemetry_instrument", None)
    names = ([n for n in instrument_text.replace(",", " ").split() if n] if instrument_text is not None
             else list(config.getini("telemetry_instrument")))
    instrument: tuple[str, ...] | None = None
    if names:
        instrument = () if [n.lower() for n in names] == ["all"] else tuple(n.lower() for n in names)
    return settings, RunOptions(
        gate=bool(gate), top=top,
        json_path=None if not json_path else config.invocation_params.dir / Path(json_path).expanduser(),
        compare=compare, compare_limits=limits, instrument=instrument, thresholds_off=frozenset(off),
    )


def start(config: pytest.Config) -> None:
    """Switch telemetry on for this pytest process in the role it plays (called by ``pytest_configure``)."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        given = workerinput.get(_WORKERINPUT_KEY)
        if given is None:  # the controller does not record: neither does the worker
            return
        settings, options = resolve(config, given["run_id"])
        settings = replace(settings, db_path=Path(given["db_path"]))
        role: _Role = Worker(config, settings, options)
    else:
        from dev_system.store.runs import new_run_id

        try:  # CI shards share one run through DEV_SYSTEM_RUN_ID; a bad value is reported by resolve()
            shared = config_module.from_environment().get("run_id")
        except config_module.ConfigError:
            shared = None
        settings, options = resolve(config, shared or new_run_id())
        if not settings.enabled:
            config.pluginmanager.register(_SwitchedOff(), RUN_PLUGIN)
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


class _SwitchedOff:
    """``DEV_SYSTEM_TELEMETRY=0`` beats ``--telemetry``: say so, do nothing else."""

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        return ["telemetry: off (DEV_SYSTEM_TELEMETRY=0 beats --telemetry)"]


class _Role:
    """What every role does: switch the recorder on for the session, and back at the end."""

    def __init__(self, config: pytest.Config, settings: config_module.Settings, options: RunOptions) -> None:
        self.config = config
        self.settings = settings
        self.options = options
        self.run_id: str = settings.run_id or ""
        self.db_path = Path(settings.db_path) if settings.db_path else Path()
        self.rec = get_recorder()
        self._previous: config_module.Settings | None = None
        self._previous_trace: str | None = None
        self.dropped_before = 0
        self.instrumented: list[str] = []
        self.instrument_note: str | None = None

    def begin(self) -> None:
        rec = self.rec
        self._previous = rec.settings
        self._previous_trace = rec.default_trace
        self.dropped_before = rec.dropped
        rec.apply(self.settings)
        if self.options.instrument is not None and self.records:
            self._instrument(self.options.instrument)

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

    records = True


class BudgetChecks:
    """Fails a test whose events exceed its ``telemetry_budget``, after its call and its teardown.

    Registered only when a collected test has the marker (``plugin.pytest_collection_modifyitems``):
    a run without budgets pays nothing for them."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        result = yield
        check_budget(item)
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        result = yield
        check_budget(item)
        return result


class _Recording(_Role):
    """Per test: its node id as the trace id, its events captured, its figures."""

    session_watcher: SessionWatcher | None = None
    #: node id -> the id it is stored under (worked out once, when the test starts)
    stored_ids: dict[str, str]
    #: node id -> the test's figures (see TestTelemetry.figures), once it has ended
    test_figures: dict[str, dict[str, Any]]
    #: the running test's node id and the list its raw records go to (None between tests)
    _test_nodeid: str | None = None
    _test_raws: list[tuple] | None = None

    def begin(self) -> None:
        super().begin()
        self.stored_ids = {}
        self.test_figures = {}
        # One raw-record watcher for the session; each test points it at its own capture (see
        # SessionWatcher).
        self.session_watcher = SessionWatcher()
        with self.rec.lock:
            self.rec.raw_watchers.append(self.session_watcher)
        if self.figures_on_teardown_reports():
            self.config.pluginmanager.register(_TeardownProperties(self), _PROPERTIES_PLUGIN)

    def figures_on_teardown_reports(self) -> bool:
        """Whether each test's figures are attached to its teardown report (``user_properties``)."""
        return True

    def end(self) -> None:
        try:
            super().end()
        finally:
            if self.session_watcher is not None:
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
        watch(watcher, raws)  # type: ignore[arg-type]  # made by begin()
        self._test_nodeid, self._test_raws = nodeid, raws
        rec = self.rec
        outer = rec.default_trace
        test_id = self.stored_ids[nodeid] = stored_nodeid(nodeid)
        rec.default_trace = test_id  # threads the test starts carry no context: they get this
        # What ``with trace(test_id)`` does, without a context manager's cost for every test.
        parent = get_frame()
        token = set_frame([test_id, 0, 0, None, parent[4] if parent is not None else True, 0])
        try:
            return (yield)
        finally:
            reset_frame(token)
            rec.default_trace = outer
            self._test_raws = None
            captured = item.stash.get(CAPTURE_KEY, None)
            if captured is not None:
                del item.stash[CAPTURE_KEY]
                captured.stop()
            unwatch(watcher, raws)  # type: ignore[arg-type]
            if nodeid not in self.test_figures:  # not attached to its teardown report already
                self.test_figures[nodeid] = raw_figures(raws)

    def capture_running_test(self, item: pytest.Item) -> TestTelemetry | None:
        """The running test's capture (for the ``telemetry`` fixture and budgets), made around
        the raw records it has recorded so far; ``None`` when ``item`` is not running here."""
        captured = item.stash.get(CAPTURE_KEY, None)
        if captured is None and self._test_raws is not None and item.nodeid == self._test_nodeid:
            captured = item.stash[CAPTURE_KEY] = TestTelemetry(item.nodeid, self.session_watcher,
                                                              self._test_raws).start()
        return captured

    def _teardown_figures(self, report: pytest.TestReport, nodeid: str) -> None:
        """Attach the running test's figures to its teardown report as ``user_properties``."""
        raws = self._test_raws
        if raws is None or self._test_nodeid != nodeid:
            return
        rec = self.rec
        if rec.buffer:
            with rec.lock:
                rec.set_aside()  # the watcher hands them to raws
        figures = self.test_figures[nodeid] = raw_figures(raws)
        report.user_properties += figures_to_properties(figures)


_PROPERTIES_PLUGIN = "devtelemetry-properties"


class _TeardownProperties:
    """Attaches each test's figures to its teardown report (JUnit XML properties; an xdist
    worker's figures reach the controller so). First among the ``pytest_runtest_logreport``
    implementations, so that junitxml's and xdist's read them. Registered only where they are
    read: in an xdist worker, and in a single process writing JUnit XML."""

    def __init__(self, role: _Recording) -> None:
        self.role = role

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            self.role._teardown_figures(report, report.nodeid)


_BUDGET_DONE = pytest.StashKey[bool]()


def check_budget(item: pytest.Item) -> None:
    """Fail the running phase of ``item`` when its events exceed its ``telemetry_budget`` (once per test)."""
    if not any_budget_marker([item]):
        return
    marker = item.get_closest_marker(BUDGET_MARKER)
    if marker is None or item.stash.get(_BUDGET_DONE, False):
        return
    captured = running_capture(item)
    if captured is None:
        return
    try:
        budget = Budget.from_marker(marker)
        problem = None
    except BudgetError as exc:
        budget, problem = None, str(exc)
    if budget is None:
        item.stash[_BUDGET_DONE] = True
        pytest.fail(problem or "telemetry_budget: unusable", pytrace=False)
    figures = captured.figures()
    problems = budget.exceeded(figures)
    if problems:
        item.stash[_BUDGET_DONE] = True
        pytest.fail(budget_message(problems, figures), pytrace=False)


class BudgetsOnly(BudgetChecks):
    """Registered without ``--telemetry`` when some test has a budget: captures the events of the
    marked tests (in memory) and checks their budgets; nothing else."""

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        if not any_budget_marker([item]):
            return (yield)
        captured = TestTelemetry(item.nodeid).start()
        item.stash[CAPTURE_KEY] = captured
        try:
            return (yield)
        finally:
            del item.stash[CAPTURE_KEY]
            captured.stop()


_NO_FIGURES = {"calls": 0, "failures": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0,
               "unknown_cost": 0, "max_latency_ms": None}


_NODEID, _DURATION, _WHEN, _OUTCOME = (attrgetter(name) for name in ("nodeid", "duration", "when", "outcome"))
#: An outcome that a failed teardown turns into an error.
_FINISHED = frozenset({"passed", "xpassed", "skipped", "xfailed"})


def fold_outcomes(report_lists: Any, order: Any = (), read_figures: bool = False,
                  ) -> dict[str, tuple[str, float, dict[str, Any] | None]]:
    """Each test's ``(outcome, duration_s, figures)``, folded from its reports once the run is over.

    ``report_lists``: lists of reports in any order across lists (the terminal reporter's
    ``stats``, a list per category); other objects in them are passed over. A test's duration is
    the sum of its reports'; its outcome is decided by its setup, then its call, then its
    teardown report (a failed teardown turns a finished test into an error). ``order``: node ids
    in the order the tests ran, which the result follows. ``read_figures``: take each test's
    figures from its teardown report's ``user_properties`` (an xdist worker's tests), else None.
    """
    report_type = pytest.TestReport
    durations: dict[str, float] = {}
    get = durations.get
    deciding: list[tuple[str, Any]] = []  # the reports that may change an outcome or bring figures
    for reports in report_lists:
        if not all(map(isinstance, reports, repeat(report_type))):
            reports = [report for report in reports if isinstance(report, report_type)]
        # Read with C-level getters: this loop runs three times a test.
        for nodeid, duration, when, outcome, report in zip(
                map(_NODEID, reports), map(_DURATION, reports), map(_WHEN, reports), map(_OUTCOME, reports), reports):
            durations[nodeid] = get(nodeid, 0.0) + (duration or 0.0)
            if when == "call" or outcome != "passed" or read_figures and when == "teardown":
                deciding.append((nodeid, report))
    setups, calls, teardowns = [], [], []
    for nodeid, report in deciding:
        when = report.when
        (setups if when == "setup" else teardowns if when == "teardown" else calls).append((nodeid, report))
    decided: dict[str, str] = {}
    for nodeid, report in setups:
        if report.outcome == "failed":
            decided[nodeid] = "error"
        elif report.outcome == "skipped":
            decided[nodeid] = "xfailed" if hasattr(report, "wasxfail") else "skipped"
    for nodeid, report in calls:
        outcome = report.outcome
        if report.when != "call":  # xdist's report of a test whose worker crashed
            decided[nodeid] = "failed"
        elif outcome == "passed":
            decided[nodeid] = "xpassed" if hasattr(report, "wasxfail") else "passed"
        elif outcome == "failed":
            decided[nodeid] = "failed"
        elif outcome == "skipped":
            decided[nodeid] = "xfailed" if hasattr(report, "wasxfail") else "skipped"
        # any other outcome (a plugin's "rerun" of the test) decides nothing
    figures: dict[str, dict[str, Any]] = {}
    for nodeid, report in teardowns:
        if report.outcome == "failed" and decided.get(nodeid, "passed") in _FINISHED:
            decided[nodeid] = "error"
        if read_figures:
            found = figures_from_properties(report.user_properties)
            if found is not None:
                figures[nodeid] = found
    if order:
        durations = {**{nodeid: durations[nodeid] for nodeid in order if nodeid in durations}, **durations}
    outcome_of, figures_of = decided.get, figures.get
    return {nodeid: (outcome_of(nodeid, "passed"), duration, figures_of(nodeid))
            for nodeid, duration in durations.items()}


class _ReportCollector:
    """Keeps every test report, for a run whose terminal reporter does not (``-p no:terminal``)."""

    def __init__(self) -> None:
        self.reports: list[pytest.TestReport] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.reports.append(report)


class _Reporting(_Role):
    """The process that reports: stores the run and its tests, prints the summary, applies the gate."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.started_at = time.time()
        #: where the tests' reports are read at the end: the terminal reporter's ``stats`` or
        #: a collector's list (see pytest_sessionstart)
        self._report_lists: Any = ()
        self.report: RunReport | None = None
        self.crashed: dict[str, str] = {}
        self.worker_info: dict[str, dict[str, Any]] = {}
        self.start_error: str | None = None
        from dev_system.store.runs import RunRecord, host_name

        args = [str(a) for a in self.config.invocation_params.args]
        self._record = RunRecord(
            run_id=self.run_id, started_at=self.started_at,
            command=" ".join(["pytest", shlex.join(args)]) if args else "pytest",
            git_commit=None, git_branch=None, host=host_name(),
        )
        self._started = threading.Event()  # set once the git commit and branch are in the record
        self._starter: threading.Thread | None = None

    def _lookup_git(self) -> None:
        from dev_system.store.runs import git_info

        try:
            try:
                commit, branch = git_info(self.config.rootpath)
            except Exception:
                commit, branch = None, None
            self._record = replace(self._record, git_commit=commit, git_branch=branch)
        finally:
            self._started.set()

    def _start_run(self) -> None:
        from dev_system.store.runs import start_run

        self._lookup_git()
        try:
            conn = self._connect()
            try:
                start_run(conn, self._record)
            finally:
                conn.close()
        except Exception as exc:
            self.start_error = f"the run could not be stored in {self.db_path}: {type(exc).__name__}: {exc}"

    @property
    def run_record(self) -> Any:
        """The run as it started (its git commit and branch once the lookup is done)."""
        if not self._started.is_set():
            if self._starter is None:  # no session started: look them up here
                self._lookup_git()
            else:
                self._started.wait()
        return self._record

    def _wait_started(self) -> None:
        """Wait until the run's first row is stored (or could not be)."""
        if self._starter is not None:
            self._starter.join()

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # The git lookups (two subprocesses) and storing the run's first row are done by a thread
        # while pytest collects; whatever reads the run record waits for it (see run_record).
        self._starter = threading.Thread(target=self._start_run, name="devtelemetry-start")
        self._starter.start()
        # The tests' outcomes are read from the reports the terminal reporter keeps anyway, once,
        # at the end: no hook implementation of ours runs for each of a test's three reports.
        stats = getattr(session.config.pluginmanager.get_plugin("terminalreporter"), "stats", None)
        if isinstance(stats, dict):
            self._report_lists = stats.values()
        else:
            collector = _ReportCollector()
            session.config.pluginmanager.register(collector, "devtelemetry-reports")
            self._report_lists = (collector.reports,)

    def _test_outcomes(self) -> dict[str, tuple[str, float, dict[str, Any] | None]]:
        """Each test's outcome, duration and figures, from its reports."""
        return fold_outcomes(self._report_lists)

    def _connect(self) -> Any:
        from dev_system.store import db as store

        return store.connect(self.db_path)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        lines = [f"telemetry: run {self.run_id} -> {self.db_path}"
                 + (" (gate on)" if self.options.gate else "")]
        if self.instrumented:
            lines.append(f"telemetry: instrumented {', '.join(self.instrumented)}")
        if self.instrument_note:
            lines.append(f"telemetry: {self.instrument_note}")
        return lines

    # -- the end of the run -----------------------------------------------------------------

    def _local_flush(self) -> None:
        """Store what this process still buffers (and the drops it counted)."""
        self.rec.flush()
        try:
            self.rec.store_drops()
        except Exception:  # the database is unusable: the drops stay counted in memory, and shown
            pass

    def _counted_drops(self) -> int:
        """Events this session's processes counted as dropped."""
        return (self.rec.dropped - self.dropped_before
                + sum(int(i.get("dropped", 0)) for i in self.worker_info.values()))

    def _problems(self) -> int:
        from dev_system.problems import problem_counts

        return sum(problem_counts().values()) + sum(int(i.get("problems", 0)) for i in self.worker_info.values())

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.report is not None:
            return
        pytest_status = int(session.exitstatus)
        self._wait_started()
        report = self.report = RunReport(self.run_id, self.db_path, gate=self.options.gate, top=self.options.top,
                                         pytest_exit_status=pytest_status, crashed_workers=dict(self.crashed),
                                         workers=len(self.worker_info) + len(self.crashed))
        if self.start_error:
            report.errors.append(self.start_error)
        try:
            self._finish(session, report, pytest_status)
        except Exception as exc:
            report.dropped = max(report.dropped, self._counted_drops())
            report.errors.append(f"the run's telemetry could not be stored or read ({self.db_path}):"
                                 f" {type(exc).__name__}: {exc}")
            if self.options.gate or self.options.compare_limits:
                report.failures.append("telemetry gate: the run's telemetry could not be evaluated")
            final = self._apply_exit(session, report, pytest_status)
            report.exit_status = final
        if self.options.json_path is not None:
            try:
                report.write_json(self.options.json_path)
            except OSError as exc:
                report.errors.append(f"cannot write {self.options.json_path}: {exc.strerror or exc}")
        try:
            self.config.hook.pytest_devtelemetry_summary(config=self.config, report=report)
        except Exception as exc:
            report.errors.append(f"a pytest_devtelemetry_summary hook failed: {type(exc).__name__}: {exc}")

    def _apply_exit(self, session: pytest.Session, report: RunReport, pytest_status: int) -> int:
        """Fail a passing run when the gate found something; never touch any other status."""
        if report.failures and pytest_status in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return int(session.exitstatus)

    def _thresholds(self) -> Any:
        from dev_system.analysis.alerts import Thresholds

        values = Thresholds.from_settings(self.settings)
        return Thresholds(**{key: None if key in self.options.thresholds_off else getattr(values, key)
                             for key, _ in _THRESHOLDS})

    def _rules(self, report: RunReport) -> list[Any]:
        from dev_system.analysis.alerts import plugin_rules

        def guarded(rule: Any, name: str) -> Any:
            def run(summary: Any, thresholds: Any) -> list[Any]:
                try:
                    return list(rule(summary, thresholds) or ())
                except Exception as exc:  # a broken rule must not hide the others
                    report.errors.append(f"{name} failed: {type(exc).__name__}: {exc}")
                    if self.options.gate:
                        report.failures.append(f"telemetry gate: {name} failed, the alerts are incomplete")
                    return []
            return run

        def pytest_hook(summary: Any, thresholds: Any) -> list[Any]:
            results = self.config.hook.pytest_devtelemetry_alerts(config=self.config, summary=summary,
                                                                   thresholds=thresholds)
            return [alert for result in results if result for alert in result]

        rules = [guarded(rule, "a dev_system_alerts plugin") for rule in plugin_rules()]
        rules.append(guarded(pytest_hook, "a pytest_devtelemetry_alerts hook"))
        return rules

    def _finish(self, session: pytest.Session, report: RunReport, pytest_status: int) -> None:
        from dev_system.store import runs
        from dev_system.analysis.alerts import evaluate_alerts
        from dev_system.analysis.metrics import compute_breakdown, compute_summary
        from dev_system.analysis.periods import Window
        from dev_system.store.queries import Filters

        self._local_flush()
        report.problems = self._problems()
        report.dropped = self._counted_drops()
        tests = []
        ids: dict[str, str] = getattr(self, "stored_ids", {})
        figures_of: dict[str, dict[str, Any]] = getattr(self, "test_figures", {})
        result = runs.TestResult
        for nodeid, (outcome, duration, figures) in self._test_outcomes().items():
            f = figures or figures_of.get(nodeid) or _NO_FIGURES
            tests.append(result(
                ids.get(nodeid) or stored_nodeid(nodeid), outcome, round(duration, 6), f["calls"],
                f["input_tokens"], f["output_tokens"], f["cost_usd"], f["unknown_cost"], f["max_latency_ms"],
            ))
        report.tests = tests
        conn = self._connect()
        try:
            runs.start_run(conn, self.run_record)
            runs.write_test_results(conn, self.run_id, tests)
            window = Window(None, None, f"Run {self.run_id}", "run")
            filters = Filters(run_id=self.run_id)
            summary = report.summary = compute_summary(conn, window, filters)
            report.dropped = max(report.dropped, summary.dropped_events)
            report.agents = compute_breakdown(conn, window, filters, "agent")
            if self.config.get_verbosity() > 0:
                report.event_types = compute_breakdown(conn, window, filters, "event_type")
                report.models = compute_breakdown(conn, window, filters, "model")
            thresholds = report.thresholds = self._thresholds()
            report.alerts = evaluate_alerts(summary, thresholds, self._rules(report), cost_scope="total")
            if self.options.gate:
                report.failures.extend(f"telemetry gate: {alert.message}" for alert in report.alerts)
            if self.options.compare is not None:
                self._compare(conn, report, summary)
            final = self._apply_exit(session, report, pytest_status)
            report.exit_status = final
            counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
            bucket = {"passed": "passed", "xpassed": "passed", "failed": "failed", "skipped": "skipped",
                      "xfailed": "skipped", "error": "errors"}
            for test in tests:
                counts[bucket.get(test.outcome, "failed")] += 1
            metadata = runs.merge_metadata(
                None, tests=len(tests), tests_digest=runs.tests_digest(t.nodeid for t in tests),
                pytest_exit_status=pytest_status, workers=report.workers or None,
                crashed_workers=dict(self.crashed) or None, gate=self.options.gate or None,
                gate_failures=list(report.failures) or None, alerts=[a.message for a in report.alerts] or None,
                dropped_events=report.dropped or None,
            )
            report.run = replace(self.run_record, ended_at=time.time(), status=runs.status_for_exit(final),
                                 exit_status=final, metadata=metadata, **counts)
            runs.finish_run(conn, report.run)
        finally:
            conn.close()
        # Everything is stored: the database file takes in its write-ahead log on the writer's
        # thread while pytest prints its summary, rather than when the recorder closes.
        self.rec.checkpoint_soon()

    def _compare(self, conn: Any, report: RunReport, summary: Any) -> None:
        from dev_system.analysis import compare
        from dev_system.store import runs

        wanted = self.options.compare
        if wanted == "auto":
            base = compare.find_baseline(conn, self.run_id, nodeids=[t.nodeid for t in report.tests],
                                         branch=self.run_record.git_branch)
            if base is None:
                report.compare_note = ("Telemetry comparison: no earlier completed run of the same tests"
                                       " in the database; nothing to compare with")
                return
        else:
            try:
                base = runs.resolve_run(conn, wanted)
            except runs.RunNotFound as exc:
                report.errors.append(f"--telemetry-compare: {exc}")
                if self.options.compare_limits:
                    report.failures.append(f"telemetry compare: no baseline run {wanted!r}")
                return
            if base.run_id == self.run_id:
                report.errors.append(f"--telemetry-compare: {wanted!r} is this run itself")
                return
        report.comparison = compare.compare_runs(conn, base.run_id, self.run_id, new_summary=summary)
        report.regressions = compare.regressions(report.comparison, self.options.compare_limits)
        report.failures.extend(f"telemetry compare: {r.message}" for r in report.regressions)

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        report = self.report
        if report is None:
            return
        verbosity = config.get_verbosity()
        lines = terminal_lines(report, verbosity, ascii_only=not _can_print_emoji(terminalreporter))
        if not lines:
            return
        if verbosity >= 0:
            terminalreporter.write_sep("-", "telemetry")
        from dev_system.render.formatting import printable

        for text, markup in lines:  # a stored name or test id holding ESC/CR shows as an escape
            terminalreporter.write_line(printable(text), **markup)


def _can_print_emoji(terminalreporter: Any) -> bool:
    from dev_system.render.text import EMOJI, can_encode

    encoding = getattr(getattr(terminalreporter, "_tw", None), "encoding", None)
    return can_encode(EMOJI["alert"], encoding)


class SingleProcess(_Recording, _Reporting):
    """No xdist: the tests run here, and this process stores and reports the run."""

    def figures_on_teardown_reports(self) -> bool:
        return bool(getattr(self.config.option, "xmlpath", None))  # --junitxml reads them there

    def _test_outcomes(self) -> dict[str, tuple[str, float, dict[str, Any] | None]]:
        return fold_outcomes(self._report_lists, order=self.stored_ids)


class Controller(_Reporting):
    """The xdist controller: gives the workers the run, waits for them, stores and reports the run."""

    records = False

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[_WORKERINPUT_KEY] = {"run_id": self.run_id, "db_path": str(self.db_path)}

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        name = getattr(getattr(node, "gateway", None), "id", None) or str(node)
        info = (getattr(node, "workeroutput", None) or {}).get(_WORKERINPUT_KEY)
        if error is not None or info is None:
            self.crashed[name] = str(error) if error is not None else "it ended without reporting its telemetry"
        else:
            self.worker_info[name] = info

    def _test_outcomes(self) -> dict[str, tuple[str, float, dict[str, Any] | None]]:
        return fold_outcomes(self._report_lists, read_figures=True)  # the workers' figures


class Worker(_Recording):
    """An xdist worker: records its tests' events into the run's database and reports its counters."""

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from dev_system.problems import problem_counts

        info: dict[str, Any] = {}
        try:
            self.rec.flush()
            self.rec.store_drops()
            self.rec.checkpoint_soon()  # while the worker ends (see _Reporting._finish)
            stats = self.rec.stats()
            info = {"stored": stats["stored"], "dropped": stats["dropped"] - self.dropped_before}
        except Exception as exc:
            info = {"error": f"{type(exc).__name__}: {exc}"}
        info["problems"] = sum(problem_counts().values())
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[_WORKERINPUT_KEY] = info
