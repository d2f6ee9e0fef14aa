"""Clocks and processes: telemetry measures real time whatever a test does to the clock
(freezegun, time-machine, a stubbed ``time.perf_counter``), and no process of a run is left out
(children started by multiprocessing or ``os.fork``, a SIGTERM to pytest, a call still running
as the process exits, a working directory changed after configuration).

Every test runs the real thing in a subprocess or a real pytest run, and notes the fault it
survived for the campaign's figures (:mod:`test_reliability_figures`).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_reliability_figures import note_fault

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and fork")


def child_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEV_SYSTEM_")}
    env.update(extra)
    return env


def run_python(code: str, cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=child_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def query(db: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def rows(db: Path, where: str = "") -> int:
    return query(db, f"SELECT COUNT(*) FROM telemetry_events {where}")[0][0] if db.exists() else 0


# --- a relative database path, then os.chdir ---------------------------------------------------

CHDIR = """
    import os
    from dev_system.ops.telemetry import configure, flush, telemetry_decorator
    {configure}

    @telemetry_decorator(agent_name="moving")
    def call(i):
        return i

    for i in range(5):
        call(i)
    flush()
    os.chdir("elsewhere")
    for i in range(5):
        call(i)
    flush()
"""


@pytest.mark.parametrize("how", ["configure", "environment"])
def test_a_relative_database_path_is_resolved_once_when_configured(tmp_path, how):
    """``configure(db_path="rel.db")`` or ``DEV_SYSTEM_DB_PATH=rel.db``, then ``os.chdir``: every
    event goes to the one database, in the folder the path was configured in."""
    (tmp_path / "elsewhere").mkdir()
    if how == "configure":
        code, env = CHDIR.format(configure='configure(enabled=True, db_path="rel.db")'), {}
    else:
        code, env = CHDIR.format(configure="configure()"), {"DEV_SYSTEM_TELEMETRY": "1", "DEV_SYSTEM_DB_PATH": "rel.db"}
    result = run_python(code, tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "elsewhere" / "rel.db").exists()
    assert rows(tmp_path / "rel.db") == 10
    note_fault("working directory changed after a relative database path was configured", recorded=10,
               stored=rows(tmp_path / "rel.db"))


# --- clocks: freezegun, time-machine, a stubbed perf_counter, a patched time.time ---------------

PAUSE_S = 0.05


def _record_every_kind() -> None:
    """One call of every kind of recorded callable, each taking PAUSE_S of real time."""
    import asyncio
    import time

    from dev_system.ops.telemetry import telemetry_decorator
    from dev_system.record.spans import Span

    @telemetry_decorator(agent_name="clock", function_name="plain")
    def plain():
        time.sleep(PAUSE_S)

    @telemetry_decorator(agent_name="clock", function_name="coroutine")
    async def coroutine():
        time.sleep(PAUSE_S)  # asyncio.sleep would wait for ever under a frozen loop clock

    @telemetry_decorator(agent_name="clock", function_name="generator")
    def generator():
        time.sleep(PAUSE_S)
        yield 1

    @telemetry_decorator(agent_name="clock", function_name="async_generator")
    async def async_generator():
        time.sleep(PAUSE_S)
        yield 1

    async def drain():
        await coroutine()
        return [item async for item in async_generator()]

    plain()
    list(generator())
    asyncio.run(drain())
    span = Span("clock", "model_call", "span")  # what the SDK instrumentation records with
    time.sleep(PAUSE_S)
    span.end()


def _check_real_time(events: list, before: float, after: float) -> None:
    assert sorted(e.function_name for e in events) == sorted(
        ["plain", "coroutine", "generator", "async_generator", "span"])
    for event in events:
        assert before - 1 <= event.timestamp <= after + 1, (event.function_name, event.timestamp, before)
        assert PAUSE_S * 1000 * 0.9 <= event.latency_ms <= (after - before) * 1000 + 1, (
            event.function_name, event.latency_ms)


def _real_now() -> float:
    from dev_system.record.clock import wall_time

    return wall_time()


@pytest.mark.parametrize("tick", [False, True], ids=["frozen", "tick"])
def test_freezegun_does_not_fool_the_recorded_time_or_latency(recording, tick):
    """Under ``freeze_time("2020-01-01")`` (frozen, or ticking) every kind of call records the
    real wall-clock time it began and the real time it took."""
    freezegun = pytest.importorskip("freezegun")
    before = _real_now()
    with freezegun.freeze_time("2020-01-01", tick=tick):
        _record_every_kind()
    after = _real_now()
    events = recording.events()
    _check_real_time(events, before, after)
    note_fault(f"freezegun freeze_time ({'tick' if tick else 'frozen'})", recorded=5, stored=len(events))


def test_a_score_is_dated_in_real_time_under_freezegun(recording):
    """A score recorded under ``freeze_time`` carries the real time, like the events."""
    freezegun = pytest.importorskip("freezegun")
    from dev_system.ops.telemetry import flush, score
    from dev_system.record.context import trace

    before = _real_now()
    with freezegun.freeze_time("2020-01-01"):
        with trace("scored-under-freezegun"):
            assert score("correctness", 0.5) is not False
        flush()
    after = _real_now()
    conn = sqlite3.connect(recording.db_path)
    try:
        [(stamp,)] = conn.execute("SELECT timestamp FROM scores").fetchall()
    finally:
        conn.close()
    assert before - 1 <= stamp <= after + 1, stamp
    note_fault("freezegun: a score recorded under a frozen clock", recorded=1, stored=1)


@pytest.mark.parametrize("travel", ["freezegun.freeze_time", "time_machine.travel"])
def test_a_clock_moved_before_the_recorder_was_imported(tmp_path, travel):
    """The telemetry modules imported while the clock is frozen still find the real clocks."""
    library, function = travel.split(".")
    pytest.importorskip(library)
    db = tmp_path / "late.db"
    result = run_python(f"""
        import time
        before = time.time()
        import {library}
        with {travel}("2020-01-01", tick=False):
            from dev_system.ops.telemetry import configure, flush, telemetry_decorator
            configure(enabled=True, db_path={str(db)!r})

            @telemetry_decorator(agent_name="late")
            def call():
                time.sleep({PAUSE_S})

            call()
            flush()
        print(before)
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    before = float(result.stdout)
    (timestamp, latency), = query(db, "SELECT timestamp, latency_ms FROM telemetry_events")
    assert before - 1 <= timestamp <= before + 60 and latency >= PAUSE_S * 1000 * 0.9
    note_fault(f"{library} started before telemetry was imported", recorded=1, stored=1)


