"""report_scale.*: every report surface against a floor of plain SQL, over 1,000,000 events.

Each surface is run in this process the way the command runs it (``dev_system.cli.main``: argument
parsing, read-only open, the figures, the rendering), alternately with its *floor*: plain
``sqlite3`` reading the rows and columns that surface needs and computing the same figures in the
simplest correct way (SQL aggregates for sums and counts, ``GROUP BY`` for groups, every latency
read and sorted in Python for the exact percentiles, the documented linear interpolation). Both
results are compared (:func:`agree`) before any time is reported; figures are medians of the
alternating repeats, on the same file with a warm page cache.

- ``metrics_30d``, ``by_agent``, ``by_model``, ``by_day``: ``metrics --period 30d [--by KEY]``
  over the 30-day window of ``report-1000k-30d.db`` (the ``report`` section's database).
- ``html``: ``report --html`` of the same window (the page: summary, three breakdowns, the
  per-day series by agent with p50/p95, the newest failed calls and the traces drawn).
- ``failed``: ``events --failed --period 30d``; ``trace``: ``trace ID`` of a failed call's trace.
- ``compare``: ``compare A B`` of two runs of 5,000 tests; ``runs``: ``runs`` over 10,000 runs.
- ``combine``: events per second of ``combine`` of 8 shards of 125,000 events, against ``ATTACH``
  + ``INSERT ... SELECT`` of the same rows into a fresh database of the same schema.
- ``history``: ``metrics --period 30d`` over ``report-5000k-150d.db`` (the same 1M window and 4M
  older events) divided by the same over the 1M database.
- ``peak_rss_mb``: the largest peak RSS (``VmHWM``) of a fresh interpreter running one surface (each
  surface, over the 1M database and over the 5M one with ``--period all``).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CACHE, ROOT, clean_env, median, section_main
from bench_report import cached_db

HISTORY_NAME = "report-5000k-150d.db"
SHARDS = 8
SHARD_EVENTS = 125_000
TESTS = 5_000
RUNS = 10_000
QS = (50, 95, 99)


# --- shared helpers ----------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float | None:
    """numpy's default percentile (linear), as the docs define it, over sorted values."""
    n = len(values)
    if not n:
        return None
    rank = q / 100 * (n - 1)
    low = math.floor(rank)
    high = min(low + 1, n - 1)
    f = rank - low
    a, b = values[low], values[high]
    return b - (b - a) * (1 - f) if f >= 0.5 else a + (b - a) * f


def ro(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)


def cli(args: list[str]) -> str:
    from dev_system import cli as command

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = command.main(args)
    if status not in (0, 1):
        raise RuntimeError(f"dev-system {' '.join(args)} exited {status}")
    return out.getvalue()


