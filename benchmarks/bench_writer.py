"""writer.*: how fast recorded events reach the SQLite file, against raw sqlite3 in the same run.

- ``writer.executemany_rows_per_s``: the anchor. The very rows our writer produces, inserted with
  plain ``sqlite3`` ``executemany`` in batches of 1,000 (one transaction each) into a fresh file
  with the same schema, WAL journal and ``synchronous=NORMAL`` (``store.connect``).
- ``writer.events_per_s``: the recorder's sustained rate. N events are recorded through the
  decorator (three small arguments captured, the default) while the writer is held back; the clock
  runs from releasing it until every event is committed (raw record -> event -> metadata JSON ->
  SQLite). Anchor and ours alternate, each on a fresh file; figures are medians.
- ``writer.caller_max_us_db_locked``: the calling thread must never wait on the disk. Another
  connection holds the database's write lock for ``writer.db_lock_ms`` while this thread keeps
  recording (200 calls every 10 ms, at most 40% of the buffer: a buffer that fills up is the
  back-pressure case, bounded and counted, not this one); the figure is the slowest single
  decorated call in that time. The writer is blocked on SQLite meanwhile, and every event must
  still be stored once the lock is released.
- ``writer.concurrent_events_per_s`` (no target): one thread recording as fast as it can while the
  writer runs, from the first call to the last commit.
"""

from __future__ import annotations

import gc
import sqlite3
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, section_main

BATCH = 1000


def target(prompt, temperature, max_tokens):
    return prompt


def raw_insert(path: Path, rows: list) -> float:
    from dev_system.store import db as store
    from dev_system.store.events import INSERT_EVENT

    conn = store.connect(path)  # the same schema, WAL, synchronous=NORMAL, busy timeout
    try:
        t0 = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(INSERT_EVENT, rows[i:i + BATCH])
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - t0
        assert conn.execute("SELECT COUNT(*) FROM telemetry_events").fetchone()[0] == len(rows)
    finally:
        conn.close()
    return len(rows) / elapsed


def count_rows(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT COUNT(*) FROM telemetry_events").fetchone()[0]
    finally:
        conn.close()


def measure(quick: bool, scratch: Path) -> dict:
    from dev_system.ops import telemetry
    from dev_system.record.recorder import get_recorder

    rec = get_recorder()
    n = 40_000 if quick else 200_000
    repeats = 3 if quick else 5
    fn = telemetry.telemetry_decorator("bench", "tool_call")(target)
    args = ("hello", 0.2, 128)

    ours, raw = [], []
    for r in range(repeats):
        db = scratch / f"ours-{r}.db"
        telemetry.configure(enabled=True, db_path=db, buffer_size=n + 1000)
        stored_before = rec.stored
        with rec.lock:  # hold the writer back while the events are recorded
            for _ in range(n):
                fn(*args)
            if r == 0:  # the rows for the anchor: exactly what the writer makes of these records
                rows = [rec.finish(item) for item in list(rec.buffer)]
            t0 = time.perf_counter()
        telemetry.flush()
        elapsed = time.perf_counter() - t0
        if rec.stored - stored_before != n or count_rows(db) != n:
            raise RuntimeError(f"writer stored {rec.stored - stored_before} of {n} events")
        ours.append(n / elapsed)
        raw.append(raw_insert(scratch / f"raw-{r}.db", rows))
        telemetry.configure(enabled=False)
        for suffix in ("", "-wal", "-shm"):
            for name in (f"ours-{r}.db", f"raw-{r}.db"):
                (scratch / (name + suffix)).unlink(missing_ok=True)

    # The calling thread while the database is locked by another connection. The anchor's rows go
    # first: a full collection of this benchmark's own garbage is not the recorder's pause.
    del rows
    gc.collect()
    lock_s = 0.5 if quick else 1.0
    db = scratch / "locked.db"
    settings = telemetry.configure(enabled=True, db_path=db)
    room = settings.buffer_size * 2 // 5  # stay well inside the buffer: a full one is the back-pressure case
    fn(*args)
    telemetry.flush()
    stored_before, dropped_before = rec.stored, rec.dropped
    holding = threading.Event()

    def hold_lock():
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        holding.set()
        time.sleep(lock_s)
        conn.execute("COMMIT")
        conn.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    holding.wait()
    slowest = 0.0
    calls = 0
    perf = time.perf_counter
    deadline = perf() + lock_s * 0.9
    max_buffered = 0
    while perf() < deadline and calls + 200 <= room:
        for _ in range(200):
            t0 = perf()
            fn(*args)
            took = perf() - t0
            if took > slowest:
                slowest = took
        calls += 200
        max_buffered = max(max_buffered, len(rec.buffer))
        time.sleep(0.01)
    holder.join()
    telemetry.flush()
    if rec.stored - stored_before != calls or rec.dropped != dropped_before:
        raise RuntimeError(f"locked database: stored {rec.stored - stored_before} of {calls}, "
                           f"dropped {rec.dropped - dropped_before}")
    telemetry.configure(enabled=False)

    # One thread recording flat out while the writer runs (for information).
    concurrent = []
    for r in range(2 if quick else 3):
        db = scratch / f"concurrent-{r}.db"
        telemetry.configure(enabled=True, db_path=db)
        m = n // 2
        stored_before = rec.stored
        t0 = time.perf_counter()
        for _ in range(m):
            fn(*args)
        telemetry.flush()
        concurrent.append((rec.stored - stored_before) / (time.perf_counter() - t0))
        telemetry.configure(enabled=False)

    return {
        "writer.events_per_s": round(median(ours)),
        "writer.executemany_rows_per_s": round(median(raw)),
        "writer.events": n,
        "writer.caller_max_us_db_locked": round(slowest * 1e6, 1),
        "writer.db_lock_ms": round(lock_s * 1000),
        "writer.calls_db_locked": calls,
        "writer.max_buffered_db_locked": max_buffered,
        "writer.concurrent_events_per_s": round(median(concurrent)),
        "writer.dropped": rec.dropped,
    }


if __name__ == "__main__":
    section_main(measure)