def test_time_machine_does_not_fool_the_recorded_time_or_latency(recording):
    time_machine = pytest.importorskip("time_machine")
    before = _real_now()
    with time_machine.travel("2020-01-01", tick=False):
        _record_every_kind()
    after = _real_now()
    events = recording.events()
    _check_real_time(events, before, after)
    note_fault("time-machine travel", recorded=5, stored=len(events))


@pytest.mark.parametrize("clock", ["perf_counter", "time", "monotonic"])
def test_a_stubbed_clock_does_not_fool_the_recorded_time_or_latency(recording, monkeypatch, clock):
    import time

    before = _real_now()
    monkeypatch.setattr(time, clock, lambda: 0.0)
    _record_every_kind()
    monkeypatch.undo()
    after = _real_now()
    events = recording.events()
    _check_real_time(events, before, after)
    note_fault(f"time.{clock} stubbed", recorded=5, stored=len(events))


FROZEN_LOAD = """
    import freezegun
    from dev_system.ops.telemetry import configure, flush, stats, telemetry_decorator
    configure(enabled=True, db_path={db!r}, buffer_size=500, flush_interval_s=0.05)

    @telemetry_decorator(agent_name="frozen")
    def call(i):
        return i

    with freezegun.freeze_time("2020-01-01"{tick}):
        for i in range(20_000):
            call(i)
    flush()
    print(stats()["dropped"])
"""


