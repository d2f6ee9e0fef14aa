"""Recording a score from code: checked, tied to its trace and run, delivered to the sinks that
take scores (a memory sink, the SQLite store), and never an exception in the caller's code."""

from __future__ import annotations

import logging
import math
import sqlite3
from fractions import Fraction
from pathlib import Path

import pytest

from dev_system.ops.telemetry import (
    MemorySink,
    Score,
    ScoreError,
    add_sink,
    configure,
    flush,
    remove_sink,
    score,
    trace,
)
from dev_system.problems import problem_counts, problem_messages
from dev_system.record.scores import MAX_NAME, new_score
from dev_system.store.db import connect
from dev_system.store.scores import insert_scores, run_scores


def stored(db: Path) -> list[tuple]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT run_id, nodeid, trace_id, name, value, comment FROM scores ORDER BY id").fetchall()


def test_a_score_under_a_trace_is_stored_with_its_run_and_trace(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    configure(enabled=True, db_path=db, run_id="run-1")
    with trace("checkout-42"):
        assert score("faithfulness", 0.8, comment="cites both sources") is True
    assert score("faithfulness", Fraction(1, 2)) is True  # any real number
    flush()
    rows = stored(db)
    assert rows[0] == ("run-1", None, "checkout-42", "faithfulness", 0.8, "cites both sources")
    assert rows[1][3:5] == ("faithfulness", 0.5)


def test_a_score_reaches_a_memory_sink_with_the_events() -> None:
    configure(enabled=True, db_path=None)
    sink = MemorySink()
    add_sink(sink)
    try:
        with trace("t"):
            score("correctness", 1)
        flush()
    finally:
        remove_sink(sink)
    assert [(s.name, s.value, s.trace_id) for s in sink.scores] == [("correctness", 1.0, "t")]
    assert isinstance(sink.scores[0], Score)


@pytest.mark.parametrize(("name", "value", "why"), [
    ("correctness", math.nan, "finite"),
    ("correctness", math.inf, "finite"),
    ("correctness", "0.9", "real number"),
    ("correctness", None, "real number"),
    ("correctness", True, "real number"),
    ("", 0.5, "empty"),
    ("x" * (MAX_NAME + 1), 0.5, f"at most {MAX_NAME}"),
    ("two words", 0.5, "identifier"),
    (3, 0.5, "string"),
])
def test_bad_input_in_code_is_one_problem_and_no_exception(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                           name: object, value: object, why: str) -> None:
    db = tmp_path / "t.db"
    configure(enabled=True, db_path=db)
    with caplog.at_level(logging.WARNING, logger="dev_system"):
        assert score(name, value) is False  # type: ignore[arg-type]
        assert score(name, value) is False  # type: ignore[arg-type]
    assert problem_counts()["score:invalid"] == 2
    assert why in problem_messages()["score:invalid"]
    assert len([r for r in caplog.records if "score" in r.getMessage()]) == 1
    with pytest.raises(ScoreError, match=why):
        new_score(name, value)
    flush()
    assert stored(db) == []


def test_telemetry_off_outside_a_test_records_nothing_and_says_so_in_the_return() -> None:
    configure(enabled=False)
    assert score("correctness", 0.5) is False
    assert problem_counts() == {}


def test_a_comment_is_redacted_and_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "t.db"
    configure(enabled=True, db_path=db)
    secret = "sk-proj-" + "a1B2c3D4" * 6
    score("correctness", 0.5, comment=f"key {secret} " + "y" * 5000)
    flush()
    comment = stored(db)[0][5]
    assert secret not in comment
    assert len(comment) <= 1000 and comment.endswith("…")


def test_a_score_stored_twice_is_one_row(tmp_path: Path) -> None:
    conn = connect(tmp_path / "t.db")
    try:
        item = new_score("correctness", 0.75, nodeid="t.py::test_a")
        item = item._replace(run_id="r")
        assert insert_scores(conn, [item]) == 1
        assert insert_scores(conn, [item, tuple(item)]) == 0
        assert run_scores(conn, "r") == [item]
    finally:
        conn.close()


def test_a_score_inside_a_decorated_call_joins_that_calls_trace(tmp_path: Path) -> None:
    from dev_system.ops.telemetry import telemetry_decorator

    @telemetry_decorator(agent_name="judge", event_type="tool_call")
    def judge(answer: str) -> None:
        score("correctness", 1.0 if "refund" in answer else 0.0)

    db = tmp_path / "t.db"
    configure(enabled=True, db_path=db)
    judge("refund in 14 days")
    flush()
    with sqlite3.connect(db) as conn:
        (event_trace,) = conn.execute("SELECT trace_id FROM telemetry_events").fetchone()
    assert stored(db) == [(None, None, event_trace, "correctness", 1.0, None)]


def test_with_sync_a_score_is_stored_before_the_call_returns(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    configure(enabled=True, db_path=db, sync=True)
    score("correctness", 0.5)
    assert [row[3:5] for row in stored(db)] == [("correctness", 0.5)]


class BrokenScores(MemorySink):
    def write_scores(self, scores: list) -> None:
        raise OSError("disk full")


def test_a_sink_that_fails_on_scores_is_one_problem_and_the_others_get_them(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    configure(enabled=True, db_path=db)
    broken = BrokenScores()
    add_sink(broken)
    try:
        assert score("correctness", 0.5) is True
        flush()
    finally:
        remove_sink(broken)
    assert [key for key in problem_counts() if key.startswith("sink:BrokenScores:scores")] == [
        "sink:BrokenScores:scores:OSError"]
    assert "disk full" in problem_messages()["sink:BrokenScores:scores:OSError"]
    assert [row[3:5] for row in stored(db)] == [("correctness", 0.5)]
