"""The report layouts: the reference text, its ASCII fallback, and JSON/CSV/Markdown agreeing with it."""

from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dev_system.analysis.alerts import Alert, Thresholds, evaluate_alerts
from dev_system.analysis.metrics import BreakdownRow, Summary
from dev_system.analysis.periods import Window
from dev_system.analysis.traces import trace_tree
from dev_system.render.text import (
    can_encode,
    can_print_emoji,
    render_csv,
    render_events,
    render_json,
    render_markdown,
    render_text,
    render_trace,
    write_csv,
    write_jsonl,
)
from dev_system.store.queries import Filters
from fakes.eventgen import event

REFERENCE = """\
📊 Development Metrics (Last 1 day)
==================================================
Success Rate: 92.5%
P95 Latency: 1,245ms
Total Cost: $3.47
Top Agent: persona_runtime
Failed Calls: 12

🚨 Alerts:
  - Low success rate: 88.0% (threshold 90.0%)
"""

WINDOW = Window(1000.0, None, "Last 1 day", "1d")


def reference_summary(**changes) -> Summary:
    figures = dict(events=160, successes=148, failures=12, success_rate=92.5, p50_latency_ms=400.0,
                   p95_latency_ms=1245.0, p99_latency_ms=2000.0, total_cost_usd=3.47, top_agent="persona_runtime",
                   top_agent_events=80, daily_cost_usd={"2026-11-28": 3.47}, input_tokens=100, output_tokens=50)
    figures.update(changes)
    return Summary(WINDOW, Filters(), **figures)


ALERT = [Alert("success_rate", "Low success rate: 88.0% (threshold 90.0%)", 88.0, 90.0)]


def test_text_is_the_reference_layout():
    assert render_text(reference_summary(), ALERT) == REFERENCE


def test_ascii_fallback_drops_the_emoji_only():
    text = render_text(reference_summary(), ALERT, ascii_only=True)
    assert text == REFERENCE.replace("📊 ", "").replace("🚨 ", "")
    assert text.isascii()
    assert can_encode(REFERENCE, "utf-8") and not can_encode(REFERENCE, "ascii")
    assert not can_encode(REFERENCE, "no-such-encoding")


@pytest.mark.parametrize(("encoding", "expected"), [("utf-8", True), ("UTF-16", True), ("ascii", False),
                                                     ("cp1252", False), ("no-such-encoding", False), (None, False)])
def test_one_check_tells_whether_a_stream_can_print_the_emoji(encoding, expected):
    if encoding is None or encoding == "no-such-encoding":
        stream = type("Writer", (), {"encoding": encoding})()  # a terminal writer with an unusable encoding
    else:
        stream = io.TextIOWrapper(io.BytesIO(), encoding=encoding)
    assert can_print_emoji(stream) is expected
    assert can_print_emoji(None) is False and can_print_emoji(object()) is False


def test_no_alerts_no_alert_block_and_extra_lines_when_nonzero():
    text = render_text(reference_summary(unknown_cost_events=3, dropped_events=5,
                                         failures_by_error_type={"TimeoutError": 8, "ValueError": 4}), [])
    assert text.splitlines()[2:] == [
        "Success Rate: 92.5%",
        "P95 Latency: 1,245ms",
        "Total Cost: $3.47",
        "Unknown Cost: 3 events (not in the total)",
        "Top Agent: persona_runtime",
        "Failed Calls: 12",
        "  TimeoutError: 8",
        "  ValueError: 4",
        "Dropped Events: 5 (lost before storage)",
    ]


def test_empty_window_says_so():
    empty = Summary(WINDOW, Filters())
    assert render_text(empty, []) == "📊 Development Metrics (Last 1 day)\n" + "=" * 50 + "\nNo events in this period.\n"
    assert "No events in this period." in render_markdown(empty, [])
    assert json.loads(render_json(empty, []))["success_rate"] is None


