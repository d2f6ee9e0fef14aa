"""Scores in the database's life: ``combine`` carries each score exactly once, ``prune`` removes
them with their window and runs, ``export`` writes them (``--scores``) as JSON lines or CSV, and
``export --format otlp`` sends them as evaluation spans; real SQLite files, the real command."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dev_system.record.scores import Score
from dev_system.store.combine import combine
from dev_system.store.db import connect
from dev_system.store.prune import prune
from dev_system.store.scores import insert_scores, run_scores, scores_between


def make_db(path: Path, scores: list[Score]) -> Path:
    conn = connect(path)
    try:
        insert_scores(conn, scores)
    finally:
        conn.close()
    return path


def score(n: int, *, run: str = "run-a", at: float = 1000.0, name: str = "correctness") -> Score:
    return Score(f"score-{run}-{n}", at + n, run, f"t.py::test_{n}", f"t.py::test_{n}", name, n / 10, f"note {n}")


def all_scores(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT score_id, run_id, nodeid, name, value, comment FROM scores ORDER BY score_id").fetchall()


def test_combine_carries_each_score_exactly_once(tmp_path: Path) -> None:
    first = make_db(tmp_path / "job1.db", [score(1), score(2)])
    second = make_db(tmp_path / "job2.db", [score(2), score(3, run="run-b")])  # score 2 in both
    out = tmp_path / "all.db"
    messages: list[str] = []
    result = combine([first, second], out, message=messages.append)
    assert [report.scores for report in result.inputs] == [2, 1]
    assert "3 new scores" not in " ".join(messages) and messages[0].endswith(", 2 new scores")
    again = combine([first, second, out], out)  # merging again, and the output itself, adds nothing
    assert [report.scores for report in again.inputs] == [0, 0, 0]
    assert [row[0] for row in all_scores(out)] == ["score-run-a-1", "score-run-a-2", "score-run-b-3"]
    conn = connect(out, readonly=True)
    try:
        assert run_scores(conn, "run-a") == [score(1), score(2)]
    finally:
        conn.close()


def test_prune_removes_the_scores_of_its_window(tmp_path: Path) -> None:
    path = make_db(tmp_path / "t.db", [score(1, at=100.0), score(2, at=100.0), score(3, run="run-b", at=5000.0)])
    conn = connect(path)
    try:
        planned = prune(conn, 1000.0, dry_run=True)
        assert planned.scores == 2 and len(all_scores(path)) == 3
        done = prune(conn, 1000.0)
        assert done.scores == 2
    finally:
        conn.close()
    assert [row[0] for row in all_scores(path)] == ["score-run-b-3"]


def dev_system(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dev_system", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_export_writes_the_scores_as_json_lines_and_csv(tmp_path: Path) -> None:
    now = time.time()
    make_db(tmp_path / "t.db", [score(1, at=now), score(2, at=now), score(3, run="run-b", at=now)])
    lines = dev_system("export", "--scores", "--db", "t.db", cwd=tmp_path)
    assert lines.returncode == 0, lines.stderr
    rows = [json.loads(line) for line in lines.stdout.splitlines()]
    assert rows[0] == {"score_id": "score-run-a-1", "timestamp": now + 1, "run_id": "run-a", "nodeid": "t.py::test_1",
                       "trace_id": "t.py::test_1", "name": "correctness", "value": 0.1, "comment": "note 1"}
    assert [row["score_id"] for row in rows] == ["score-run-a-1", "score-run-a-2", "score-run-b-3"]
    table = dev_system("export", "--scores", "--format", "csv", "--db", "t.db", "--period", "1d",
                       "--output", "scores.csv", cwd=tmp_path)
    assert table.returncode == 0 and table.stderr.strip() == "Exported 3 scores to scores.csv"
    read = list(csv.DictReader(io.StringIO((tmp_path / "scores.csv").read_text())))
    assert list(read[0]) == ["score_id", "timestamp", "run_id", "nodeid", "trace_id", "name", "value", "comment"]
    assert [(row["run_id"], float(row["value"])) for row in read] == [("run-a", 0.1), ("run-a", 0.2), ("run-b", 0.3)]
    events = dev_system("export", "--db", "t.db", cwd=tmp_path)  # without --scores: the events, as before
    assert events.returncode == 0 and events.stdout == ""


def test_scores_between_filters_by_time_run_and_trace(tmp_path: Path) -> None:
    conn = connect(tmp_path / "t.db")
    try:
        insert_scores(conn, [score(1), score(2), score(3, run="run-b")])
        assert [s.score_id for s in scores_between(conn, 1001.5)] == ["score-run-a-2", "score-run-b-3"]
        assert [s.score_id for s in scores_between(conn, None, 1002.0)] == ["score-run-a-1"]
        assert [s.score_id for s in scores_between(conn, run_id="run-b")] == ["score-run-b-3"]
        assert [s.score_id for s in scores_between(conn, trace_id="t.py::test_2")] == ["score-run-a-2"]
    finally:
        conn.close()


def test_the_scores_of_a_period_are_read_through_the_time_index(tmp_path: Path) -> None:
    """A report of the last days reads that window's scores, not a year of them."""
    conn = connect(tmp_path / "t.db")
    statements: list[str] = []
    try:
        insert_scores(conn, [score(n, at=1000.0 + 86400 * n) for n in range(400)])
        conn.set_trace_callback(statements.append)
        window = scores_between(conn, 1000.0 + 86400 * 390, 1000.0 + 86400 * 400)
        conn.set_trace_callback(None)
        [sql] = [s for s in statements if "FROM scores" in s]
        plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
    finally:
        conn.close()
    assert [s.score_id for s in window] == [f"score-run-a-{n}" for n in range(390, 400)]
    assert "ix_scores_timestamp" in plan and "SCAN scores" not in plan, plan


def test_rows_that_cannot_be_scores_are_not_stored(tmp_path: Path) -> None:
    conn = connect(tmp_path / "t.db")
    try:
        bad = [score(1)._replace(value=float("nan")), score(2)._replace(score_id=""), ("too", "short")]
        assert insert_scores(conn, [*bad, score(3)]) == 1
    finally:
        conn.close()
    assert [row[0] for row in all_scores(tmp_path / "t.db")] == ["score-run-a-3"]


otlp = pytest.importorskip("opentelemetry.proto")


def test_export_otlp_sends_each_score_as_an_evaluation_span(tmp_path: Path) -> None:
    from fakes.otlp_receiver import OtlpReceiver

    make_db(tmp_path / "t.db", [score(1, at=time.time())])
    with OtlpReceiver() as receiver:
        done = dev_system("export", "--format", "otlp", "--endpoint", receiver.endpoint, "--db", "t.db", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "Exported 1 span" in done.stderr
        (span,) = receiver.wait_for(1)
    assert span.name == "evaluation correctness"
    assert span.start_ns == span.end_ns
    assert span.attributes["gen_ai.evaluation.name"] == "correctness"
    assert span.attributes["gen_ai.evaluation.score.value"] == 0.1
    assert span.attributes["gen_ai.evaluation.explanation"] == "note 1"
    assert span.attributes["test.case.name"] == "t.py::test_1"
    assert span.attributes["dev_system.run_id"] == "run-a"
    assert span.events == [("gen_ai.evaluation.result", span.start_ns, {
        "gen_ai.evaluation.name": "correctness", "gen_ai.evaluation.score.value": 0.1,
        "gen_ai.evaluation.explanation": "note 1"})]