@pytest.mark.parametrize("tick", [False, True], ids=["frozen", "tick"])
def test_back_pressure_still_waits_for_the_writer_under_freezegun(tmp_path, tick):
    """A buffer that fills under a frozen clock waits for the writer as it does under a real
    one: nothing is dropped (freezegun made the wait look a day long, and 16,472 of 20,000
    events were dropped)."""
    pytest.importorskip("freezegun")
    db = tmp_path / "frozen.db"
    result = run_python(FROZEN_LOAD.format(db=str(db), tick=", tick=True" if tick else ""), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0"] and rows(db) == 20_000
    note_fault("buffer full under freezegun", recorded=20_000, stored=rows(db))


# --- a call that straddles the exit-time close ---------------------------------------------------

STRADDLE = """
    import atexit, threading, time
    atexit.register(time.sleep, 3.0)  # registered first, so it runs after telemetry's close
    from dev_system.ops.telemetry import configure, telemetry_decorator
    configure(enabled=True, db_path={db!r}, flush_interval_s=3600, sync={sync})
    entered = threading.Event()

    @telemetry_decorator(agent_name="late")
    def slow():
        entered.set()
        time.sleep(1.0)
        return 1

    @telemetry_decorator(agent_name="early")
    def quick():
        return 1

    quick()
    threading.Thread(target=slow, daemon=True).start()
    entered.wait()
    # The interpreter exits now: telemetry closes while slow() runs; slow() ends after the close.
"""


@pytest.mark.parametrize("sync", [False, True], ids=["buffered", "sync"])
def test_a_call_that_straddles_the_exit_time_close_is_stored(tmp_path, sync):
    db = tmp_path / "straddle.db"
    result = run_python(STRADDLE.format(db=str(db), sync=sync), tmp_path)
    assert result.returncode == 0, result.stderr
    agents = sorted(agent for agent, in query(db, "SELECT agent_name FROM telemetry_events"))
    assert agents == ["early", "late"], result.stderr
    note_fault(f"a call straddling the exit-time close ({'sync' if sync else 'buffered'})", recorded=2,
               stored=len(agents))


# --- SIGTERM to pytest -----------------------------------------------------------------------------

TERMINATED_TESTS = """
    import time
    from pathlib import Path
    from dev_system.ops.telemetry import telemetry_decorator

    HERE = Path({here!r})

    @telemetry_decorator(agent_name="job")
    def step(i):
        return i

    def test_a():
        step(1)
        (HERE / "a.done").touch()

    def test_b():
        step(2)
        step(3)
        (HERE / "b.done").touch()

    def test_c_runs_until_terminated():
        step(4)
        while not ((HERE / "a.done").exists() and (HERE / "b.done").exists()):
            time.sleep(0.05)
        time.sleep(1.0)  # a and b are reported by now
        (HERE / "ready").touch()
        while not (HERE / "stop").exists():
            time.sleep(0.05)
"""


def _pytest_until_ready(tmp_path: Path, *args: str) -> subprocess.Popen:
    import time

    (tmp_path / "test_job.py").write_text(textwrap.dedent(TERMINATED_TESTS.format(here=str(tmp_path))))
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--telemetry",
                             f"--telemetry-db={tmp_path / 'run.db'}", *args, "test_job.py"],
                            cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "ready").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"pytest ended before its last test was ready:\n{proc.communicate()[0]}")
        time.sleep(0.05)
    return proc