ROWS = [
    BreakdownRow("persona_runtime", 80, 74, 92.5, 400.0, 1245.0, 2000.0, 100, 50, 3.0, 1),
    BreakdownRow(None, 80, 74, 92.5, 400.0, 1245.0, 2000.0, 0, 0, 0.47, 0),
]


def test_json_is_complete_and_agrees_with_the_text():
    s = reference_summary(failures_by_error_type={"TimeoutError": 12})
    alerts = evaluate_alerts(s, Thresholds(success_rate_min=95.0))
    doc = json.loads(render_json(s, alerts, Thresholds(success_rate_min=95.0), ("agent", ROWS)))
    assert doc["format"] == "dev-system-metrics/1"
    assert doc["period"] == {"spec": "1d", "label": "Last 1 day", "start": 1000.0, "end": None}
    assert doc["success_rate"] == 92.5 and doc["latency_ms"]["p95"] == 1245.0
    assert doc["cost_usd"] == {"total": 3.47, "spent": 3.47, "replayed": 0.0, "replayed_events": 0,
                               "unknown_cost_events": 0, "unpriced_models": {}, "unknown_cost_without_model": 0,
                               "unknown_cost_without_usage": 0, "by_day": {"2026-11-28": 3.47}}
    assert doc["top_agent"] == {"name": "persona_runtime", "events": 80}
    assert doc["failed_calls"] == 12 and doc["failures_by_error_type"] == {"TimeoutError": 12}
    assert doc["alerts"] == [{"rule": "success_rate", "message": "Low success rate: 92.5% (threshold 95.0%)",
                              "value": 92.5, "threshold": 95.0, "day": None}]
    assert doc["thresholds"]["success_rate_min"] == 95.0
    assert doc["breakdown"]["by"] == "agent" and doc["breakdown"]["rows"][1]["key"] is None
    assert set(doc) == {"format", "period", "filters", "events", "successes", "failed_calls",
                        "failures_by_error_type", "success_rate", "latency_ms", "cost_usd", "tokens", "top_agent",
                        "dropped_events", "skipped_rows", "undrawn_events", "first_timestamp", "last_timestamp", "thresholds",
                        "scores", "alerts",
                        "breakdown"}


def test_csv_and_markdown_agree_with_the_text():
    s = reference_summary()
    rows = dict(csv.reader(io.StringIO(render_csv(s, ALERT))))
    assert float(rows["success_rate"]) == 92.5 and float(rows["p95_latency_ms"]) == 1245.0
    assert float(rows["total_cost_usd"]) == 3.47 and rows["top_agent"] == "persona_runtime"
    assert rows["failed_calls"] == "12" and rows["alert"] == ALERT[0].message
    table = list(csv.DictReader(io.StringIO(render_csv(s, ALERT, ("agent", ROWS)))))
    assert table[0]["agent"] == "persona_runtime" and float(table[0]["p95_latency_ms"]) == 1245.0
    markdown = render_markdown(s, ALERT, ("agent", ROWS))
    for text in ("| Success Rate | 92.5%", "| P95 Latency  | 1,245ms", "| Total Cost   | $3.47", "- Low success rate",
                 "### By agent", "| persona_runtime |", "| (none)"):
        assert text in markdown


def test_breakdown_table_in_text():
    text = render_text(reference_summary(), [], ("agent", ROWS))
    header = text.splitlines()[-4]
    assert header.split()[:6] == ["agent", "calls", "success", "p50", "p95", "p99"]
    assert "persona_runtime" in text and "1,245ms" in text and "(none)" in text


def test_events_listing_shows_errors_and_unknowns():
    events = [
        event(1000.0, agent_name="a", success=False, error_type="TimeoutError",
              metadata={"error_message": "the model took too long", "args": {}}, cost_usd=None, input_tokens=None,
              output_tokens=None),
        event(999.0, agent_name="b"),
    ]
    text = render_events(events, show_errors=True)
    assert "TimeoutError: the model took too long" in text
    assert " ? " in text and "10/20" in text
    assert render_events([]) == "No matching events.\n"


