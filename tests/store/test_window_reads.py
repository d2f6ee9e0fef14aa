"""A report over a short window reads the window, not the database's history.

Counted in SQLite virtual-machine steps (a progress handler), which do not depend on the machine:
over a database of 200 days, a one-day report must cost about a day's rows, whatever it adds to
the window's bounds (the usable-row test, a day's range).
"""

from __future__ import annotations

from dev_system.analysis.metrics import compute_breakdown, compute_summary
from dev_system.analysis.periods import Window
from dev_system.store import db as store
from dev_system.store.queries import Filters, count_unusable, list_events
from fakes.eventgen import event, write_events

START = 1_780_000_000.0
DAYS = 200
PER_DAY = 100


def steps(conn, read) -> int:
    """SQLite VM steps (to the nearest 100) that ``read()`` takes."""
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0

    conn.set_progress_handler(tick, 100)
    try:
        read()
    finally:
        conn.set_progress_handler(None, 100)
    return count[0] * 100


def test_one_day_of_a_long_history_costs_about_one_day(tmp_path):
    step = 86400 / PER_DAY
    path = write_events(tmp_path / "t.db", (
        event(START + i * step, agent_name=f"a{i % 3}", model="m", latency_ms=float(i % 997), success=i % 11 != 0)
        for i in range(DAYS * PER_DAY)))
    conn = store.connect(path, readonly=True)
    try:
        day = Window(START + 100 * 86400, START + 101 * 86400)
        whole = steps(conn, lambda: compute_breakdown(conn, Window(), Filters(), "agent"))
        for name, read in {
            "by agent": lambda: compute_breakdown(conn, day, Filters(), "agent"),
            "by day": lambda: compute_breakdown(conn, day, Filters(), "day"),
            "summary": lambda: compute_summary(conn, day),
            "failed": lambda: list_events(conn, day, Filters(), failed_only=True, limit=None),
            "unusable": lambda: count_unusable(conn, day),
        }.items():
            # a day is 1/200 of the database: its reads must cost a small part of the whole's
            assert steps(conn, read) < whole / 20, name
        assert sum(r.calls for r in compute_breakdown(conn, day, Filters(), "day")) == PER_DAY
    finally:
        conn.close()