@posix_only
@pytest.mark.parametrize("workers", [None, "2"], ids=["single", "xdist"])
def test_sigterm_to_pytest_finishes_the_run_as_terminated(tmp_path, workers):
    """SIGTERM (a CI timeout, ``docker stop``) to pytest, also the xdist controller: the run is
    stored as terminated with its end time and the finished tests' results and counts, and pytest
    still dies by SIGTERM."""
    if workers:
        pytest.importorskip("xdist")
    proc = _pytest_until_ready(tmp_path, *(["-n", workers] if workers else []))
    try:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0]
    finally:
        (tmp_path / "stop").touch()  # an xdist worker left behind ends its test
        proc.kill()
    assert proc.returncode == -signal.SIGTERM, output
    db = tmp_path / "run.db"
    (status, ended_at, passed, failed, metadata), = query(
        db, "SELECT status, ended_at, passed, failed, metadata FROM runs")
    assert status == "terminated" and ended_at is not None and (passed, failed) == (2, 0), output
    assert '"terminated_by": "SIGTERM"' in metadata
    results = dict(query(db, "SELECT nodeid, events FROM test_results WHERE outcome = 'passed'"))
    assert results == {"test_job.py::test_a": 1, "test_job.py::test_b": 2}
    assert rows(db) >= 3  # the finished tests' events (the running test's too, in a single process)
    if not workers:
        assert query(db, "SELECT outcome, events FROM test_results WHERE nodeid LIKE '%test_c%'") == [
            ("interrupted", 1)]
        assert rows(db) == 4
    note_fault(f"SIGTERM to pytest ({'-n ' + workers if workers else 'one process'})", recorded=4 if not workers else 3,
               stored=min(rows(db), 4 if not workers else 3))


# --- the children of a test ------------------------------------------------------------------------

CHILDREN_TESTS = """
    import multiprocessing
    import os

    import pytest
    from dev_system.ops.telemetry import telemetry_decorator

    @telemetry_decorator(agent_name="child")
    def work(i):
        return i

    def many(n):
        for i in range(n):
            work(i)

    @pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
    def test_child_process(method):
        process = multiprocessing.get_context(method).Process(target=many, args=(10,))
        process.start()
        process.join()
        assert process.exitcode == 0
        work(-1)  # one call of its own

    def test_forkserver_again():  # the forkserver started by an earlier test serves this one
        process = multiprocessing.get_context("forkserver").Process(target=many, args=(5,))
        process.start()
        process.join()
        assert process.exitcode == 0

    def test_raw_fork_then_exit():
        pid = os.fork()
        if pid == 0:
            many(10)
            os._exit(0)  # no atexit, no finalizers
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0

    @pytest.mark.telemetry_budget(max_calls=3)
    def test_budget_counts_the_children():
        process = multiprocessing.get_context("spawn").Process(target=many, args=(100,))
        process.start()
        process.join()
"""


@posix_only
@pytest.mark.parametrize("workers", [None, "2"], ids=["single", "xdist"])
def test_children_of_a_test_record_under_it_and_count_in_its_figures(tmp_path, workers):
    """Children started by multiprocessing (spawn, forkserver, fork) or os.fork (ending with
    os._exit) record under the test that started them, in the run, and count in the test's
    figures and its budget."""
    if workers:
        pytest.importorskip("xdist")
    (tmp_path / "test_kids.py").write_text(textwrap.dedent(CHILDREN_TESTS))
    db = tmp_path / "run.db"
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--telemetry",
                             f"--telemetry-db={db}", *(["-n", workers] if workers else []), "test_kids.py"],
                            cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output  # the budget, only
    assert "calls 100 > max_calls 3" in output and "1 failed, 5 passed" in output, output
    (run_id,), = query(db, "SELECT run_id FROM runs")
    figures = dict(query(db, "SELECT nodeid, events FROM test_results"))
    assert figures == {"test_kids.py::test_child_process[spawn]": 11, "test_kids.py::test_child_process[forkserver]": 11,
                       "test_kids.py::test_child_process[fork]": 11, "test_kids.py::test_forkserver_again": 5,
                       "test_kids.py::test_raw_fork_then_exit": 10,
                       "test_kids.py::test_budget_counts_the_children": 100}, output
    stored = dict(query(db, "SELECT trace_id, COUNT(*) FROM telemetry_events WHERE run_id = ? GROUP BY trace_id",
                        run_id))
    assert stored == figures
    note_fault(f"child processes of a test ({'-n ' + workers if workers else 'one process'})", count=6,
               recorded=sum(figures.values()), stored=sum(stored.values()))
