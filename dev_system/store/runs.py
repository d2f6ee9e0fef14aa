"""Test runs and their per-test results in the telemetry database (the ``runs`` and
``test_results`` tables of :mod:`dev_system.store.schema`).

A *run* is one pytest session recorded with ``--telemetry``: every event it records carries its
``run_id``. The pytest plugin writes runs; ``dev-system runs`` and ``dev-system compare`` read
them. Front-end free: nothing here knows pytest or argparse.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from dev_system.formatting import plural
from dev_system.json_fields import load_object
from dev_system.store.batch import insert_rows, rows_per_statement, values_sql
from dev_system.store.db import transaction
from dev_system.store.queries import USABLE, Between, Filters, and_where, bounded_json_sql, read_expr, where_clause
from dev_system.store.schema import has_table, table_columns
from dev_system.structs import struct

if TYPE_CHECKING:
    import sqlite3

#: ``runs.status`` for each pytest exit status (anything else is stored as ``exit N``).
STATUS_BY_EXIT = {
    0: "passed",
    1: "failed",
    2: "interrupted",
    3: "internal error",
    4: "usage error",
    5: "no tests",
}
RUNNING = "running"
#: Statuses of runs that ended with their tests run to completion (the candidates for a baseline).
COMPLETED = ("passed", "failed")


class RunNotFound(LookupError):
    """No run matches what was asked for; the message is one line for a person."""


@struct
class Run:
    """One row of ``runs``."""

    run_id: str
    started_at: float
    ended_at: float | None = None
    status: str = RUNNING
    command: str | None = None
    git_commit: str | None = None
    git_branch: str | None = None
    host: str | None = None
    passed: int | None = None
    failed: int | None = None
    skipped: int | None = None
    errors: int | None = None
    exit_status: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end (``None`` while running)."""
        return None if self.ended_at is None else self.ended_at - self.started_at

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "run_id": self.run_id, "started_at": self.started_at, "ended_at": self.ended_at,
            "status": self.status, "command": self.command, "git_commit": self.git_commit,
            "git_branch": self.git_branch, "host": self.host, "passed": self.passed, "failed": self.failed,
            "skipped": self.skipped, "errors": self.errors, "exit_status": self.exit_status,
            "metadata": dict(self.metadata),
        }


class TestResult(NamedTuple):
    """One row of ``test_results``: a test's outcome and the figures of the events it recorded.

    A named tuple: a run makes one for each of its tests (thousands, when the run ends)."""

    __test__ = False  # not a pytest test class

    nodeid: str
    outcome: str
    duration_s: float | None = None
    events: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unknown_cost: int = 0
    max_latency_ms: float | None = None

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "nodeid": self.nodeid, "outcome": self.outcome, "duration_s": self.duration_s,
            "events": self.events, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd, "unknown_cost": self.unknown_cost, "max_latency_ms": self.max_latency_ms,
        }


def new_run_id(now: float | None = None) -> str:
    """A unique run id that sorts by time: ``20261128-223512-4f9c2a1b``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


def status_for_exit(exit_status: int) -> str:
    """The ``runs.status`` text of a pytest exit status."""
    return STATUS_BY_EXIT.get(int(exit_status), f"exit {int(exit_status)}")


def host_name() -> str:
    """This machine's name."""
    try:
        return socket.gethostname()
    except OSError:
        return "unknown"


