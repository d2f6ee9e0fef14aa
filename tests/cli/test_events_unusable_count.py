"""``events`` says how many unusable rows it left out of what it lists, not of the whole window.

A listing cut by ``--limit`` shows the newest events; the hand-edited rows older than the oldest
one shown would not have been shown either, and counting them meant reading the whole window.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys

from fakes.eventgen import event, write_events

START = 1_780_000_000.0


def _events(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dev_system", "events", *argv], capture_output=True, text=True,
                          timeout=120)


def test_a_cut_listing_counts_the_unusable_rows_among_those_it_lists(tmp_path):
    db = write_events(tmp_path / "t.db", [event(START + i, latency_ms=float(i)) for i in range(100)])
    with sqlite3.connect(db) as conn:  # ten old rows and two recent ones edited by hand
        conn.execute("UPDATE telemetry_events SET latency_ms = 'slow' WHERE timestamp < ? OR timestamp >= ?",
                     (START + 10, START + 98))
    conn.close()

    cut = _events("--limit", "5", "--db", str(db))
    assert cut.returncode == 0, cut.stderr
    assert re.search(r"\b2 unusable rows skipped", cut.stdout + cut.stderr)

    whole = _events("--limit", "0", "--db", str(db))
    assert whole.returncode == 0, whole.stderr
    assert re.search(r"\b12 unusable rows skipped", whole.stdout + whole.stderr)