def close(a: float | None, b: float | None, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def check(name: str, ok: bool, detail: str = "") -> None:
    if not ok:
        raise RuntimeError(f"{name}: our figures differ from the floor's {detail}")


# --- floors ------------------------------------------------------------------------------------

def floor_summary(conn: sqlite3.Connection, since: float) -> dict:
    """The figures of ``metrics``: one aggregate per figure, latencies sorted in Python."""
    w = " FROM telemetry_events WHERE timestamp >= ?"
    events, ok, cost, unknown, tin, tout, first, last = conn.execute(
        "SELECT COUNT(*), SUM(success), TOTAL(cost_usd), SUM(cost_usd IS NULL), TOTAL(input_tokens),"
        f" TOTAL(output_tokens), MIN(timestamp), MAX(timestamp){w}", (since,)).fetchone()
    agents = dict(conn.execute(f"SELECT agent_name, COUNT(*){w} GROUP BY 1", (since,)).fetchall())
    errors = dict(conn.execute(f"SELECT COALESCE(error_type, 'unknown'), COUNT(*){w} AND NOT success GROUP BY 1",
                               (since,)).fetchall())
    latencies = sorted(row[0] for row in conn.execute(f"SELECT latency_ms{w}", (since,)))
    daily = dict(conn.execute(f"SELECT date(timestamp, 'unixepoch', 'localtime'), TOTAL(cost_usd){w} GROUP BY 1",
                              (since,)).fetchall())
    unpriced = conn.execute(f"SELECT model, COUNT(*){w} AND cost_usd IS NULL GROUP BY 1", (since,)).fetchall()
    replayed = conn.execute(f"SELECT COUNT(*), TOTAL(cost_usd){w} AND json_extract(metadata, '$.replayed') = 1",
                            (since,)).fetchone()
    dropped = conn.execute("SELECT TOTAL(count) FROM dropped_events WHERE timestamp >= ?", (since,)).fetchone()[0]
    top = min(agents, key=lambda k: (-agents[k], k)) if agents else None
    return {"events": events, "successes": ok, "cost": cost, "unknown": unknown, "tin": tin, "tout": tout,
            "first": first, "last": last, "top": top, "errors": errors, "daily": daily, "unpriced": unpriced,
            "replayed": replayed, "dropped": dropped, **{f"p{q}": pct(latencies, q) for q in QS}}


def floor_groups(conn: sqlite3.Connection, since: float, key_sql: str) -> dict:
    """Per key: calls, successes, known cost, unknown-cost calls, tokens, p50/p95/p99."""
    w = " FROM telemetry_events WHERE timestamp >= ?"
    sums = conn.execute(f"SELECT {key_sql}, COUNT(*), SUM(success), TOTAL(cost_usd), SUM(cost_usd IS NULL),"
                        f" TOTAL(input_tokens), TOTAL(output_tokens){w} GROUP BY 1", (since,)).fetchall()
    latencies: dict = defaultdict(list)
    for key, latency in conn.execute(f"SELECT {key_sql}, latency_ms{w}", (since,)):
        latencies[key].append(latency)
    out = {}
    for key, calls, ok, cost, unknown, tin, tout in sums:
        values = sorted(latencies[key])
        out[key] = (calls, ok, cost, unknown, tin, tout, *(pct(values, q) for q in QS))
    return out


LOCAL_DAY = "date(timestamp, 'unixepoch', 'localtime')"


def floor_html(conn: sqlite3.Connection, since: float) -> dict:
    """What the page shows: the summary, three breakdowns, the per-day series by agent with p50
    and p95, the newest failed calls, the traces of those and of the slowest calls."""
    w = " FROM telemetry_events WHERE timestamp >= ?"
    figures = {"summary": floor_summary(conn, since)}
    for key in ("agent_name", "model", "function_name"):
        figures[key] = floor_groups(conn, since, key)
    series = defaultdict(dict)
    for day, agent, calls, cost in conn.execute(f"SELECT {LOCAL_DAY}, agent_name, COUNT(*), TOTAL(cost_usd){w}"
                                                " GROUP BY 1, 2", (since,)):
        series[day][agent] = (calls, cost)
    per_day = {day: (calls, ok, unknown) for day, calls, ok, unknown in conn.execute(
        f"SELECT {LOCAL_DAY}, COUNT(*), SUM(success), SUM(cost_usd IS NULL){w} GROUP BY 1", (since,))}
    latencies: dict = defaultdict(list)
    for day, latency in conn.execute(f"SELECT {LOCAL_DAY}, latency_ms{w}", (since,)):
        latencies[day].append(latency)
    figures["series"] = {day: (per_day[day], series[day], pct(sorted(v), 50), pct(sorted(v), 95))
                         for day, v in latencies.items()}
    failed = conn.execute(f"SELECT *{w} AND NOT success ORDER BY timestamp DESC, id DESC LIMIT 100",
                          (since,)).fetchall()
    figures["failed"] = [row[14] for row in failed]
    slowest = conn.execute(f"SELECT trace_id, run_id{w} AND trace_id IS NOT NULL ORDER BY latency_ms DESC LIMIT 30",
                           (since,)).fetchall()
    traces = []
    for trace_id, run_id in [(row[11], row[17]) for row in failed[:20]] + slowest[:10]:
        traces.append(conn.execute(f"SELECT *{w} AND trace_id = ? AND run_id IS ? ORDER BY timestamp, id LIMIT 300",
                                   (since, trace_id, run_id)).fetchall())
    figures["traces"] = len(traces)
    return figures


def floor_failed(conn: sqlite3.Connection, since: float) -> list:
    return [row[0] for row in conn.execute("SELECT * FROM telemetry_events WHERE timestamp >= ? AND NOT success"
                                           " ORDER BY timestamp DESC, id DESC LIMIT 51", (since,))]


def floor_trace(conn: sqlite3.Connection, trace_id: str) -> list:
    return [row[0] for row in conn.execute("SELECT * FROM telemetry_events WHERE trace_id = ?"
                                           " ORDER BY timestamp, id", (trace_id,))]


def floor_compare(conn: sqlite3.Connection, base: str, new: str) -> dict:
    out = {}
    for run_id in (base, new):
        w = " FROM telemetry_events WHERE run_id = ?"
        calls, ok, cost, tokens = conn.execute(
            f"SELECT COUNT(*), SUM(success), TOTAL(cost_usd), TOTAL(input_tokens) + TOTAL(output_tokens){w}",
            (run_id,)).fetchone()
        latencies = sorted(row[0] for row in conn.execute(f"SELECT latency_ms{w}", (run_id,)))
        tests = {row[0]: row[1:] for row in conn.execute(
            "SELECT nodeid, outcome, cost_usd, input_tokens + output_tokens, events, max_latency_ms"
            " FROM test_results WHERE run_id = ?", (run_id,))}
        out[run_id] = (calls, calls - ok, cost, tokens, *(pct(latencies, q) for q in QS), tests)
    return out


def floor_runs(conn: sqlite3.Connection) -> list:
    runs = conn.execute("SELECT * FROM runs ORDER BY started_at DESC LIMIT 20").fetchall()
    ids = [r[0] for r in runs]
    totals = dict((row[0], row[1:]) for row in conn.execute(
        "SELECT run_id, COUNT(*), TOTAL(cost_usd) FROM telemetry_events"
        f" WHERE run_id IN ({', '.join('?' * len(ids))}) GROUP BY run_id", ids))
    return [(run_id, totals.get(run_id)) for run_id in ids]


# --- our figures, for the agreement checks -----------------------------------------------------

def ours_summary(conn: sqlite3.Connection, since: float) -> dict:
    from dev_system.analysis.metrics import compute_summary
    from dev_system.analysis.periods import Window

    s = compute_summary(conn, Window(since, None, "30d", "30d"))
    return {"events": s.events, "successes": s.successes, "cost": s.total_cost_usd, "unknown": s.unknown_cost_events,
            "tin": s.input_tokens, "tout": s.output_tokens, "first": s.first_timestamp, "last": s.last_timestamp,
            "top": s.top_agent, "errors": s.failures_by_error_type, "daily": s.daily_cost_usd,
            "p50": s.p50_latency_ms, "p95": s.p95_latency_ms, "p99": s.p99_latency_ms,
            "replayed": (s.replayed_events, s.replayed_cost_usd), "dropped": s.dropped_events}


def agree_summary(ours: dict, floor: dict) -> None:
    for key in ("events", "successes", "unknown", "top", "errors", "first", "last", "dropped"):
        check(f"summary {key}", ours[key] == floor[key], f"{ours[key]!r} != {floor[key]!r}")
    for key in ("cost", "tin", "tout", "p50", "p95", "p99"):
        check(f"summary {key}", close(ours[key], floor[key], 1e-9), f"{ours[key]!r} != {floor[key]!r}")
    check("daily cost", ours["daily"].keys() == floor["daily"].keys()
          and all(close(ours["daily"][d], floor["daily"][d]) for d in ours["daily"]))
    check("replayed", ours["replayed"][0] == floor["replayed"][0])


def agree_groups(conn: sqlite3.Connection, since: float, by: str, floor: dict) -> None:
    from dev_system.analysis.metrics import compute_breakdown
    from dev_system.analysis.periods import Window

    rows = compute_breakdown(conn, Window(since, None, "30d", "30d"), __import__(
        "dev_system.store.queries", fromlist=["Filters"]).Filters(), by)
    check(f"--by {by} keys", {r.key for r in rows} == set(floor), f"{[r.key for r in rows]} {list(floor)}")
    for r in rows:
        calls, ok, cost, unknown, tin, tout, p50, p95, p99 = floor[r.key]
        check(f"--by {by} {r.key}", (r.calls, r.successes, r.unknown_cost_events, r.input_tokens, r.output_tokens)
              == (calls, ok, unknown, tin, tout) and close(r.cost_usd, cost)
              and all(close(a, b) for a, b in ((r.p50_latency_ms, p50), (r.p95_latency_ms, p95),
                                               (r.p99_latency_ms, p99))), f"{r} vs {floor[r.key]}")


def agree_html(conn: sqlite3.Connection, since: float, floor: dict) -> None:
    from dev_system.analysis.dashboard import collect_dashboard
    from dev_system.analysis.periods import Window

    d = collect_dashboard(conn, Window(since, None, "30d", "30d"))
    agree_summary(ours_summary(conn, since), floor["summary"])
    for by, key in (("agent", "agent_name"), ("model", "model"), ("function", "function_name")):
        rows = {r.key: r for r in d.tables[by]}
        check(f"page {by}", set(rows) == set(floor[key]) and all(
            rows[k].calls == floor[key][k][0] and close(rows[k].p95_latency_ms, floor[key][k][7]) for k in rows))
    s = d.series
    check("page series days", s is not None and set(s.labels) == set(floor["series"]), f"{s and s.labels}")
    for i, day in enumerate(s.labels):
        (calls, ok, unknown), agents, p50, p95 = floor["series"][day]
        check(f"series {day}", s.events[i] == calls and s.unknown_cost[i] == unknown and close(s.p50[i], p50)
              and close(s.p95[i], p95) and close(s.success_rate[i], 100.0 * ok / calls), f"{s.p95[i]} {p95}")
        for a, agent in enumerate(s.agents):
            check(f"series {day} {agent}", s.calls[a][i] == agents.get(agent, (0, 0.0))[0]
                  and close(s.cost[a][i], agents.get(agent, (0, 0.0))[1]))
    check("page failed calls", [f.event.event_id for f in d.failed] == floor["failed"])


# --- the databases -----------------------------------------------------------------------------

def history_db(base: Path) -> Path:
    """``base``'s events and four copies of them moved 30, 60, 90 and 120 days back (new ids)."""
    from dev_system.store import db as store

    path = CACHE / HISTORY_NAME
    meta = path.with_suffix(".json")
    base_meta = json.loads(base.with_suffix(".json").read_text())
    try:
        if json.loads(meta.read_text()) == base_meta and path.is_file():
            return path
    except (OSError, ValueError):
        pass
    tmp = path.with_suffix(".tmp")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    store.connect(tmp).close()
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("ATTACH DATABASE ? AS src", (f"{base.resolve().as_uri()}?mode=ro",))
    columns = [row[1] for row in conn.execute("PRAGMA src.table_info(telemetry_events)") if row[1] != "id"]
    for k in (4, 3, 2, 1, 0):  # oldest first, as they would have been recorded
        exprs = [f"timestamp - {k * 30 * 86400}" if c == "timestamp" else
                 f"event_id || '-{k}'" if c == "event_id" and k else c for c in columns]
        conn.execute("BEGIN")
        conn.execute(f"INSERT INTO telemetry_events ({', '.join(columns)}) SELECT {', '.join(exprs)}"
                     " FROM src.telemetry_events ORDER BY id")
        conn.execute("COMMIT")
    conn.execute("DETACH DATABASE src")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    os.replace(tmp, path)
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    meta.write_text(json.dumps(base_meta))
    return path


def runs_db(path: Path) -> tuple[str, str]:
    """``RUNS`` runs (one event each) and two more of ``TESTS`` tests each (one call per test);
    returns the ids of the two."""
    from dev_system.events import TelemetryEvent
    from dev_system.store import db as store
    from dev_system.store.events import insert_events
    from dev_system.store.runs import Run, TestResult, finish_run, write_test_results

    rng = random.Random(7)
    conn = store.connect(path)
    now = time.time()
    events = []
    with store.transaction(conn):
        for i in range(RUNS):
            run = Run(f"run-{i:05d}", now - 86400 * 30 + i * 60, now - 86400 * 30 + i * 60 + 30, "passed",
                      "pytest --telemetry", "abc", "main", "ci", 1, 0, 0, 0, 0, {})
            finish_run(conn, run)
            events.append(TelemetryEvent(run.started_at + 1, "model_call", "agent", "f", 10, 5, 100.0, 0.001, True,
                                         None, "tests/test_a.py::test_x", None, f"r{i}", None, None, f"run-{i:05d}",
                                         "gpt-4o-mini"))
    insert_events(conn, events)
    ids = []
    for r in range(2):
        run_id = f"big-{r}"
        start = now - 3600 * (2 - r)
        with store.transaction(conn):
            finish_run(conn, Run(run_id, start, start + 600, "passed", "pytest --telemetry", "abc", "main", "ci",
                                 TESTS, 0, 0, 0, 0, {}))
        events, results = [], []
        for t in range(TESTS):
            nodeid = f"tests/test_mod{t // 100}.py::test_{t}"
            latency = rng.lognormvariate(6.0, 0.8)
            cost = round(rng.random() * 0.02, 6)
            tin, tout = rng.randint(10, 2000), rng.randint(5, 800)
            events.append(TelemetryEvent(start + t * 0.1, "model_call", "agent", "f", tin, tout, latency, cost, True,
                                         None, nodeid, None, f"{run_id}-{t}", None, None, run_id, "gpt-4o-mini"))
            results.append(TestResult(nodeid, "passed", 0.01, 1, tin, tout, cost, 0, latency))
        insert_events(conn, events)
        write_test_results(conn, run_id, results)
        ids.append(run_id)
    conn.close()
    return ids[0], ids[1]


def shards(base: Path, folder: Path) -> list[Path]:
    """``SHARDS`` databases of ``SHARD_EVENTS`` events each, cut from ``base``."""
    from dev_system.store import db as store

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(SHARDS):
        path = folder / f"shard-{i}.db"
        store.connect(path).close()
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("ATTACH DATABASE ? AS src", (f"{base.resolve().as_uri()}?mode=ro",))
        conn.execute("BEGIN")
        conn.execute("INSERT INTO telemetry_events SELECT * FROM src.telemetry_events WHERE id > ? AND id <= ?",
                     (i * SHARD_EVENTS, (i + 1) * SHARD_EVENTS))
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE src")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        out.append(path)
    return out


def floor_combine(parts: list[Path], into: Path) -> int:
    from dev_system.store import db as store

    store.connect(into).close()
    conn = sqlite3.connect(into, isolation_level=None)
    for part in parts:
        conn.execute("ATTACH DATABASE ? AS src", (f"{part.resolve().as_uri()}?mode=ro",))
        conn.execute("BEGIN")
        conn.execute("INSERT OR IGNORE INTO main.telemetry_events SELECT * FROM src.telemetry_events")
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE src")
    count = conn.execute("SELECT COUNT(*) FROM telemetry_events").fetchone()[0]
    conn.close()
    return count


def fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


# --- peak memory -------------------------------------------------------------------------------

_RSS = """
import contextlib, io, sys
from dev_system import cli
with contextlib.redirect_stdout(io.StringIO()):
    cli.main(sys.argv[1:])
# VmHWM: this process's own peak (ru_maxrss would carry the parent's over the exec on Linux)
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
sys.stderr.write(hwm.split()[1])
"""


def peak_rss_mb(args: list[str]) -> float:
    env = clean_env()
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", _RSS, *args], env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{args}: exit {proc.returncode}: {proc.stderr[-2000:]}")
    return int(proc.stderr.strip().splitlines()[-1]) / 1024


