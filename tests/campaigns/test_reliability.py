"""Faults: kills, signals, a full disk, a database deleted, replaced or from the future, forks
while the writer works, sinks that raise, exit or hang.

Every test checks the same promise: the user's code goes on (its results are returned), the
database stays sound (``PRAGMA integrity_check``), and every event recorded under the fault is
stored or counted as dropped — none is lost without a count. Each survived fault is noted for the
campaign's figures (:mod:`test_reliability_figures`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_reliability_figures import note_fault

from dev_system.ops.telemetry import add_sink, configure, flush, remove_sink, stats, telemetry_decorator
from dev_system.store import db as store

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and fork")


def child_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEV_SYSTEM_")}
    env.update(extra)
    return env


def start_python(code: str, cwd: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=child_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_python(code: str, cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=child_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def rows(db: Path, where: str = "") -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM telemetry_events {where}").fetchone()[0]


def distinct_ids(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(DISTINCT event_id) FROM telemetry_events").fetchone()[0]


def dropped_in_db(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT TOTAL(count) FROM dropped_events").fetchone()[0])


@telemetry_decorator(agent_name="worker")
def unit(i):
    return i


@pytest.fixture(autouse=True)
def _process_counters_as_they_were():
    """The faults here count drops in this process; later tests that read the process-wide
    counters (``stats()["dropped"] == 0``) get them back as they were."""
    import collections

    from dev_system.record.recorder import get_recorder

    rec = get_recorder()
    dropped, by_reason = rec.dropped, dict(rec.dropped_by_reason)
    yield
    flush()
    rec.dropped, rec.dropped_by_reason = dropped, collections.Counter(by_reason)


# --- kills and signals ---------------------------------------------------------------------------

HEAVY = """
    import os, sys, threading
    from dev_system.ops.telemetry import configure, flush, stats, telemetry_decorator
    configure(enabled=True, db_path={db!r}, sync={sync}, flush_interval_s=0.05, buffer_size=5000)

    @telemetry_decorator(agent_name="heavy")
    def call(i, payload):
        return i

    def hammer(n):
        i = 0
        while True:
            call(i, {{"who": n, "text": "x" * 200}})
            i += 1
            if {sync} and n == 0:
                print("stored", i, flush=True)   # sync: written before the call returned

    for n in range(1 if {sync} else 4):
        threading.Thread(target=hammer, args=(n,), daemon=True).start()
    while not {sync}:
        flush()
        print("stored", stats()["stored"], flush=True)
    threading.Event().wait()
