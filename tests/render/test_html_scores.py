"""The scores of the HTML report's data, without a browser: the card next to the cost, the
series per time bucket (each bucket's mean over its tests), and no scores part without scores.

The page itself (charts drawn, a test's history opened) is checked in ``test_html_report_browser.py``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dev_system.analysis.periods import parse_period
from dev_system.render.html.page import collect_report
from dev_system.store import db as store
from fakes.eventgen import event, write_events

NOW = 1_793_100_000.0
DAY = 86400.0


def _db(path: Path, scores: list[tuple[float, str | None, str, float]]) -> Path:
    """Events on each of the last three days, and ``scores`` (seconds before NOW, test, name, value)."""
    write_events(path, [event(NOW - d * DAY - 60) for d in range(3)])
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO scores (score_id, timestamp, run_id, nodeid, trace_id, name, value)"
                         " VALUES (?, ?, NULL, ?, ?, ?, ?)",
                         [(f"s{i}", NOW - age, nodeid, nodeid, name, value)
                          for i, (age, nodeid, name, value) in enumerate(scores)])
    return path


def _data(path: Path) -> dict:
    with store.connect(path, readonly=True) as conn:
        return collect_report(conn, parse_period("7d", now=NOW), now=NOW)


def test_the_scores_card_follows_the_cost_card_and_the_series_is_per_day(tmp_path):
    data = _data(_db(tmp_path / "t.db", [
        (2 * DAY + 30, "t::a", "correctness", 1.0), (2 * DAY + 20, "t::a", "correctness", 0.8),  # a: 0.9
        (2 * DAY + 10, "t::b", "correctness", 0.5),                                               # day mean 0.7
        (10.0, "t::a", "correctness", 0.6), (5.0, "t::a", "tone", 0.2),
    ]))
    ids = [card["id"] for card in data["cards"]]
    assert ids[ids.index("total_cost") + 1] == "scores"
    card = data["cards"][ids.index("scores")]
    # over the window, per test first: correctness a (1.0 + 0.8 + 0.6) / 3 = 0.8, b 0.5: mean 0.65; tone 0.2 is lowest
    assert card["label"] == "Score: tone (mean)" and card["value"] == "0.20"
    assert "correctness 0.65" in card["note"]
    series = data["scores"]["series"]
    assert series["names"] == ["correctness", "tone"]
    assert len(series["labels"]) == len(data["series"]["labels"]) == 3
    assert series["means"][0] == [pytest.approx(0.7), None, 0.6]
    assert series["means"][1] == [None, None, 0.2]
    assert data["scores"]["history"] is None  # only the page of a run shows tests' histories


def test_a_page_without_scores_has_no_scores_part(tmp_path):
    data = _data(_db(tmp_path / "t.db", []))
    assert data["scores"] is None
    assert "scores" not in [card["id"] for card in data["cards"]]