def test_trace_tree_nests_by_parent_span_and_totals():
    root = event(1.0, agent_name="orchestrator", function_name="plan", span_id="s1", latency_ms=900.0,
                 cost_usd=None, input_tokens=None, output_tokens=None)
    child = event(2.0, agent_name="persona", function_name="generate", span_id="s2", parent_span_id="s1",
                  latency_ms=500.0, cost_usd=0.25, model="gpt-4o")
    grandchild = event(3.0, agent_name="tool", function_name="search", span_id="s3", parent_span_id="s2",
                       success=False, error_type="ValueError", metadata={"error_message": "bad query"})
    orphan = event(4.0, agent_name="late", function_name="x", span_id="s4", parent_span_id="missing")
    events = [grandchild, orphan, child, root]
    assert [(d, e.span_id) for d, e in trace_tree(events)] == [(0, "s1"), (1, "s2"), (2, "s3"), (0, "s4")]
    text = render_trace("t-1", events)
    lines = text.splitlines()
    assert lines[0] == "Trace t-1"
    assert lines[1].startswith("- orchestrator.plan [model_call] 900ms cost ? ok")
    assert lines[2].startswith("  - persona.generate [model_call gpt-4o] 500ms 10/20 tokens $0.25 ok")
    assert lines[3].startswith("    - tool.search") and "FAILED ValueError: bad query" in lines[3]
    assert lines[-1] == ("Total: 4 calls, 1 failed, 1,000ms at the top level, 90 tokens, $0.27"
                         " + 1 call of unknown cost")


def test_trace_tree_survives_a_parent_cycle():
    a = event(1.0, span_id="a", parent_span_id="b")
    b = event(2.0, span_id="b", parent_span_id="a")
    assert sorted(e.span_id for _, e in trace_tree([a, b])) == ["a", "b"]


def test_export_writers_round_trip():
    events = [event(1.0, metadata={"args": {"x": 1}}, cost_usd=None), event(2.0, success=False, error_type="E")]
    buffer = io.StringIO()
    assert write_jsonl(events, buffer) == 2
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert lines[0]["metadata"] == {"args": {"x": 1}} and lines[0]["cost_usd"] is None
    assert lines[1]["success"] is False
    buffer = io.StringIO()
    assert write_csv(events, buffer) == 2
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert rows[1]["success"] == "0" and rows[1]["error_type"] == "E" and rows[0]["cost_usd"] == ""


def _reference_printable(text: str, keep_newlines: bool) -> str:
    special = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch in special:
            out.append(special[ch])
        elif code < 0x20 or 0x7F <= code < 0xA0 or 0x202A <= code < 0x202F or 0x2066 <= code < 0x206A \
                or 0xD800 <= code < 0xE000:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


@given(text=st.text(alphabet=st.characters(codec=None, exclude_categories=())), keep=st.booleans())
@settings(max_examples=500, deadline=None)
def test_printable_escapes_exactly_the_unsafe_characters(text, keep):
    from dev_system.formatting import printable

    assert printable(text, keep_newlines=keep) == _reference_printable(text, keep)


def test_markdown_text_cannot_make_cells_links_images_or_html():
    from dev_system.render.text import markdown_text

    assert markdown_text("a | b") == "a \\| b"
    assert markdown_text("[x](https://evil.example)") == "\\[x\\](https:\\/\\/evil.example)"
    assert markdown_text("![i](u)") == "\\!\\[i\\](u)"
    assert markdown_text("<script>&") == "&lt;script&gt;&amp;"
    assert markdown_text("line\nbreak") == "line\\\\nbreak"  # shown as line\\nbreak
    assert markdown_text("persona_runtime gpt-4o-mini") == "persona_runtime gpt-4o-mini"
