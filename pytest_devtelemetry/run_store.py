"""Storing the run: its ``runs`` row, started while pytest collects and finished once the run is
over, and its tests' ``test_results`` rows.

Only the process that reports stores the run (the single process, or the xdist controller once
every worker is down); every process stores its own events.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dev_system.record.clock import wall_time
from dev_system.store import runs
from pytest_devtelemetry.figures import NO_FIGURES, TestFigures, stored_nodeid
from pytest_devtelemetry.outcomes import INTERRUPTED

#: How an outcome is counted in the run's row (an interrupted test is counted in the metadata's
#: ``interrupted_tests``, in none of these).
#: ``runs.status`` of a run ended by a signal (SIGTERM) before pytest could finish it.
TERMINATED = "terminated"
_COUNTED_AS = {"passed": "passed", "xpassed": "passed", "failed": "failed", "skipped": "skipped",
               "xfailed": "skipped", "error": "errors", INTERRUPTED: None}


def nodeid_digest_key(db_path: Path) -> bytes:
    """The key of the digests of redacted node ids (see :func:`~pytest_devtelemetry.figures.stored_nodeid`):
    the database's own (:func:`dev_system.store.meta.database_key`), else, when the database cannot
    be opened, a random one for this process (nothing is stored then)."""
    import os

    try:
        from dev_system.store import db, meta

        conn = db.connect(db_path)
        try:
            return bytes.fromhex(meta.database_key(conn))
        finally:
            conn.close()
    except Exception:
        return os.urandom(32)


def stored_command(args: list[str], redact_keys: Iterable[str] | None = None) -> str:
    """The run's command line as stored in ``runs.command``: redacted like any stored text, and
    the values of options named like ``redact_keys`` (``--api-key=...``, ``--vendor-token VALUE``)
    replaced."""
    from dev_system.record.redaction import Redactor, notice_environment_changes, redact_command_line

    notice_environment_changes()
    redactor = Redactor(redact_keys) if redact_keys is not None else None
    return " ".join(["pytest", shlex.join(redact_command_line(args, redactor))]) if args else "pytest"


def result_rows(outcomes: dict[str, tuple[str, float | None, TestFigures | None]], stored_ids: dict[str, str],
                figures: dict[str, TestFigures], key: bytes) -> list[runs.TestResult]:
    """The ``test_results`` rows of the tests folded into ``outcomes`` (see
    :func:`pytest_devtelemetry.outcomes.fold_outcomes`), in its order: each under the id it was
    stored under (``stored_ids``, else worked out here with the digest ``key``), with the figures
    its reports brought, else those in ``figures``, else none."""
    from dev_system.record.redaction import notice_environment_changes

    notice_environment_changes()  # the ids worked out here are redacted with what is set now
    result = runs.TestResult
    rows = []
    for nodeid, (outcome, duration, brought) in outcomes.items():
        f = brought or figures.get(nodeid) or NO_FIGURES
        rows.append(result(stored_ids.get(nodeid) or stored_nodeid(nodeid, key), outcome,
                           None if duration is None else round(duration, 6), f.calls,
                           f.input_tokens, f.output_tokens, f.cost_usd, f.unknown_cost, f.max_latency_ms))
    return rows


class RunStore:
    """The run's rows in the database at ``db_path``."""

    def __init__(self, config: pytest.Config, run_id: str, db_path: Path,
                 redact_keys: Iterable[str] | None = None) -> None:
        self.config = config
        self.run_id = run_id
        self.db_path = db_path
        args = [str(a) for a in config.invocation_params.args]
        self._record = runs.Run(
            run_id=run_id, started_at=wall_time(),
            command=stored_command(args, redact_keys),
            git_commit=None, git_branch=None, host=runs.host_name(),
        )
        self._started = threading.Event()  # set once the git commit and branch are in the record
        self._starter: threading.Thread | None = None
        #: why the run's first row could not be stored, if it could not
        self.start_error: str | None = None

    def connect(self) -> Any:
        from dev_system.store import db

        return db.connect(self.db_path)

    def start(self) -> None:
        """Look up the git commit and branch (two subprocesses) and store the run's first row, on a
        thread, while pytest collects; whatever reads the run record waits for it."""
        self._starter = threading.Thread(target=self._start_run, name="devtelemetry-start")
        self._starter.start()

    def _lookup_git(self) -> None:
        try:
            try:
                commit, branch = runs.git_info(self.config.rootpath)
            except Exception:
                commit, branch = None, None
            self._record = replace(self._record, git_commit=commit, git_branch=branch)
        finally:
            self._started.set()

    def _start_run(self) -> None:
        self._lookup_git()
        try:
            conn = self.connect()
            try:
                runs.start_run(conn, self._record)
            finally:
                conn.close()
        except Exception as exc:
            self.start_error = f"the run could not be stored in {self.db_path}: {type(exc).__name__}: {exc}"

    @property
    def run_record(self) -> runs.Run:
        """The run as it started (its git commit and branch once the lookup is done)."""
        if not self._started.is_set():
            if self._starter is None:  # no session started: look them up here
                self._lookup_git()
            else:
                self._started.wait()
        return self._record

    def wait_started(self, timeout: float | None = None) -> None:
        """Wait until the run's first row is stored (or could not be)."""
        if self._starter is not None:
            self._starter.join(timeout)

    def store_tests(self, conn: Any, tests: list[runs.TestResult]) -> None:
        """Store the run's row (again: the first may have failed) and its tests' rows."""
        runs.start_run(conn, self.run_record)
        runs.write_test_results(conn, self.run_id, tests)

    def finish(self, conn: Any, report: Any, *, pytest_status: int, gate: bool) -> None:
        """Store the run's end: its counts, final status and what the report found, and set
        ``report.run`` (``report``: the :class:`pytest_devtelemetry.runreport.RunReport`, its
        ``exit_status`` set)."""
        final = report.exit_status
        counts, interrupted = _counts(report.tests)
        metadata = runs.merge_metadata(
            None, tests=len(report.tests), tests_digest=runs.tests_digest(t.nodeid for t in report.tests),
            pytest_exit_status=pytest_status, interrupted_tests=interrupted or None, workers=report.workers or None,
            crashed_workers=dict(report.crashed_workers) or None, gate=gate or None,
            gate_failures=list(report.failures) or None, alerts=[a.message for a in report.alerts] or None,
            dropped_events=report.dropped or None,
        )
        report.run = replace(self.run_record, ended_at=wall_time(), status=runs.status_for_exit(final),
                             exit_status=final, metadata=metadata, **counts)
        runs.finish_run(conn, report.run)

    def finish_terminated(self, tests: list[runs.TestResult], signal_name: str, dropped: int) -> runs.Run:
        """Store the run that ``signal_name`` ended before pytest could: :data:`TERMINATED`, its end
        time, the results and counts of its tests known so far (``tests``), no exit status."""
        self.wait_started(timeout=10.0)
        counts, interrupted = _counts(tests)
        metadata = runs.merge_metadata(
            None, tests=len(tests), tests_digest=runs.tests_digest(t.nodeid for t in tests),
            interrupted_tests=interrupted or None, terminated_by=signal_name, dropped_events=dropped or None,
        )
        run = replace(self.run_record, ended_at=wall_time(), status=TERMINATED, exit_status=None,
                      metadata=metadata, **counts)
        conn = self.connect()
        try:
            self.store_tests(conn, tests)
            runs.finish_run(conn, run)
        finally:
            conn.close()
        return run


def _counts(tests: list[runs.TestResult]) -> tuple[dict[str, int], int]:
    """The run's ``passed``, ``failed``, ``skipped`` and ``errors`` counts of ``tests``, and how many
    of them were interrupted (counted in none of these)."""
    counts: dict[str | None, int] = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0, None: 0}
    for test in tests:
        counts[_COUNTED_AS.get(test.outcome, "failed")] += 1
    interrupted = counts.pop(None)
    return counts, interrupted  # type: ignore[return-value]

