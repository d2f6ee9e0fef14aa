"""Properties of ``combine`` on generated databases: merging is idempotent, does not depend on the
order of the inputs, and gives exactly the union of what the inputs hold."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dev_system.events import EVENT_COLUMNS, TelemetryEvent
from dev_system.store import db as store
from dev_system.store.combine import combine
from dev_system.store.events import insert_events

OUTCOMES = ("passed", "failed", "skipped", "error", "xfailed", "xpassed")
WORST_FIRST = ("error", "failed", "xpassed", "xfailed", "skipped", "passed")

#: A pool of events: a database holds a subset of it (the same event id always means the same event).
POOL = [
    TelemetryEvent(1700000000.0 + i, ("model_call", "tool_call")[i % 2], f"agent{i % 3}", f"fn{i % 4}",
                   i, 2 * i, 10.0 + i, None if i % 5 == 0 else i / 100, i % 7 != 0,
                   None if i % 7 else "ValueError", f"trace{i % 4}", None, f"event-{i:03d}",
                   f"{i:016x}", None, f"run{i % 2}", "gpt-4o" if i % 2 == 0 else None)
    for i in range(40)
]

database = st.fixed_dictionaries({
    "events": st.sets(st.integers(0, len(POOL) - 1), max_size=15),
    "results": st.dictionaries(st.tuples(st.sampled_from(["run0", "run1"]), st.sampled_from(["t::a", "t::b", "t::c"])),
                               st.sampled_from(OUTCOMES), max_size=4),
    "runs": st.lists(st.tuples(st.sampled_from(["run0", "run1"]), st.integers(0, 5), st.integers(0, 3)),
                     max_size=2, unique_by=lambda run: run[0]),
})


def write(path: Path, spec: dict, index: int) -> Path:
    conn = store.connect(path)
    try:
        insert_events(conn, [POOL[i] for i in sorted(spec["events"])])
        for (run_id, nodeid), outcome in spec["results"].items():
            conn.execute("INSERT INTO test_results (run_id, nodeid, outcome) VALUES (?, ?, ?)", (run_id, nodeid, outcome))
        for run_id, passed, failed in spec["runs"]:
            # Each database is one job session of the run: its own start time and host.
            conn.execute("INSERT INTO runs (run_id, started_at, ended_at, status, host, passed, failed)"
                         " VALUES (?, ?, ?, 'passed', ?, ?, ?)",
                         (run_id, 100.0 + index, 200.0 + index, f"host{index}", passed, failed))
    finally:
        conn.close()
    return path


def content(path: Path) -> tuple:
    conn = sqlite3.connect(path)
    try:
        events = frozenset(conn.execute("SELECT {} FROM telemetry_events".format(", ".join(EVENT_COLUMNS))))
        results = frozenset(conn.execute("SELECT * FROM test_results"))
        runs = frozenset(conn.execute("SELECT * FROM runs"))
        return events, results, runs
    finally:
        conn.close()


def combined(folder: Path, name: str, inputs: list[Path]) -> Path:
    out = folder / name
    combine(inputs, out)
    return out


settings_ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings_
@given(st.lists(database, min_size=1, max_size=4), st.randoms(use_true_random=False))
def test_commutative_and_equal_to_the_union(specs: list[dict], rng) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = [write(folder / f"in{i}.db", spec, i) for i, spec in enumerate(specs)]
        shuffled = list(inputs)
        rng.shuffle(shuffled)
        a = combined(folder, "a.db", inputs)
        b = combined(folder, "b.db", shuffled)
        assert content(a) == content(b)

        events, results, runs = content(a)
        expected_events = {i for spec in specs for i in spec["events"]}
        assert {row[12] for row in events} == {POOL[i].event_id for i in expected_events}
        assert len(events) == len(expected_events)

        outcomes: dict[tuple[str, str], list[str]] = {}
        for spec in specs:
            for key, outcome in spec["results"].items():
                outcomes.setdefault(key, []).append(outcome)
        assert {(row[0], row[1]): row[2] for row in results} == {
            key: min(values, key=WORST_FIRST.index) for key, values in outcomes.items()
        }

        totals: dict[str, list[int]] = {}
        for spec in specs:
            for run_id, passed, failed in spec["runs"]:
                total = totals.setdefault(run_id, [0, 0])
                total[0] += passed
                total[1] += failed
        assert {row[0]: [row[8], row[9]] for row in runs} == totals


@settings_
@given(st.lists(database, min_size=1, max_size=3), st.lists(st.integers(0, 2), min_size=1, max_size=6))
def test_idempotent(specs: list[dict], repeats: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = [write(folder / f"in{i}.db", spec, i) for i, spec in enumerate(specs)]
        once = combined(folder, "once.db", inputs)
        many = combined(folder, "many.db", inputs)
        for index in repeats:
            combine([inputs[index % len(inputs)], once], many)
        combine(inputs, many)
        assert content(many) == content(once)