"""


def _kill_while_recording(tmp_path: Path, sync: bool, after: float) -> tuple[int, int]:
    db = tmp_path / "killed.db"
    proc = start_python(HEAVY.format(db=str(db), sync=sync), tmp_path)
    last = 0
    deadline = time.monotonic() + after
    try:
        for line in proc.stdout:
            last = int(line.split()[1])
            if time.monotonic() > deadline and last > 0:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    return last, rows(db) if db.exists() else 0


@posix_only
@pytest.mark.slow
@pytest.mark.parametrize("sync", [False, True], ids=["buffered", "sync"])
def test_sigkill_mid_recording_leaves_a_sound_database_with_everything_flushed(tmp_path, sync):
    """Killed at random moments of heavy recording (four threads writing, a flush loop): the
    database passes integrity_check and holds every event reported flushed before the kill; in
    sync mode every call that returned is there."""
    for attempt, after in enumerate((0.4, 0.9, 1.5)):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        flushed, present = _kill_while_recording(folder, sync, after)
        db = folder / "killed.db"
        assert integrity(db) == "ok"
        assert present >= flushed > 0
        assert distinct_ids(db) == present
        note_fault(f"SIGKILL during heavy recording ({'sync' if sync else 'buffered'})",
                   recorded=flushed, stored=flushed)
        # The database is still usable by the next process and the reports.
        result = run_python(f"""
            from dev_system.ops.telemetry import configure, flush, telemetry_decorator
            configure(enabled=True, db_path={str(db)!r})
            telemetry_decorator(agent_name="after")(lambda: None)()
            flush()
        """, folder)
        assert result.returncode == 0, result.stderr
        assert rows(db, "WHERE agent_name = 'after'") == 1


SLEEPER = """
    import os, signal, sys, threading, time
    from dev_system.ops.telemetry import configure, telemetry_decorator
    {before}
    configure(enabled=True, db_path={db!r}, flush_interval_s={interval})

    @telemetry_decorator(agent_name="term")
    def call(i):
        return i

    threads = [threading.Thread(target=lambda: [call(i) for i in range({n})]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("ready", flush=True)
    time.sleep(60)
"""


@posix_only
@pytest.mark.parametrize("interval", [3600, 0.01], ids=["all-buffered", "writer-busy"])
def test_sigterm_flushes_everything_then_ends_by_sigterm(tmp_path, interval):
    db = tmp_path / "term.db"
    proc = start_python(SLEEPER.format(db=str(db), interval=interval, n=5000, before=""), tmp_path)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGTERM  # the parent sees the same death as without telemetry
    assert rows(db) == 20_000 and integrity(db) == "ok"
    note_fault("SIGTERM with events still buffered", recorded=20_000, stored=rows(db))


@posix_only
def test_an_application_sigterm_handler_is_kept_and_its_exit_flushes(tmp_path):
    db = tmp_path / "own.db"
    before = ("def mine(signum, frame):\n        print('mine', flush=True)\n        sys.exit(3)\n"
              "    signal.signal(signal.SIGTERM, mine)")
    proc = start_python(SLEEPER.format(db=str(db), interval=3600, n=500, before=before), tmp_path)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert out.strip() == "mine" and proc.returncode == 3, err
    assert rows(db) == 2000
    note_fault("SIGTERM under the application's own handler", recorded=2000, stored=rows(db))


@posix_only
def test_keyboard_interrupt_and_sigint_flush_everything(tmp_path):
    db = tmp_path / "int.db"
    result = run_python(f"""
        from dev_system.ops.telemetry import configure, telemetry_decorator
        configure(enabled=True, db_path={str(db)!r}, flush_interval_s=3600)

        @telemetry_decorator(agent_name="ki")
        def call(i):
            if i == 999:
                raise KeyboardInterrupt
            return i

        for i in range(1000):
            call(i)
    """, tmp_path)
    assert result.returncode != 0 and "KeyboardInterrupt" in result.stderr
    assert rows(db) == 1000 and rows(db, "WHERE error_type = 'KeyboardInterrupt' AND NOT success") == 1
    note_fault("KeyboardInterrupt raised through a decorated call", recorded=1000, stored=rows(db))

    db2 = tmp_path / "sigint.db"
    proc = start_python(SLEEPER.format(db=str(db2), interval=3600, n=250, before=""), tmp_path)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert rows(db2) == 1000
    note_fault("SIGINT (Ctrl-C) while events are buffered", recorded=1000, stored=rows(db2))


# --- the disk and the database file ---------------------------------------------------------------

FULL_DISK = """
    import json, os, sqlite3, warnings
    from dev_system.ops.telemetry import configure, flush, stats, telemetry_decorator
    folder = {folder!r}
    db = os.path.join(folder, "t.db")

    @telemetry_decorator(agent_name="disk")
    def call(i, text):
        return i

    results = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        configure(enabled=True, db_path=db, flush_interval_s=3600)
        results += [call(i, "warm") for i in range(10)]
        flush()
        # Fill the filesystem with ballast, leaving a few pages.
        fd = os.open(os.path.join(folder, "ballast"), os.O_CREAT | os.O_WRONLY)
        try:
            while True:
                os.write(fd, b"\\0" * 4096)
        except OSError:
            pass
        os.close(fd)
        for round in range(5):
            results += [call(10 + round * 200 + i, "y" * 500) for i in range(200)]
            flush()
        full = dict(stats())
        os.remove(os.path.join(folder, "ballast"))  # space again: the next write says what was lost
        results += [call(2000 + i, "z") for i in range(10)]
        flush()
    conn = sqlite3.connect(db)
    print(json.dumps({{
        "results": results, "full": full, "after": stats(),
        "warnings": [str(w.message) for w in caught if "telemetry" in str(w.message)],
        "problems": list(stats()["problem_messages"].values()),
        "integrity": conn.execute("PRAGMA integrity_check").fetchone()[0],
        "rows": conn.execute("SELECT COUNT(*) FROM telemetry_events").fetchone()[0],
        "dropped_rows": conn.execute("SELECT TOTAL(count) FROM dropped_events").fetchone()[0],
    }}))
"""


@posix_only
def test_disk_full_code_goes_on_one_logged_problem_drops_counted_and_reported(tmp_path):
    """A real full filesystem: a 1 MB tmpfs mounted in a private mount namespace (needs
    ``unshare``; skipped where user namespaces are not allowed)."""
    mount = tmp_path / "small"
    mount.mkdir()
    script = tmp_path / "full.py"
    script.write_text(textwrap.dedent(FULL_DISK.format(folder=str(mount))))
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True)
    if shutil.which("unshare") is None or probe.returncode != 0:
        pytest.skip("unshare with user namespaces is not available here")
    command = (f"mount -t tmpfs -o size=1m tmpfs {mount} && cd {tmp_path} && "
               f"{sys.executable} {script}")
    result = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", command],
                            capture_output=True, text=True, timeout=120, env=child_env())
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    recorded = 10 + 5 * 200 + 10
    assert outcome["results"] == list(range(10)) + [10 + i for i in range(1000)] + [2000 + i for i in range(10)]
    assert outcome["full"]["dropped"] > 0
    assert outcome["integrity"] == "ok"
    assert outcome["rows"] + outcome["after"]["dropped"] == recorded
    assert outcome["dropped_rows"] == outcome["after"]["dropped"]  # the reports can show it
    assert outcome["warnings"] == []  # never a warning in the caller's context
    assert len(outcome["problems"]) == 1 and "full" in outcome["problems"][0]
    note_fault("disk full (1 MB filesystem), then space again", recorded=recorded, stored=outcome["rows"],
               dropped=outcome["after"]["dropped"])


@pytest.mark.slow
def test_database_deleted_replaced_by_junk_and_by_a_newer_schema_while_recording(tmp_path, caplog):
    """While four threads record, the database is deleted, replaced by a text file, by a database
    of a newer schema, and finally by a fresh file. Calls all return; each kind of problem is
    logged once; stored + dropped = recorded."""
    import threading

    db = tmp_path / "t.db"
    configure(enabled=True, db_path=db, flush_interval_s=0.02, buffer_size=5000)
    stop = threading.Event()
    made = [0] * 4
    returned_ok = [True] * 4

    def hammer(n):
        while not stop.is_set():
            if unit(made[n]) != made[n]:
                returned_ok[n] = False
            made[n] += 1

    def replace_with(content: bytes | None = None, newer: bool = False):
        flush()
        spare = tmp_path / "spare.db"  # made aside, then moved in at once, as a user's mv does
        if content is not None:
            spare.write_bytes(content)
        if newer:
            conn = store.connect(spare)
            conn.execute("PRAGMA user_version = 99")
            conn.close()
        for suffix in ("-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        if spare.exists():
            os.replace(spare, db)
        else:
            db.unlink(missing_ok=True)

    before = stats()
    with caplog.at_level(logging.WARNING, logger="dev_system"):
        threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for step in (lambda: replace_with(None), lambda: replace_with(b"plain text, not SQLite\n" * 50),
                     lambda: replace_with(None, newer=True), lambda: replace_with(None)):
            time.sleep(0.25)
            step()
        time.sleep(0.25)
        stop.set()
        for t in threads:
            t.join()
        flush()
    after = stats()
    recorded = sum(made)
    stored, dropped = after["stored"] - before["stored"], after["dropped"] - before["dropped"]
    assert all(returned_ok)
    assert stored + dropped == recorded and dropped > 0
    assert integrity(db) == "ok" and rows(db) > 0
    kinds = [r.getMessage() for r in caplog.records if r.name == "dev_system"]
    assert len(kinds) == len(set(kinds)) <= 3, kinds
    assert any("schema" in k for k in kinds) and any("not a" in k or "usable" in k for k in kinds), kinds
    with sqlite3.connect(db) as conn:
        in_db = dict(conn.execute("SELECT reason, SUM(count) FROM dropped_events GROUP BY reason"))
    # The drops caused by the unusable files wait for a usable database and are all in the last one
    # (drops for a full buffer may have been stored in the databases the test deleted since).
    store_drops = {reason: count - before["dropped_by_reason"].get(reason, 0)
                   for reason, count in after["dropped_by_reason"].items() if reason.startswith("store:")}
    assert {r: c for r, c in in_db.items() if r.startswith("store:")} == {r: c for r, c in store_drops.items() if c}
    note_fault("database deleted, replaced by junk, by a newer schema, by a fresh file, under load",
               recorded=recorded, stored=stored, dropped=dropped)


def test_a_newer_schema_database_is_never_written_to(tmp_path, caplog):
    db = tmp_path / "newer.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE telemetry_events (id INTEGER PRIMARY KEY, future TEXT)")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    original = db.read_bytes()
    configure(enabled=True, db_path=db)
    dropped_before = stats()["dropped"]
    with caplog.at_level(logging.WARNING, logger="dev_system"):
        assert [unit(i) for i in range(50)] == list(range(50))
        flush()
    assert any("upgrade" in r.getMessage() for r in caplog.records if r.name == "dev_system")
    assert db.read_bytes() == original
    assert stats()["dropped"] - dropped_before == 50
    note_fault("recording into a database of a newer schema", recorded=50, stored=0, dropped=50)


# --- fork ----------------------------------------------------------------------------------------

PREFORK = """
    import os, sys, threading, time
    from dev_system.ops.telemetry import configure, flush, stats, telemetry_decorator
    configure(enabled=True, db_path={db!r}, flush_interval_s=0.01, buffer_size=5000)

    @telemetry_decorator(agent_name="server")
    def handle(who, i):
        return i

    stop = threading.Event()
    parent_made = [0, 0]

    def background(n):
        while not stop.is_set():
            handle("parent", parent_made[n])
            parent_made[n] += 1

    workers = [threading.Thread(target=background, args=(n,), daemon=True) for n in range(2)]
    for t in workers:
        t.start()
    time.sleep(0.05)

    def child_work(name, grandchild=False):
        ts = [threading.Thread(target=lambda: [handle(name, i) for i in range(500)]) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if grandchild:
            pid = os.fork()
            if pid == 0:
                [handle(name + "-grandchild", i) for i in range(300)]
                flush()
                os._exit(0)
            os.waitpid(pid, 0)

    children = []
    for k in range(6):   # forked while the writer thread is busy writing the parent's events
        pid = os.fork()
        if pid == 0:
            child_work(f"child{{k}}", grandchild=(k == 0))
            if k % 2:
                sys.exit(0)      # atexit flushes
            flush()
            os._exit(0)
        children.append(pid)
        time.sleep(0.02)
    for pid in children:
        _, status = os.waitpid(pid, 0)
        assert status == 0, status
    stop.set()
    for t in workers:
        t.join()
    flush()
    print(sum(parent_made), stats()["dropped"])
"""


@posix_only
@pytest.mark.slow
def test_fork_while_the_writer_works_parent_children_and_grandchild_all_record(tmp_path):
    db = tmp_path / "fork.db"
    result = run_python(PREFORK.format(db=str(db)), tmp_path, timeout=90)  # a deadlock would time out
    assert result.returncode == 0, result.stderr
    parent_made, dropped = map(int, result.stdout.split())
    assert dropped == 0
    with sqlite3.connect(db) as conn:
        by_who = dict(conn.execute("SELECT json_extract(metadata, '$.args.who'), COUNT(*) FROM telemetry_events GROUP BY 1"))
    expected = {"parent": parent_made, **{f"child{k}": 1000 for k in range(6)}, "child0-grandchild": 300}
    assert by_who == expected
    assert distinct_ids(db) == sum(expected.values()) and integrity(db) == "ok"
    note_fault("fork (6 children, 1 grandchild) while the writer is busy", recorded=sum(expected.values()),
               stored=sum(by_who.values()), count=7)


# --- sinks and callbacks that raise, exit or hang -------------------------------------------------

class RaisingSink:
    def write(self, events):
        raise ConnectionError("collector down")

    def close(self):
        raise ConnectionError("collector down")


class ExitingSink:
    def write(self, events):
        sys.exit(3)

    def close(self):
        pass


@pytest.mark.parametrize("sink_type", [RaisingSink, ExitingSink])
def test_a_failing_extra_sink_never_costs_the_store_an_event(recording, sink_type, caplog):
    sink = sink_type()
    dropped_before = stats()["dropped"]
    add_sink(sink)
    try:
        with caplog.at_level(logging.WARNING, logger="dev_system"):
            assert [unit(i) for i in range(3000)] == list(range(3000))
            time.sleep(0.6)  # the writer thread meets the sink too, and must survive it
            assert [unit(i) for i in range(3000)] == list(range(3000))
            events = recording.events()
        assert [r for r in caplog.records if r.name == "dev_system"]
    finally:
        remove_sink(sink)
    assert len(events) == 6000 and stats()["dropped"] == dropped_before
    note_fault(f"an extra sink that {'raises' if sink_type is RaisingSink else 'calls sys.exit'}",
               recorded=6000, stored=len(events))


HANGING_SINK = """
    import json, threading, time
    from dev_system.record import recorder
    from dev_system.ops.telemetry import add_sink, configure, stats, telemetry_decorator
    recorder.STUCK_WRITER_S = recorder.CLOSE_WAIT_S = 2.0  # 30 s and 10 s by default
    configure(enabled=True, db_path={db!r}, flush_interval_s=0.01, buffer_size=2000)

    class Hanging:
        def write(self, events):
            threading.Event().wait()
        def close(self):
            pass

    add_sink(Hanging())

    @telemetry_decorator(agent_name="hang")
    def call(i):
        return i

    start = time.monotonic()
    results = [call(i) for i in range(20000)]
    took = time.monotonic() - start
    print(json.dumps({{"ok": results == list(range(20000)), "took": took, "stats": stats()}}), flush=True)
"""


def test_a_sink_that_hangs_does_not_stall_calls_or_keep_the_process_alive(tmp_path):
    """The writer is stuck for ever inside a plugin's sink. Calls still return: each waits at most a
    second while the writer may only be slow, then, once it counts as stuck (``STUCK_WRITER_S``),
    drops at once, counted; at exit the process waits at most ``CLOSE_WAIT_S`` and ends."""
    db = tmp_path / "hang.db"
    start = time.monotonic()
    result = run_python(HANGING_SINK.format(db=str(db)), tmp_path, timeout=90)
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["ok"]
    assert outcome["took"] < 15, "every call waited its second of back-pressure"
    assert outcome["stats"]["dropped"] > 0
    assert "still busy" in result.stderr  # the exit says what it could not store
    assert elapsed < 30
    # Events that reached the store before the hang are there; every other one was counted.
    stored = rows(db) if db.exists() else 0
    exit_dropped = 20000 - outcome["stats"]["dropped"] - stored
    assert exit_dropped >= 0
    note_fault("an extra sink that hangs for ever (calls, and the exit)", recorded=20000, stored=stored,
               dropped=outcome["stats"]["dropped"] + exit_dropped)


def test_cost_calculators_that_raise_or_return_junk_leave_the_call_alone(recording, caplog):
    """Raising with any exception (even one whose str() raises) or returning NaN, a string, a
    negative number: the call returns its result and the cost is unknown."""
    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("no str")

    def boom(result):
        raise Unprintable()

    calculators = [boom, lambda r: float("nan"), lambda r: "1.0", lambda r: -1, lambda r: float("inf"),
                   lambda r: None, lambda r: 1 / 0]
    with caplog.at_level(logging.WARNING, logger="dev_system"):
        for calc in calculators:
            fn = telemetry_decorator(agent_name="m", event_type="model_call", cost_calculator=calc)(lambda: "r")
            assert fn() == "r"
    assert [r for r in caplog.records if r.name == "dev_system"]
    events = recording.events()
    assert len(events) == len(calculators) and all(e.cost_usd is None for e in events)
    note_fault("cost calculators that raise or return junk", recorded=len(calculators), stored=len(events),
               count=len(calculators))


def test_a_database_locked_by_another_writer_delays_no_call(tmp_path):
    """Another process holds the write lock for 2 s: calls keep returning at once, and every
    event is stored once the lock is gone."""
    db = tmp_path / "locked.db"
    store.connect(db).close()
    holder = start_python(f"""
        import sqlite3, sys, time
        conn = sqlite3.connect({str(db)!r}, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        print("locked", flush=True)
        time.sleep(2)
        conn.execute("COMMIT")
    """, tmp_path)
    assert holder.stdout.readline().strip() == "locked"
    configure(enabled=True, db_path=db, flush_interval_s=0.05)
    dropped_before = stats()["dropped"]
    start = time.monotonic()
    assert [unit(i) for i in range(5000)] == list(range(5000))
    assert time.monotonic() - start < 1.5  # the calls did not wait for the lock
    holder.wait(timeout=30)
    flush()
    assert rows(db) == 5000 and stats()["dropped"] == dropped_before
    note_fault("database write-locked by another process for 2 s", recorded=5000, stored=rows(db))


class BrokenPlugin:
    """A ``dev_system`` plugin whose every hook raises."""

    from dev_system.hookspecs import hookimpl

    @hookimpl
    def dev_system_sinks(self, settings):
        raise RuntimeError("plugin cannot make its sink")

    @hookimpl
    def dev_system_alerts(self, summary, thresholds):
        raise RuntimeError("plugin rule crashed")


def test_plugin_hooks_that_raise_leave_recording_and_reports_working(tmp_path, capsys, caplog):
    from dev_system import cli
    from dev_system.hookspecs import get_plugin_manager

    manager = get_plugin_manager()
    plugin = BrokenPlugin()
    manager.register(plugin, name="broken-for-test")
    try:
        db = tmp_path / "t.db"
        with caplog.at_level(logging.WARNING, logger="dev_system"):
            configure(enabled=True, db_path=db)
        assert any("plugin" in r.getMessage() for r in caplog.records if r.name == "dev_system")
        failing = telemetry_decorator(agent_name="svc")(lambda: 1 / 0)
        for _ in range(5):
            with pytest.raises(ZeroDivisionError):
                failing()
        flush()
        assert rows(db) == 5
        capsys.readouterr()
        code = cli.main(["metrics", "--period", "all", "--db", str(db)])
        out, err = capsys.readouterr()
    finally:
        manager.unregister(name="broken-for-test")
    assert code == 0 and "Low success rate: 0.0%" in out  # the built-in alerts are still there
    assert "plugin" in err and err.count("\n") == 1
    note_fault("plugin hooks (sinks, alert rules) that raise", recorded=5, stored=5, count=2)


MULTIPROCESSING = """
    import json, multiprocessing as mp, os, sqlite3, sys
    from dev_system.ops.telemetry import configure, flush, telemetry_decorator
    configure(enabled=True, db_path={db!r}, flush_interval_s=3600)

    @telemetry_decorator(agent_name="mp")
    def work(who, i):
        return i

    def child(n, who):
        for i in range(n):
            work(who, i)
        return n

    def pooled(n):
        return child(n, "pool")

    def terminated(n):
        return child(n, "terminated pool")

    if __name__ == "__main__":
        ctx = mp.get_context({method!r})
        processes = [ctx.Process(target=child, args=(100, "process")) for _ in range(3)]
        for p in processes:
            p.start()
        for p in processes:
            p.join()
        pool = ctx.Pool(2)
        done = sum(pool.map(pooled, [50] * 4))
        pool.close()
        pool.join()
        with ctx.Pool(2) as pool:  # its end terminates the workers with SIGTERM, maybe mid-flush
            done += sum(pool.map(terminated, [50] * 4))
        conn = sqlite3.connect({db!r})
        print(json.dumps({{"done": done, "stored": dict(conn.execute(
            "SELECT json_extract(metadata, '$.args.who'), COUNT(*) FROM telemetry_events GROUP BY 1"))}}))
"""


@posix_only
@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_multiprocessing_children_flush_when_they_end(tmp_path, method):
    """multiprocessing's fork and forkserver children end with os._exit, without atexit: what they
    recorded is flushed by a multiprocessing finalizer instead. A pool ended by its ``with`` block
    terminates its workers with SIGTERM, possibly while they flush: they finish first."""
    db = tmp_path / f"{method}.db"
    script = tmp_path / "mp_app.py"
    script.write_text(textwrap.dedent(MULTIPROCESSING.format(db=str(db), method=method)))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=child_env(), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["done"] == 400
    assert outcome["stored"] == {"process": 300, "pool": 200, "terminated pool": 200}
    note_fault(f"multiprocessing children ({method}) ending without atexit, pools joined or terminated",
               recorded=700, stored=700)
