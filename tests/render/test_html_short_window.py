"""The HTML report of a short window (one hour: a single point per line) in a real headless
Chromium: its points are drawn large enough to see, and its thresholds as lines across the chart."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_html_report_browser import CHROMIUM, Browser, pytestmark  # noqa: F401  (the skip without Chromium)

from dev_system.analysis.alerts import Thresholds
from dev_system.analysis.periods import parse_period
from dev_system.render.html.page import collect_report, write_html_report
from dev_system.store import db as store
from fakes.eventgen import event, write_events

NOW = 1_793_100_000.0

#: For a line dataset of the chart ``id`` (by label): how many pixels of the plot area's width
#: carry ink of the dataset's colour on the row of its first value, and the radius of its points.
LINE_INK = """((id, label) => {
  const chart = window.__report.charts[id];
  const i = chart.data.datasets.findIndex((d) => d.label === label);
  const d = chart.data.datasets[i], area = chart.chartArea;
  const value = d.data.find((v) => v != null);
  const y = Math.round(chart.scales.y.getPixelForValue(value) * devicePixelRatio);
  const short = d.borderColor, hex = short.length === 4 ? "#" + [...short.slice(1)].map((h) => h + h).join("") : short;
  const want = [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
  const c = chart.canvas, ctx = c.getContext("2d");
  const left = Math.round(area.left * devicePixelRatio), right = Math.round(area.right * devicePixelRatio);
  let inked = 0;
  for (let x = left; x < right; x++) {
    let hit = false;
    for (let dy = -2; dy <= 2 && !hit; dy++) {
      const px = ctx.getImageData(x, y + dy, 1, 1).data;
      hit = px[3] > 0 && want.every((v, k) => Math.abs(px[k] - v) < 60);
    }
    if (hit) inked++;
  }
  const radius = chart.getDatasetMeta(i).data.map((p) => p.options.radius);
  return {inked, width: right - left, radius};
})"""


@pytest.fixture(scope="module")
def browser():
    instance = Browser(CHROMIUM)
    try:
        yield instance
    finally:
        instance.close()


def test_a_one_hour_window_draws_visible_points_and_its_threshold_lines(browser, tmp_path):
    start = NOW - 1150.0  # NOW is 20 minutes into an hour: 15 minutes of events in one hour
    events = [event(start + 15.0 * k, latency_ms=100.0 + k, success=k % 5 != 0) for k in range(60)]
    db = write_events(tmp_path / "t.db", events)
    with store.connect(db, readonly=True) as conn:
        data = collect_report(conn, parse_period("1h", now=NOW), now=NOW,
                              thresholds=Thresholds(success_rate_min=95.0, p95_latency_ms_max=500.0))
    assert data["series"]["unit"] == "hour" and len(data["series"]["labels"]) == 1
    path = write_html_report(tmp_path / "report.html", data)
    browser.viewport(1280, 900)
    browser.open(path)
    assert browser.problems() == []
    for chart, label in (("success", "Threshold"), ("latency", "P95 threshold")):
        line = browser.evaluate(f"{LINE_INK}({chart!r}, {label!r})")
        # dashed (6 on, 4 off): a line across the plot area inks well over half of its width
        assert line["inked"] > 0.5 * line["width"], (chart, line)
    for chart, label in (("success", "Success rate"), ("latency", "P50"), ("latency", "P95")):
        assert browser.evaluate(f"{LINE_INK}({chart!r}, {label!r})")["radius"] == [5], (chart, label)
