"""Timestamps far from now: one event in year 9999, a few in 2090, one in 1970.

A report draws its days (or hours) only over the window asked for and a sane range of it: not
after a day from now, at most ten years. The events outside are in every figure and counted as
"not drawn", never turned into hundreds of thousands of daily points.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

from test_reliability_figures import note_fault

from dev_system.events import TelemetryEvent
from dev_system.store import db as store
from dev_system.store.events import insert_events

YEAR_9999 = 253_402_000_000.0
YEAR_2090 = 3_786_000_000.0


def _event(timestamp: float) -> TelemetryEvent:
    return TelemetryEvent(timestamp, "model_call", "agent", "call", 10, 5, 120.0, 0.001, True, None,
                          uuid.uuid4().hex, None, uuid.uuid4().hex, None, None, None, "gpt-4o-mini")


def _database(path: Path, odd: list[float]) -> int:
    now = time.time()
    normal = [_event(now - 3 * 86400 + i * 2600) for i in range(100)]
    conn = store.connect(path)
    try:
        insert_events(conn, normal + [_event(t) for t in odd])
    finally:
        conn.close()
    return len(normal)


def _dev_system(*argv: str) -> subprocess.CompletedProcess:
    # Before reports bounded their days, these took minutes and wrote a page of 100 MB.
    return subprocess.run([sys.executable, "-m", "dev_system", *argv], capture_output=True, text=True, timeout=120)


def test_future_events_are_counted_not_drawn_in_a_30_day_report(tmp_path):
    db = tmp_path / "t.db"
    odd = [YEAR_9999] + [YEAR_2090 + i * 86400 * 40 for i in range(5)]
    normal = _database(db, odd)

    metrics = _dev_system("metrics", "--period", "30d", "--format", "json", "--db", str(db))
    assert metrics.returncode == 0, metrics.stderr
    figures = json.loads(metrics.stdout)
    assert figures["events"] == normal + len(odd)
    assert figures["undrawn_events"] == len(odd)
    days = figures["cost_usd"]["by_day"]
    assert 3 <= len(days) <= 5, days
    years = (str(time.localtime().tm_year), str(time.localtime().tm_year - 1))
    assert all(day.startswith(years) for day in days)

    text = _dev_system("metrics", "--period", "30d", "--db", str(db))
    assert "Not Drawn: 6 events dated outside" in text.stdout

    page = tmp_path / "page.html"
    report = _dev_system("report", "--html", str(page), "--period", "30d", "--db", str(db))
    assert report.returncode == 0, report.stderr
    html = page.read_text()
    assert len(html) < 1_000_000
    assert "Not drawn: 6 events dated outside" in html
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S).group(1))
    labels = data["series"]["labels"]
    assert 3 <= len(labels) <= 5 and not any(label.startswith(("2090", "9999")) for label in labels), labels
    note_fault("bad clock: events in year 9999 and 2090 in a 30-day report", recorded=normal + len(odd),
               stored=figures["events"], count=2)


def test_an_all_time_report_draws_at_most_ten_years(tmp_path):
    db = tmp_path / "t.db"
    normal = _database(db, [1.0, 86400.0 * 365 * 20, YEAR_2090])

    metrics = _dev_system("metrics", "--period", "all", "--format", "json", "--db", str(db))
    assert metrics.returncode == 0, metrics.stderr
    figures = json.loads(metrics.stdout)
    assert figures["events"] == normal + 3
    assert figures["undrawn_events"] == 3
    assert len(figures["cost_usd"]["by_day"]) <= 5

    page = tmp_path / "page.html"
    report = _dev_system("report", "--html", str(page), "--period", "all", "--db", str(db))
    assert report.returncode == 0, report.stderr
    html = page.read_text()
    assert len(html) < 1_000_000
    assert "Not drawn: 3 events" in html
    note_fault("bad clock: events in 1970, 1990 and 2090 in an all-time report", recorded=normal + 3,
               stored=figures["events"])
