"""Load: many threads in many processes at full speed while reports read; a pytest-xdist run
with four workers; recording faster than the database can take it.

Under load, every event is stored exactly once or counted as dropped — the totals add up —
no "database is locked" reaches the user, reports never fail, and memory stays bounded.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from test_reliability_figures import note_fault

from dev_system.store import db as store

WRITER = """
    import json, sys, threading, warnings
    from dev_system.ops.telemetry import configure, flush, stats, telemetry_decorator
    warnings.simplefilter("always")
    configure(enabled=True, db_path={db!r})

    @telemetry_decorator(agent_name="load-{proc}", event_type="tool_call")
    def call(thread, i):
        return i

    results = [0] * 8

    def work(t):
        results[t] = sum(call(t, i) == i for i in range({n}))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flush()
    print(json.dumps({{"returned": sum(results), "stats": stats()}}))
"""


def child_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("DEV_SYSTEM_")}


@pytest.mark.slow
def test_eight_threads_in_four_processes_while_reports_read(tmp_path):
    """4 processes x 8 threads record at full speed into one database while ``dev-system metrics``
    runs in a loop: every event is stored exactly once or counted, no lock error reaches anyone,
    every report succeeds and sees a growing count."""
    db = tmp_path / "load.db"
    store.connect(db).close()
    per_thread = 5000
    writers = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(WRITER.format(db=str(db), proc=p, n=per_thread))],
                                cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for p in range(4)]
    reports = []
    while any(w.poll() is None for w in writers) or not reports:
        start = time.monotonic()
        report = subprocess.run([sys.executable, "-m", "dev_system", "metrics", "--period", "all", "--format", "json",
                                 "--db", str(db)], cwd=tmp_path, env=child_env(), capture_output=True, text=True,
                                timeout=120)
        reports.append((report.returncode, report.stdout, report.stderr, time.monotonic() - start))
    outcomes = []
    for w in writers:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, err
        assert "locked" not in err and "Traceback" not in err, err
        outcomes.append(json.loads(out))
    # Every report answered, none failed or saw a lock error, and the counts only grew.
    assert all(code == 0 and "locked" not in err for code, _, err, _ in reports), reports
    counts = [json.loads(out)["events"] for _, out, _, _ in reports]
    assert counts == sorted(counts)
    recorded = 4 * 8 * per_thread
    assert sum(o["returned"] for o in outcomes) == recorded  # every call returned its own result
    stored = sum(o["stats"]["stored"] for o in outcomes)
    dropped = sum(o["stats"]["dropped"] for o in outcomes)
    with sqlite3.connect(db) as conn:
        rows, distinct = conn.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM telemetry_events").fetchone()
        per_process = dict(conn.execute("SELECT agent_name, COUNT(*) FROM telemetry_events GROUP BY 1"))
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
    assert rows == distinct == stored and check == "ok"  # exactly once
    assert stored + dropped == recorded  # and nothing lost without a count
    assert per_process == {f"load-{p}": o["stats"]["stored"] for p, o in enumerate(outcomes)}
    assert dropped <= recorded // 100, f"{dropped} of {recorded} dropped under load"
    note_fault("load: 4 processes x 8 threads at full speed while dev-system metrics loops",
               recorded=recorded, stored=stored, dropped=dropped)


XDIST_APP = '''
import threading
from dev_system.ops.telemetry import telemetry_decorator, propagate


@telemetry_decorator(agent_name="agent", event_type="model_call", cost_calculator=lambda result: 0.0001)
def think(step):
    return step


@telemetry_decorator(agent_name="tools", event_type="tool_call")
def act(step):
    return step
'''

XDIST_TESTS = '''
import threading
import pytest
from load_app import act, think
from dev_system.ops.telemetry import propagate

@pytest.mark.parametrize("n", range(16))
def test_busy(n):
    calls = 200 + 37 * n
    for i in range(calls):
        think(i)
    threads = [threading.Thread(target=propagate(lambda: [act(i) for i in range(100)])) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
'''


@pytest.mark.slow
def test_xdist_four_workers_count_every_test_exactly(pytester: pytest.Pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(load_app=XDIST_APP, test_busy=XDIST_TESTS)
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    pytester.makeconftest("import sys, os\nsys.path.insert(0, os.path.dirname(__file__))\n")
    result = pytester.runpytest_subprocess("-n", "4", "--telemetry", "--telemetry-db=t.db", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    expected = {f"test_busy.py::test_busy[{n}]": 200 + 37 * n + 300 for n in range(16)}
    with sqlite3.connect(pytester.path / "t.db") as conn:
        (run_id,) = conn.execute("SELECT run_id FROM runs").fetchone()
        per_test = dict(conn.execute("SELECT nodeid, events FROM test_results WHERE run_id = ?", (run_id,)))
        by_trace = dict(conn.execute("SELECT trace_id, COUNT(*) FROM telemetry_events GROUP BY 1"))
        rows, distinct = conn.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM telemetry_events").fetchone()
        dropped = conn.execute("SELECT TOTAL(count) FROM dropped_events").fetchone()[0]
    assert per_test == expected
    assert by_trace == expected
    assert rows == distinct == sum(expected.values()) and dropped == 0
    note_fault("load: pytest-xdist, 4 workers, 16 busy tests", recorded=sum(expected.values()), stored=rows)


FASTER_THAN_DISK = """
    import json, sqlite3, subprocess, sys, threading, time, tracemalloc
    from dev_system.ops.telemetry import configure, flush, stats, telemetry_decorator
    db = {db!r}
    configure(enabled=True, db_path=db, buffer_size=1000, flush_interval_s=0.01)

    @telemetry_decorator(agent_name="fast")
    def call(i, text):
        return i

    call(-1, "warm")
    flush()
    # Another process takes the write lock for 3 s: the disk "cannot take" anything meanwhile.
    holder = subprocess.Popen([sys.executable, "-c",
        "import sqlite3, time; c = sqlite3.connect(%r, isolation_level=None); c.execute('BEGIN EXCLUSIVE');"
        " print('locked', flush=True); time.sleep(3); c.execute('COMMIT')" % db], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    tracemalloc.start()
    longest = [0]
    stop = threading.Event()

    def watch():
        from dev_system.record.recorder import get_recorder
        buffer = get_recorder().buffer
        while not stop.is_set():
            longest[0] = max(longest[0], len(buffer))
            time.sleep(0.0005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    returned = [0] * 4

    def work(t):
        returned[t] = sum(call(i, "x" * 300) == i for i in range({n}))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    holder.wait()
    flush()
    call(-2, "after")  # the next write stores the drop counts as well
    flush()
    peak = tracemalloc.get_traced_memory()[1]
    conn = sqlite3.connect(db)
    print(json.dumps({{"returned": sum(returned), "stats": stats(), "longest": longest[0], "peak": peak,
        "rows": conn.execute("SELECT COUNT(*) FROM telemetry_events").fetchone()[0],
        "dropped_rows": conn.execute("SELECT TOTAL(count) FROM dropped_events").fetchone()[0]}}))
"""


@pytest.mark.slow
def test_recording_faster_than_the_disk_stays_bounded_and_adds_up(tmp_path):
    db = tmp_path / "slow.db"
    n = 5000
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(FASTER_THAN_DISK.format(db=str(db), n=n))],
                            cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    recorded = 4 * n
    assert outcome["returned"] == recorded
    assert outcome["longest"] <= 1000  # the buffer never grew past its bound
    assert outcome["peak"] < 64 * 2**20, f"{outcome['peak'] / 2**20:.1f} MB"
    stats = outcome["stats"]
    assert stats["dropped"] > 0  # the disk really could not keep up
    assert outcome["rows"] - 2 + stats["dropped"] == recorded  # stored + dropped == recorded
    assert outcome["dropped_rows"] == stats["dropped"]  # and the reports can show the drops
    note_fault("load: recording faster than the disk (write-locked 3 s), buffer of 1,000",
               recorded=recorded, stored=outcome["rows"] - 2, dropped=stats["dropped"])
