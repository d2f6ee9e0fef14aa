"""report.*: the 7-day ``dev-system metrics`` figures over 1,000,000 events spread over 30 days.

The database is generated once (plausible agents, functions, models, 8% failures, 2% unknown
costs, log-normal latencies) and cached in ``benchmarks/.cache/``; it is made again when it is
more than a day old or was made with another schema version, so that the 7-day window always
holds about 7/30 of it.

- ``report.ours_ms``: ``dev-system metrics --period 7d --db ...`` run in this process (argument
  parsing, read-only open, summary, alerts, the text report), interpreter start excluded.
- ``report.naive_sql_ms``: the same figures by plain SQL, one query per figure as one would write
  them by hand; the percentiles by ``ORDER BY latency_ms LIMIT 1 OFFSET n``.

Both run alternately on the same file with a warm page cache; figures are medians. The two
results are checked against each other (events, top agent, cost, p95).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import sqlite3
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CACHE, median, section_main

EVENTS = 1_000_000
DAYS = 30
MAX_AGE_S = 86400
DB_NAME = f"report-{EVENTS // 1000}k-{DAYS}d.db"

AGENTS = ("orchestrator", "persona_runtime", "viral_engine", "llm", "retriever")
FUNCTIONS = ("generate_content", "process_request", "score_post", "summarize", "embed", "search")
EVENT_TYPES = ("model_call", "tool_call", "api_call")
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-haiku", None)
ERRORS = ("TimeoutError", "RateLimitError", "ValueError", "APIConnectionError")


def generate(path: Path, n: int, days: int, now: float) -> None:
    """``n`` events evenly spread over the ``days`` before ``now``, written through the store."""
    from dev_system.events import TelemetryEvent
    from dev_system.store import db as store
    from dev_system.store.events import insert_events

    tmp = path.with_suffix(".tmp")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    rng = random.Random(20261128)
    start = now - days * 86400
    step = days * 86400 / n
    conn = store.connect(tmp)
    try:
        batch = []
        for i in range(n):
            event_type = rng.choice(EVENT_TYPES)
            ok = rng.random() >= 0.08
            model = rng.choice(MODELS) if event_type == "model_call" else None
            unknown = event_type == "model_call" and rng.random() < 0.02
            tin, tout = (rng.randint(10, 2000), rng.randint(5, 800)) if event_type == "model_call" else (0, 0)
            batch.append(TelemetryEvent(
                start + i * step, event_type, rng.choice(AGENTS), rng.choice(FUNCTIONS), tin, tout,
                rng.lognormvariate(6.0, 0.8), None if unknown else round(rng.random() * 0.02, 6), ok,
                None if ok else rng.choice(ERRORS), uuid.UUID(int=rng.getrandbits(128)).hex,
                None if ok else json.dumps({"error_message": "upstream said no"}),
                uuid.UUID(int=rng.getrandbits(128)).hex, None, None, None, model,
            ))
            if len(batch) == 50_000:
                insert_events(conn, batch)
                batch = []
        if batch:
            insert_events(conn, batch)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    os.replace(tmp, path)
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    path.with_suffix(".json").write_text(json.dumps({"events": n, "days": days, "generated_at": now,
                                                     "schema": store.SCHEMA_VERSION}))


def cached_db() -> tuple[Path, float]:
    """The cached database (made when missing or stale) and how long making it took (0 when cached)."""
    path = CACHE / DB_NAME
    meta = path.with_suffix(".json")
    try:
        info = json.loads(meta.read_text())
        from dev_system.store import db as store

        fresh = (path.is_file() and info["events"] == EVENTS and info.get("schema") == store.SCHEMA_VERSION
                 and time.time() - info["generated_at"] < MAX_AGE_S)
    except (OSError, ValueError, KeyError):
        fresh = False
    if fresh:
        return path, 0.0
    CACHE.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    generate(path, EVENTS, DAYS, time.time())
    return path, time.perf_counter() - t0


def ours(db: Path) -> tuple[float, str]:
    from dev_system import cli

    out = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        status = cli.main(["metrics", "--period", "7d", "--db", str(db)])
    elapsed = time.perf_counter() - t0
    if status not in (0, 1):
        raise RuntimeError(f"dev-system metrics exited {status}")
    return elapsed, out.getvalue()


def naive(db: Path) -> tuple[float, dict]:
    """The 7-day figures, one hand-written query each."""
    t0 = time.perf_counter()
    since = time.time() - 7 * 86400
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        q = lambda sql, *params: conn.execute(sql, (since, *params))  # noqa: E731
        events, successes, first, last = q(
            "SELECT COUNT(*), SUM(success), MIN(timestamp), MAX(timestamp) FROM telemetry_events"
            " WHERE timestamp >= ?").fetchone()
        cost, unknown, tin, tout = q(
            "SELECT TOTAL(cost_usd), SUM(cost_usd IS NULL), TOTAL(input_tokens), TOTAL(output_tokens)"
            " FROM telemetry_events WHERE timestamp >= ?").fetchone()
        percentiles = {}
        for p in (50, 95, 99):
            percentiles[p] = q("SELECT latency_ms FROM telemetry_events WHERE timestamp >= ?"
                               " ORDER BY latency_ms LIMIT 1 OFFSET ?", int(p / 100 * (events - 1))).fetchone()[0]
        top = q("SELECT agent_name, COUNT(*) AS c FROM telemetry_events WHERE timestamp >= ?"
                " GROUP BY agent_name ORDER BY c DESC, agent_name LIMIT 1").fetchone()
        errors = q("SELECT COALESCE(error_type, 'unknown'), COUNT(*) FROM telemetry_events"
                   " WHERE timestamp >= ? AND NOT success GROUP BY 1 ORDER BY 2 DESC").fetchall()
        daily = q("SELECT date(timestamp, 'unixepoch', 'localtime') AS d, TOTAL(cost_usd)"
                  " FROM telemetry_events WHERE timestamp >= ? GROUP BY d ORDER BY d").fetchall()
        dropped = q("SELECT TOTAL(count) FROM dropped_events WHERE timestamp >= ?").fetchone()[0]
    finally:
        conn.close()
    elapsed = time.perf_counter() - t0
    return elapsed, {
        "events": events, "failures": events - successes, "success_rate": 100.0 * successes / events,
        "cost": cost, "unknown_cost": unknown, "input_tokens": tin, "output_tokens": tout,
        "p50": percentiles[50], "p95": percentiles[95], "p99": percentiles[99],
        "top_agent": top[0], "errors": dict(errors), "daily": dict(daily), "dropped": dropped,
        "first": first, "last": last,
    }


def check_agreement(db: Path, figures: dict) -> None:
    """Our summary and the hand-written SQL must give the same figures (same window)."""
    from dev_system.analysis.metrics import compute_summary
    from dev_system.analysis.periods import Window
    from dev_system.store import db as store

    conn = store.connect(db, readonly=True)
    try:
        summary = compute_summary(conn, Window(time.time() - 7 * 86400, None, "7d", "7d"))
    finally:
        conn.close()
    # The window start moves with the clock between the two reads: allow a handful of events.
    if abs(summary.events - figures["events"]) > 50 or summary.top_agent != figures["top_agent"]:
        raise RuntimeError(f"summary {summary.events} events / {summary.top_agent}; "
                           f"SQL {figures['events']} / {figures['top_agent']}")
    if not math.isclose(summary.total_cost_usd, figures["cost"], rel_tol=1e-3):
        raise RuntimeError(f"cost: summary {summary.total_cost_usd}, SQL {figures['cost']}")
    if not math.isclose(summary.p95_latency_ms, figures["p95"], rel_tol=1e-2):
        raise RuntimeError(f"p95: summary {summary.p95_latency_ms}, SQL {figures['p95']}")


def measure(quick: bool, scratch: Path) -> dict:
    db, generate_s = cached_db()
    repeats = 3 if quick else 7
    ours(db)  # warm: imports, page cache
    naive(db)
    ours_s, naive_s = [], []
    text = ""
    figures: dict = {}
    for _ in range(repeats):
        took, text = ours(db)
        ours_s.append(took)
        took, figures = naive(db)
        naive_s.append(took)
    if "Development Metrics" not in text:
        raise RuntimeError(f"unexpected report:\n{text[:500]}")
    check_agreement(db, figures)
    return {
        "report.ours_ms": round(median(ours_s) * 1000, 1),
        "report.naive_sql_ms": round(median(naive_s) * 1000, 1),
        "report.window_events": figures["events"],
        "report.db_events": EVENTS,
        "report.db_generated_s": round(generate_s, 1),
        "report.repeats": repeats,
    }


if __name__ == "__main__":
    section_main(measure)