def git_info(cwd: str | os.PathLike[str] | None = None) -> tuple[str | None, str | None]:
    """``(commit, branch)`` of the git work tree around ``cwd``; ``None`` for what is unknown
    (no git, not a repository, no commit yet, a detached head has no branch)."""

    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(("git", *args), cwd=cwd, capture_output=True, text=True, timeout=5,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            return None
        text = done.stdout.strip()
        return text if done.returncode == 0 and text else None

    if not _may_be_in_git_work_tree(cwd):
        return None, None
    commit = run("rev-parse", "--verify", "-q", "HEAD")
    branch = run("symbolic-ref", "--short", "-q", "HEAD")
    return commit, branch


def _may_be_in_git_work_tree(cwd: str | os.PathLike[str] | None) -> bool:
    """False when git would find no repository: no ``.git`` in ``cwd`` or a folder above it, and
    no ``GIT_DIR`` (the check costs a few ``stat`` calls; starting git twice costs milliseconds)."""
    if os.environ.get("GIT_DIR"):
        return True
    try:
        folder = Path(cwd if cwd is not None else os.getcwd()).resolve()
        return any(os.path.lexists(os.path.join(f, ".git")) for f in (folder, *folder.parents))
    except (OSError, ValueError):
        return True  # cannot tell: ask git


def tests_digest(nodeids: Iterable[str]) -> str:
    """A short fingerprint of a set of node ids (two runs of the same tests have the same one)."""
    import hashlib

    digest = hashlib.sha1()
    for nodeid in sorted(set(nodeids)):
        digest.update(nodeid.encode("utf-8", "surrogateescape"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def start_run(conn: sqlite3.Connection, run: Run) -> None:
    """Store a run as it starts (status ``running``); a run already stored is left as it is."""
    conn.execute(
        "INSERT OR IGNORE INTO runs (run_id, started_at, ended_at, status, command, git_commit, git_branch,"
        " host, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (run.run_id, run.started_at, run.ended_at, run.status, run.command, run.git_commit, run.git_branch,
         run.host, json.dumps(run.metadata) if run.metadata else None),
    )


def finish_run(conn: sqlite3.Connection, run: Run) -> None:
    """Store a run's end: status, counts, exit status and metadata (the row is made if it is missing)."""
    start_run(conn, run)
    conn.execute(
        "UPDATE runs SET ended_at = ?, status = ?, command = ?, git_commit = ?, git_branch = ?, host = ?,"
        " passed = ?, failed = ?, skipped = ?, errors = ?, exit_status = ?, metadata = ? WHERE run_id = ?",
        (run.ended_at, run.status, run.command, run.git_commit, run.git_branch, run.host, run.passed,
         run.failed, run.skipped, run.errors, run.exit_status,
         json.dumps(run.metadata, default=str) if run.metadata else None, run.run_id),
    )


_RESULT_WIDTH = 1 + len(TestResult._fields)  # the run id, then a result
_INSERT_RESULTS = ("INSERT OR REPLACE INTO test_results (run_id, nodeid, outcome, duration_s, events, input_tokens,"
                   " output_tokens, cost_usd, unknown_cost, max_latency_ms) VALUES ")


def write_test_results(conn: sqlite3.Connection, run_id: str, results: Iterable[TestResult]) -> int:
    """Store the results of a run's tests in one transaction (a test stored already is replaced)."""
    rows = [(run_id, *r) for r in results]
    # Many rows to a statement: one statement step per row costs a run of thousands of tests.
    many = _INSERT_RESULTS + values_sql(_RESULT_WIDTH, rows_per_statement(_RESULT_WIDTH))

    def chunk_statement(chunk: Sequence[tuple]) -> tuple[str, list[Any]]:
        return many, list(itertools.chain.from_iterable(chunk))

    with transaction(conn):
        insert_rows(conn, rows, _RESULT_WIDTH, _INSERT_RESULTS + values_sql(_RESULT_WIDTH), chunk_statement)
    return len(rows)


#: The columns of a run as read: texts and metadata bounded (a database is untrusted input).
_RUN_COLUMNS = ", ".join((
    "run_id", "started_at", "ended_at",
    *(read_expr(name, {name}) for name in ("status", "command", "git_commit", "git_branch", "host")),
    "passed", "failed", "skipped", "errors", "exit_status", bounded_json_sql("metadata")))


#: ``SELECT`` of every column of ``runs``, each bounded, in :class:`Run`'s order (a sub-query for
#: reads that join runs with other tables).
SELECT_RUNS = f"SELECT {_RUN_COLUMNS} FROM runs"
#: How many columns :data:`SELECT_RUNS` reads.
RUN_WIDTH = len(fields(Run))


def run_from_row(row: tuple) -> Run:
    """The :class:`Run` of a row read by :data:`SELECT_RUNS`."""
    values = list(row)
    values[13] = load_object(values[13])
    return Run(*values)


def get_run(conn: sqlite3.Connection, run_id: str) -> Run | None:
    """The run with this exact id, or ``None``."""
    if not has_table(conn, "runs"):
        return None
    row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return None if row is None else run_from_row(row)


def list_runs(conn: sqlite3.Connection, *, limit: int | None = 20, branch: str | None = None,
              before: float | None = None, statuses: Iterable[str] | None = None) -> list[Run]:
    """Runs, newest first: at most ``limit`` (``None``: all), optionally of one git ``branch``,
    started before ``before``, with one of ``statuses``."""
    if not has_table(conn, "runs"):
        return []
    parts, params = [], []
    if branch is not None:
        parts.append("git_branch = ?")
        params.append(branch)
    if before is not None:
        parts.append("started_at < ?")
        params.append(before)
    if statuses is not None:
        statuses = list(statuses)
        parts.append(f"status IN ({', '.join('?' * len(statuses))})")
        params.extend(statuses)
    sql = f"SELECT {_RUN_COLUMNS} FROM runs"
    if parts:
        sql += " WHERE " + " AND ".join(parts)
    sql += " ORDER BY started_at DESC, run_id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [run_from_row(row) for row in conn.execute(sql, params)]


def test_results(conn: sqlite3.Connection, run_id: str) -> dict[str, TestResult]:
    """The stored results of a run's tests, by node id (in node id order)."""
    if not has_table(conn, "test_results"):
        return {}
    rows = conn.execute(
        "SELECT nodeid, outcome, duration_s, events, input_tokens, output_tokens, cost_usd, unknown_cost,"
        " max_latency_ms FROM test_results WHERE run_id = ? ORDER BY nodeid",
        (run_id,),
    )
    return {row[0]: TestResult._make(row) for row in rows}


test_results.__test__ = False  # type: ignore[attr-defined]  # not a pytest test function

#: The figures of a test in both runs, as :func:`paired_test_figures` reads them: node id, then
#: each figure in the baseline run and in the new run (cost, tokens, events, max latency).
PAIRED_COLUMNS = ("nodeid", "base_cost_usd", "new_cost_usd", "base_tokens", "new_tokens", "base_events",
                  "new_events", "base_max_latency_ms", "new_max_latency_ms")


def paired_test_figures(conn: sqlite3.Connection, base_id: str,
                        new_id: str) -> tuple[list[tuple[Any, ...]], list[str], list[str]]:
    """The tests of two runs, paired by node id in SQLite: plain rows (:data:`PAIRED_COLUMNS`) of
    the tests in both runs, in node id order, then the node ids only in ``new_id`` and those only
    in ``base_id`` (sorted). Tuples, not objects: a run holds thousands of tests."""
    if not has_table(conn, "test_results"):
        return [], [], []
    pairs = conn.execute(
        "SELECT n.nodeid, b.cost_usd, n.cost_usd, b.input_tokens + b.output_tokens, n.input_tokens + n.output_tokens,"
        " b.events, n.events, b.max_latency_ms, n.max_latency_ms"
        " FROM test_results n JOIN test_results b ON b.run_id = ? AND b.nodeid = n.nodeid"
        " WHERE n.run_id = ? ORDER BY n.nodeid", (base_id, new_id)).fetchall()
    return pairs, _unpaired(conn, new_id, base_id, len(pairs)), _unpaired(conn, base_id, new_id, len(pairs))


def _unpaired(conn: sqlite3.Connection, run_id: str, other_id: str, paired: int) -> list[str]:
    """The node ids of ``run_id`` not in ``other_id`` (none when all ``paired`` of them are)."""
    if conn.execute("SELECT COUNT(*) FROM test_results WHERE run_id = ?", (run_id,)).fetchone()[0] == paired:
        return []
    return [row[0] for row in conn.execute(
        "SELECT nodeid FROM test_results t WHERE run_id = ? AND NOT EXISTS"
        " (SELECT 1 FROM test_results o WHERE o.run_id = ? AND o.nodeid = t.nodeid) ORDER BY nodeid",
        (run_id, other_id))]

_RELATIVE = re.compile(r"^(latest|last)(?:~(\d+))?$|^previous$")


def resolve_run(conn: sqlite3.Connection, ref: str, *, skip: str | None = None) -> Run:
    """The run named by ``ref``: a full run id, a unique prefix of one, ``latest`` (the newest run),
    ``latest~N`` (the N-th before it) or ``previous`` (``latest~1``); ``latest`` and ``latest~N``
    count the runs other than ``skip`` (the run a baseline is wanted for). The one reader of run names:
    every command and option that takes a run comes here (through
    :mod:`dev_system.analysis.evaluation`). Raises :class:`RunNotFound`, whose message is one line
    for a person, when no run or more than one run matches."""
    ref = (ref or "").strip()
    if not ref:
        raise RunNotFound("no run given")
    match = _RELATIVE.match(ref)
    if match:
        back = 1 if ref == "previous" else int(match.group(2) or 0)
        runs = [run for run in list_runs(conn, limit=back + 2) if run.run_id != skip][:back + 1]
        if len(runs) <= back:
            raise RunNotFound(f"no run {ref!r}: the database holds {plural(len(runs), 'run')}")
        return runs[back]
    exact = get_run(conn, ref)
    if exact is not None:
        return exact
    if not has_table(conn, "runs"):
        raise RunNotFound(f"no run {ref!r}: the database holds no runs")
    rows = conn.execute(  # a prefix, compared exactly (LIKE would ignore case)
        f"SELECT {_RUN_COLUMNS} FROM runs WHERE substr(run_id, 1, length(?)) = ? ORDER BY started_at DESC LIMIT 3",
        (ref, ref),
    ).fetchall()
    if not rows:
        raise RunNotFound(f"no run {ref!r} (see 'dev-system runs')")
    if len(rows) > 1:
        more = ", ..." if len(rows) > 2 else ""
        raise RunNotFound(f"{ref!r} names more than one run ({rows[0][0]}, {rows[1][0]}{more}): give more of the id")
    return run_from_row(rows[0])


def trace_runs(conn: sqlite3.Connection, trace_id: str) -> list[str | None]:
    """The runs whose usable events carry trace id ``trace_id``, the run of the newest event
    first; ``None`` stands for the events of no run (recorded outside pytest). A test's node id is
    its events' trace id in every run of it, so one trace id may come back from many runs."""
    present = table_columns(conn)
    if not present:
        return []
    where, params = where_clause(Between(), Filters(trace_id=trace_id), present)
    if "run_id" not in present:
        found = conn.execute(f"SELECT 1 FROM telemetry_events{and_where(where, USABLE)} LIMIT 1", params).fetchone()
        return [None] if found else []
    rows = conn.execute(f"SELECT run_id, MAX(timestamp) FROM telemetry_events{and_where(where, USABLE)}"
                        " GROUP BY run_id ORDER BY 2 DESC, run_id DESC", params)
    return [row[0] for row in rows]


def merge_metadata(base: Mapping[str, Any] | None, **more: Any) -> dict[str, Any]:
    """``base`` updated with the ``more`` values that are not ``None``."""
    out = dict(base or {})
    out.update({k: v for k, v in more.items() if v is not None})
    return out


def default_db_path(start: str | os.PathLike[str] | None = None) -> Path:
    """The database a project around ``start`` uses (see :func:`dev_system.config.default_db_path`)."""
    from dev_system import config

    return config.default_db_path(None if start is None else Path(start))


@struct
class RunTotals:
    """The events of one run, counted: how many, their known cost, how many of unknown cost."""

    events: int = 0
    cost_usd: float = 0.0
    unknown_cost: int = 0


def event_totals(conn: sqlite3.Connection, run_ids: Iterable[str]) -> dict[str, RunTotals]:
    """:class:`RunTotals` of each run in ``run_ids`` (runs without events are left out)."""
    ids = list(dict.fromkeys(run_ids))
    columns = table_columns(conn)
    if not ids or "run_id" not in columns:
        return {}
    out = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = conn.execute(
            "SELECT run_id, COUNT(*), TOTAL(cost_usd), COUNT(*) - COUNT(cost_usd) FROM telemetry_events"
            f" WHERE run_id IN ({', '.join('?' * len(chunk))}) GROUP BY run_id", chunk)
        out.update({row[0]: RunTotals(row[1], row[2], row[3]) for row in rows})
    return out