# --- the section -------------------------------------------------------------------------------

def timed(fn, *args):
    t0 = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - t0, value


def pair(repeats: int, ours, floor) -> tuple[float, float, object]:
    """Medians of ``ours()`` and ``floor()`` run alternately (after one warm run each)."""
    ours()
    value = floor()
    a, b = [], []
    for _ in range(repeats):
        a.append(timed(ours)[0])
        took, value = timed(floor)
        b.append(took)
    return median(a), median(b), value


def measure(quick: bool, scratch: Path) -> dict:
    from dev_system.analysis.compare import compare_runs
    from dev_system.analysis.evaluation import trace_view
    from dev_system.store import db as store
    from dev_system.store.combine import combine
    from dev_system.store.queries import Between, Filters, count_unusable, list_events

    db, _ = cached_db()
    big = history_db(db)
    repeats = 2 if quick else 3
    since = time.time() - 30 * 86400  # the floor's window; ours is "30d" parsed a moment later
    out: dict = {}
    conn = ro(db)

    def record(name: str, ours_s: float, floor_s: float) -> None:
        print(f"report_scale {name}: ours {ours_s:.3f} s, floor {floor_s:.3f} s", file=sys.stderr, flush=True)
        out[f"report_scale.{name}_ms"] = round(ours_s * 1000, 1)
        out[f"report_scale.{name}_floor_ms"] = round(floor_s * 1000, 1)

    base = ["--db", str(db)]
    # The window moves with the clock: both sides read "the last 30 days" of a database whose
    # newest event is older than a day, so the oldest day is cut at a different second; the
    # agreement checks read both sides with the same ``since``.
    o, f, floor = pair(repeats, lambda: cli(["metrics", "--period", "30d", *base]), lambda: floor_summary(conn, since))
    record("metrics_30d", o, f)
    agree_summary(ours_summary(conn, since), floor_summary(conn, since))
    for by, key in (("agent", "agent_name"), ("model", "model"), ("day", LOCAL_DAY)):
        o, f, _ = pair(repeats, lambda by=by: cli(["metrics", "--period", "30d", "--by", by, *base]),
                       lambda key=key: (floor_summary(conn, since), floor_groups(conn, since, key)))
        record(f"by_{by}", o, f)
        agree_groups(conn, since, by, floor_groups(conn, since, key))
    page = scratch / "page.html"
    o, f, _ = pair(repeats, lambda: cli(["report", "--html", str(page), "--period", "30d", *base]),
                   lambda: floor_html(conn, since))
    record("html", o, f)
    agree_html(conn, since, floor_html(conn, since))

    o, f, _ = pair(repeats, lambda: cli(["events", "--failed", "--period", "30d", *base]),
                   lambda: floor_failed(conn, since))
    record("failed", o, f)
    sconn = store.connect(db, readonly=True)
    # The same two surfaces without the command around them (parsing, rendering): the reads alone.
    def failed_reads() -> int:
        events = list_events(sconn, Between(since, None), Filters(), failed_only=True, limit=51)
        return count_unusable(sconn, Between(events[49].timestamp, None))

    out["report_scale.failed_reads_ms"] = round(1000 * median([timed(failed_reads)[0] for _ in range(repeats)]), 1)
    newest = [e.event_id for e in list_events(sconn, Between(since, None), Filters(), failed_only=True, limit=51)]
    check("events --failed", newest == [r[0] for r in conn.execute(
        "SELECT event_id FROM telemetry_events WHERE timestamp >= ? AND NOT success"
        " ORDER BY timestamp DESC, id DESC LIMIT 51", (since,))])
    trace_id = conn.execute("SELECT trace_id FROM telemetry_events WHERE NOT success ORDER BY id DESC LIMIT 1"
                            ).fetchone()[0]
    o, f, floor_ids = pair(repeats, lambda: cli(["trace", trace_id, *base]), lambda: floor_trace(conn, trace_id))
    record("trace", o, f)
    out["report_scale.trace_reads_ms"] = round(1000 * median([timed(trace_view, sconn, trace_id)[0]
                                                              for _ in range(repeats)]), 1)
    check("trace", len(trace_view(sconn, trace_id).events) == len(floor_ids))
    sconn.close()

    # history outside the window
    o_big, o_small, _ = pair(repeats, lambda: cli(["metrics", "--period", "30d", "--db", str(big)]),
                             lambda: cli(["metrics", "--period", "30d", *base]))
    out["report_scale.history_5m_ms"] = round(o_big * 1000, 1)
    out["report_scale.history_1m_ms"] = round(o_small * 1000, 1)
    conn.close()

    # runs and compare
    rdb = fresh(scratch / "runs.db")
    a, b = runs_db(rdb)
    rconn = ro(rdb)
    o, f, floor_cmp = pair(repeats * 2, lambda: cli(["compare", a, b, "--db", str(rdb)]),
                           lambda: floor_compare(rconn, a, b))
    record("compare", o, f)

    sconn = store.connect(rdb, readonly=True)
    comparison = compare_runs(sconn, a, b)
    p95 = comparison.totals["p95"]
    check("compare p95", close(p95.new, floor_cmp[b][5]) and close(p95.base, floor_cmp[a][5]))
    check("compare cost", close(comparison.totals["cost"].new, floor_cmp[b][2]))
    check("compare tests", len(comparison.tests) == len(floor_cmp[b][-1]) == TESTS)
    o, f, floor_list = pair(repeats * 2, lambda: cli(["runs", "--db", str(rdb)]), lambda: floor_runs(rconn))
    record("runs", o, f)
    text = cli(["runs", "--db", str(rdb)])
    check("runs", all(run_id in text for run_id, _ in floor_list[:5]))
    sconn.close()
    rconn.close()

    # combine
    parts = shards(db, scratch / "shards")
    ours_s, floor_s = [], []
    for _ in range(2 if quick else 3):
        took, result = timed(combine, parts, fresh(scratch / "combined.db"))
        ours_s.append(took)
        took, floor_count = timed(floor_combine, parts, fresh(scratch / "floor.db"))
        floor_s.append(took)
    check("combine", result.total_events == floor_count == SHARDS * SHARD_EVENTS, f"{result.total_events}")
    out["report_scale.combine_events_per_s"] = round(SHARDS * SHARD_EVENTS / median(ours_s))
    out["report_scale.combine_floor_events_per_s"] = round(SHARDS * SHARD_EVENTS / median(floor_s))

    # peak memory, each surface in a fresh interpreter
    rss = {}
    for name, args in {
        "metrics_30d": ["metrics", "--period", "30d", *base],
        "by_agent": ["metrics", "--period", "30d", "--by", "agent", *base],
        "html": ["report", "--html", str(page), "--period", "30d", *base],
        "failed": ["events", "--failed", "--period", "30d", *base],
        "metrics_all_5m": ["metrics", "--period", "all", "--db", str(big)],
        "html_all_5m": ["report", "--html", str(page), "--period", "all", "--db", str(big)],
    }.items():
        rss[name] = round(peak_rss_mb(args), 1)
    out["report_scale.peak_rss"] = rss
    out["report_scale.peak_rss_mb"] = max(rss.values())
    out["report_scale.repeats"] = repeats
    return out


if __name__ == "__main__":
    section_main(measure)
