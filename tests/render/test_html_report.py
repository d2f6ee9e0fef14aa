"""The HTML report without a browser: the same figures as the text report, bounded data, escaping.

The page itself is checked in a real Chromium by ``test_html_report_browser.py``, which builds its
databases with :func:`demo_db` from here.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from pathlib import Path

import pytest

from dev_system.analysis.alerts import Thresholds, evaluate_alerts
from dev_system.analysis.metrics import compute_breakdown, compute_summary
from dev_system.analysis.periods import Window, parse_period
from dev_system.render.html.page import (
    HTML_FORMAT,
    Limits,
    collect_report,
    embed_json,
    render_html,
    write_html_report,
)
from dev_system.render.text import render_text
from dev_system.store import db as store
from dev_system.store.queries import Filters
from fakes.eventgen import event, synthetic, write_events

NOW = 1_793_100_000.0  # 2026-10-27, with the EU end of summer time in the 30 days before it
DAY = 86400.0

HOSTILE_AGENT = '<img src=x onerror="window.pwned=1">'
HOSTILE_FUNCTION = "</script><script>window.pwned=2</script>"
HOSTILE_MESSAGE = "boom <b>&amp;</b> \u2028 </SCRIPT> <!-- & \"quoted\" 'single'"
HOSTILE_TRACE = "trace-<svg onload=window.pwned=3>"


def demo_events(n: int = 3000, *, now: float = NOW, days: float = 30.0):
    """``n`` synthetic events over ``days``, a nested trace with a failure, and hostile strings."""
    events = list(synthetic(n, days=days, now=now, seed=7))
    t = now - 3600.0
    events += [
        event(t, agent_name="orchestrator", function_name="handle_order", trace_id="order-42",
              span_id="r", latency_ms=900.0, cost_usd=0.0, model=None, success=False, error_type="RuntimeError",
              metadata={"error_message": "a tool failed"}),
        event(t + 0.05, agent_name="planner", function_name="plan", trace_id="order-42", span_id="a",
              parent_span_id="r", latency_ms=300.0, cost_usd=0.002, model="gpt-4o-mini"),
        event(t + 0.40, agent_name="tools", function_name="lookup", trace_id="order-42", span_id="b",
              parent_span_id="r", latency_ms=350.0, cost_usd=0.0, event_type="tool_call", success=False,
              error_type="TimeoutError", metadata={"error_message": "lookup timed out after 0.35s"}),
        event(t + 0.45, agent_name="tools", function_name="fetch", trace_id="order-42", span_id="c",
              parent_span_id="b", latency_ms=120.0, cost_usd=None, event_type="tool_call"),
        event(t - 60, agent_name=HOSTILE_AGENT, function_name=HOSTILE_FUNCTION, trace_id=HOSTILE_TRACE,
              span_id="h", success=False, error_type="<ValueError>", metadata={"error_message": HOSTILE_MESSAGE},
              model="<model>"),
    ]
    return events


def demo_db(path: Path, n: int = 3000, *, now: float = NOW, runs: bool = False) -> Path:
    """A database of :func:`demo_events`; with ``runs``, also two pytest runs (a baseline and the
    run after it) with their tests' events and results."""
    events = demo_events(n, now=now)
    if runs:
        for run_id, start, factor in (("run-base", now - 7200.0, 1.0), ("run-now", now - 600.0, 1.5)):
            for i, name in enumerate(("test_answer", "test_plan", "test_refund", "test_slow")):
                nodeid = f"tests/test_agent.py::{name}"
                for k in range(3):
                    events.append(event(start + i * 10 + k, agent_name="persona_runtime", function_name="generate",
                                        trace_id=nodeid, span_id=f"{run_id}-{i}-{k}", run_id=run_id,
                                        latency_ms=100.0 * (i + 1) * factor, cost_usd=0.001 * (i + 1) * factor,
                                        model="gpt-4o-mini", success=not (name == "test_refund" and k == 2 and factor > 1),
                                        error_type=None if not (name == "test_refund" and k == 2 and factor > 1)
                                        else "RateLimitError"))
    write_events(path, events)
    if runs:
        conn = store.connect(path)
        try:
            for run_id, start, factor, outcome in (("run-base", now - 7200.0, 1.0, "passed"),
                                                   ("run-now", now - 600.0, 1.5, "failed")):
                conn.execute("INSERT INTO runs (run_id, started_at, ended_at, status, command, git_commit, git_branch,"
                             " host, passed, failed, skipped, errors, exit_status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                             (run_id, start, start + 60 * factor, outcome, "pytest --telemetry", "0123456789abcdef",
                              "main", "ci-1", 4 if outcome == "passed" else 3, 0 if outcome == "passed" else 1, 0, 0,
                              0 if outcome == "passed" else 1))
                for i, name in enumerate(("test_answer", "test_plan", "test_refund", "test_slow")):
                    failed = name == "test_refund" and factor > 1
                    conn.execute("INSERT INTO test_results (run_id, nodeid, outcome, duration_s, events, input_tokens,"
                                 " output_tokens, cost_usd, unknown_cost, max_latency_ms) VALUES (?,?,?,?,?,?,?,?,?,?)",
                                 (run_id, f"tests/test_agent.py::{name}", "failed" if failed else "passed",
                                  (i + 1) * 0.5 * factor * (4 if name == "test_slow" else 1), 3, 30, 60,
                                  0.003 * (i + 1) * factor, 0, 100.0 * (i + 1) * factor))
            conn.commit()
        finally:
            conn.close()
    return path


def page_data(page: str) -> dict:
    """The JSON embedded in a page."""
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert match, "no embedded data"
    return json.loads(match.group(1))


@pytest.fixture
def conn(tmp_path):
    path = demo_db(tmp_path / "t.db")
    connection = store.connect(path, readonly=True)
    yield connection
    connection.close()


def test_cards_and_alerts_are_the_text_report_figures(conn):
    window = parse_period("30d", now=NOW)
    thresholds = Thresholds(success_rate_min=95.0, p95_latency_ms_max=1000.0, daily_cost_usd_max=0.05)
    data = collect_report(conn, window, thresholds=thresholds, now=NOW)
    summary = compute_summary(conn, window)
    text = render_text(summary, evaluate_alerts(summary, thresholds), ascii_only=True)
    figures = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line and not line.startswith(" "))
    cards = {card["id"]: card["value"] for card in data["cards"]}
    assert cards["success_rate"] == figures["Success Rate"]
    assert cards["p95_latency"] == figures["P95 Latency"]
    assert cards["total_cost"] == figures["Total Cost"]
    assert cards["failed_calls"] == figures["Failed Calls"]
    assert cards["calls"] == f"{summary.events:,}"
    alert_lines = [line[4:] for line in text.splitlines() if line.startswith("  - ")]
    assert [a["message"] for a in data["alerts"]] == alert_lines and alert_lines
    rules = {a["rule"] for a in data["alerts"]}
    assert {c["id"] for c in data["cards"] if c["alert"]} == (
        {"success_rate"} & rules | {"p95_latency"} & rules | ({"total_cost"} if rules & {"daily_cost", "cost"} else set()))


def test_series_add_up_to_the_summary(conn):
    window = parse_period("30d", now=NOW)
    data = collect_report(conn, window, now=NOW)
    summary = compute_summary(conn, window)
    series = data["series"]
    assert series["unit"] == "day"
    assert series["labels"] == list(summary.daily_cost_usd)  # every day has events here
    n = len(series["labels"])
    assert all(len(row) == n for row in series["calls"] + series["cost"])
    assert sum(map(sum, series["calls"])) == summary.events
    for day, costs in zip(series["labels"], zip(*series["cost"])):
        assert math.isclose(sum(costs), summary.daily_cost_usd[day], rel_tol=1e-9, abs_tol=1e-9)
    days = {row.key: row for row in compute_breakdown(conn, window, Filters(), "day")}
    for i, day in enumerate(series["labels"]):
        assert math.isclose(series["p95"][i], days[day].p95_latency_ms)
        assert math.isclose(series["p50"][i], days[day].p50_latency_ms)
        assert math.isclose(series["success_rate"][i], days[day].success_rate)
    assert [row[0] for row in data["tables"]["agent"]["rows"]][:len(series["agents"])] == [
        a["name"] for a in series["agents"]]


def test_a_short_window_is_drawn_per_hour(tmp_path):
    path = write_events(tmp_path / "t.db", [event(NOW - 3600 * h - 1, agent_name=f"a{h % 3}") for h in range(10)])
    with store.connect(path, readonly=True) as conn:
        data = collect_report(conn, Window(), now=NOW)
    series = data["series"]
    assert series["unit"] == "hour"
    assert 10 <= len(series["labels"]) <= 11
    assert sum(map(sum, series["calls"])) == 10
    assert all(label.endswith(":00") for label in series["labels"])


def test_many_agents_and_error_types_are_bounded(tmp_path):
    events = [event(NOW - i * 60, agent_name=f"agent-{i % 40:02d}", success=i % 2 == 0, trace_id=f"t{i}",
                    latency_ms=float(i), error_type=None if i % 2 == 0 else f"Error{i % 30}") for i in range(2000)]
    path = write_events(tmp_path / "t.db", events)
    limits = Limits(agents=5, error_types=6, table_rows=7, failed_events=9, traces=3, slow_traces=2)
    with store.connect(path, readonly=True) as conn:
        data = collect_report(conn, Window(), limits=limits, now=NOW)
    agents = data["series"]["agents"]
    assert len(agents) == 6 and agents[-1]["name"] == "35 other agents" and agents[-1].get("other")
    assert sum(map(sum, data["series"]["calls"])) == 2000
    assert len(data["errors"]["labels"]) == 6 and data["errors"]["labels"][-1] == "10 other types"  # 15 odd types
    assert sum(data["errors"]["counts"]) == 1000
    assert len(data["tables"]["agent"]["rows"]) == 7 and data["tables"]["agent"]["more"] == 33
    assert len(data["failed"]["rows"]) == 9 and data["failed"]["total"] == 1000
    reasons = [t["reason"] for t in data["traces"]]
    assert reasons == ["failed"] * 3 + ["slowest"] * 2
    assert [r["trace"] is not None for r in data["failed"]["rows"]] == [True] * 3 + [False] * 6


def test_hostile_strings_stay_data(conn, tmp_path):
    data = collect_report(conn, parse_period("30d", now=NOW), now=NOW)
    page = render_html(data)
    embedded = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S).group(1)
    for raw in ("<", ">", "&", "\u2028"):
        assert raw not in embedded
    assert page_data(page) == json.loads(json.dumps(data))
    text = json.dumps(page_data(page), ensure_ascii=False)
    assert HOSTILE_AGENT.replace('"', '\\"') in text and HOSTILE_FUNCTION in text
    # nothing user-controlled reaches the markup outside the JSON block
    outside = page.replace(embedded, "")
    assert "pwned" not in outside and "onerror" not in outside
    assert page.count("<script") == 3 and page.count("</script>") == 3


def test_embed_json_escapes_markup():
    text = embed_json({"a": "</script><!--&", "b": [1.5, None]})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><!--&", "b": [1.5, None]}


def test_the_page_is_self_contained_and_small(tmp_path):
    path = write_events(tmp_path / "big.db", synthetic(100_000, days=30, now=NOW, seed=3))
    with store.connect(path, readonly=True) as conn:
        data = collect_report(conn, parse_period("30d", now=NOW), now=NOW)
    out = write_html_report(tmp_path / "out" / "report.html", data)
    page = out.read_text(encoding="utf-8")
    size = len(page.encode("utf-8"))
    library = (Path(__file__).parents[2] / "dev_system/render/html/assets/chart.umd.min.js").stat().st_size
    assert size - library < 250_000, f"{size - library:,} bytes of page besides the charting library"
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing to fetch
    assert "default-src 'none'" in page
    assert data["format"] == HTML_FORMAT and data["events"] == 100_000
    assert len(data["series"]["labels"]) in (30, 31)
    assert not list(out.parent.glob(".*.tmp"))


def test_the_script_hashes_match_the_inline_scripts(conn):
    import base64
    import hashlib

    page = render_html(collect_report(conn, Window(), now=NOW))
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 2
    for body in scripts:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp


def test_an_empty_period(tmp_path):
    path = write_events(tmp_path / "t.db", [event(NOW - 100 * DAY)])
    with store.connect(path, readonly=True) as conn:
        data = collect_report(conn, parse_period("7d", now=NOW), now=NOW)
    assert data["events"] == 0 and data["alerts"] == [] and data["series"]["labels"] == []
    assert data["tables"] == {} and data["traces"] == []
    assert "<html" in render_html(data)


def test_traces_are_trees_with_offsets(conn):
    data = collect_report(conn, parse_period("30d", now=NOW), now=NOW)
    trace = next(t for t in data["traces"] if t["id"] == "order-42")
    assert trace["reason"] == "failed" and trace["calls"] == 4 and trace["failed"] == 2
    depths = [(e[0], e[2]) for e in trace["events"]]
    assert depths == [(0, "handle_order"), (1, "plan"), (1, "lookup"), (2, "fetch")]
    assert trace["events"][0][5] == 0 and math.isclose(trace["events"][2][5], 400.0)
    assert trace["duration"] == "900ms"
    failed = [r for r in data["failed"]["rows"] if r["trace_id"] == "order-42"]
    assert failed and all(data["traces"][r["trace"]]["id"] == "order-42" for r in failed)
    assert any(r["message"] == "lookup timed out after 0.35s" for r in failed)


def test_a_run_against_its_baseline(tmp_path):
    path = demo_db(tmp_path / "t.db", 200, runs=True)
    with store.connect(path, readonly=True) as conn:
        data = collect_report(conn, Window(label="Run run-now"), Filters(run_id="run-now"), cost_scope="total",
                              run_id="run-now", baseline_run_id="run-base", now=NOW)
        summary = compute_summary(conn, Window(), Filters(run_id="run-now"))
    assert data["events"] == summary.events == 12
    run = data["run"]
    assert run["info"]["status"] == "failed" and run["info"]["commit"] == "0123456789ab"
    assert run["expensive"]["labels"][0] == "tests/test_agent.py::test_slow"
    assert run["slowest"]["labels"][0] == "tests/test_agent.py::test_slow" and run["slowest"]["unit"] == "s"
    assert math.isclose(run["slowest"]["values"][0], 4 * 0.5 * 4 * 1.5)
    base = run["baseline"]
    assert base["id"] == "run-base" and base["shared_tests"] == 4
    rows = {row[0]: row for row in base["totals"]["rows"]}
    assert rows["Calls"][1:] == ["12", "12", "no change"]
    assert rows["Success rate"][1:] == ["100.0%", "91.7%", "-8.3 points"]
    assert rows["Total cost"][3].startswith("+$") and rows["Total cost"][3].endswith("(+50.0%)")
    assert len(base["cost"]["labels"]) == 4
    assert base["cost"]["current"][0] == pytest.approx(1.5 * base["cost"]["baseline"][0])
    assert [t["trace"] is not None for t in run["tests"]["rows"]] == [True] * 4
    traces = {t["id"]: t for t in data["traces"]}
    assert traces["tests/test_agent.py::test_refund"]["calls"] == 3  # this run's events only
    assert traces["tests/test_agent.py::test_refund"]["run_id"] == "run-now"


def test_an_old_database_without_the_added_columns(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE telemetry_events (id INTEGER PRIMARY KEY, timestamp REAL NOT NULL, event_type TEXT NOT NULL,"
                    " agent_name TEXT NOT NULL, function_name TEXT NOT NULL, input_tokens INTEGER DEFAULT 0,"
                    " output_tokens INTEGER DEFAULT 0, latency_ms REAL NOT NULL, cost_usd REAL DEFAULT 0.0,"
                    " success BOOLEAN NOT NULL, error_type TEXT, trace_id TEXT, metadata TEXT,"
                    " created_at DATETIME DEFAULT CURRENT_TIMESTAMP)")
        old.executemany("INSERT INTO telemetry_events (timestamp, event_type, agent_name, function_name, latency_ms,"
                        " cost_usd, success, error_type, trace_id) VALUES (?,?,?,?,?,?,?,?,?)",
                        [(NOW - i * 3600, "model_call", "a", "f", 10.0 * i, 0.01, i % 3 != 0,
                          None if i % 3 else "E", f"t{i}") for i in range(50)])
    with store.connect(path, readonly=True) as conn:
        data = collect_report(conn, Window(), now=NOW)
    assert data["events"] == 50 and data["failed"]["total"] == 17 and data["traces"]
    assert data["tables"]["model"]["rows"][0][0] == "(none)"


# --- dev-system report --html ------------------------------------------------------------------

def run_cli(*argv: str) -> tuple[int, str, str]:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "dev_system", *argv], capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_the_command_writes_the_report_of_a_period(tmp_path):
    db = demo_db(tmp_path / "t.db", 500, now=__import__("time").time())
    out = tmp_path / "reports" / "week.html"
    code, stdout, stderr = run_cli("report", "--html", str(out), "--period", "7d", "--db", str(db),
                                   "--success-rate-min", "99")
    assert (code, stderr) == (0, "")
    data = page_data(out.read_text(encoding="utf-8"))
    assert stdout == f"Wrote {out}: {data['events']:,} events (Last 7 days), 1 alert\n"
    assert data["period"]["label"] == "Last 7 days" and data["thresholds"]["success_rate_min"] == 99.0
    assert data["alerts"][0]["rule"] == "success_rate" and data["run"] is None
    code, _, _ = run_cli("report", "--html", str(out), "--db", str(db), "--success-rate-min", "99", "--fail-on-alert")
    assert code == 1


def test_the_command_writes_the_report_of_a_run_against_its_baseline(tmp_path):
    db = demo_db(tmp_path / "t.db", 100, runs=True)
    out = tmp_path / "run.html"
    code, stdout, stderr = run_cli("report", "--html", str(out), "--run", "run-n", "--db", str(db))
    assert (code, stderr) == (0, ""), stderr
    data = page_data(out.read_text(encoding="utf-8"))
    assert data["run"]["id"] == "run-now" and data["filters"] == {"run_id": "run-now"}
    assert data["run"]["baseline"]["id"] == "run-base"  # found: the previous run of the same tests
    assert data["thresholds"]["cost_scope"] == "total" and data["events"] == 12
    code, _, _ = run_cli("report", "--html", str(out), "--run", "run-now", "--baseline", "none", "--db", str(db))
    assert code == 0 and page_data(out.read_text(encoding="utf-8"))["run"]["baseline"] is None


@pytest.mark.parametrize("argv, message", [
    (("--run", "nope"), "no run 'nope'"),
    (("--baseline", "run-base"), "--baseline goes with --run RUN"),
    (("--period", "soon"), "unknown period 'soon'"),
    (("--html", "/proc/no/such/dir/r.html"), "cannot write /proc/no/such/dir/r.html"),
])
def test_the_command_reports_bad_input_in_one_line(tmp_path, argv, message):
    db = demo_db(tmp_path / "t.db", 50, runs=True)
    args = ["report", "--db", str(db), *argv]
    if "--html" not in argv:
        args += ["--html", str(tmp_path / "r.html")]
    code, stdout, stderr = run_cli(*args)
    assert code == 2 and stdout == ""
    assert stderr.startswith("dev-system: error: ") and message in stderr and stderr.count("\n") == 1, stderr


# --- pytest --telemetry-html ----------------------------------------------------------------------

AGENT_APP = '''
from dev_system.ops.telemetry import telemetry_decorator

@telemetry_decorator(agent_name="writer", event_type="model_call", cost_calculator=lambda result: 0.01)
def write(prompt):
    return prompt.upper()

@telemetry_decorator(agent_name="search", event_type="tool_call")
def search(query):
    if query == "boom":
        raise TimeoutError("slow backend")
    return [query]
'''

AGENT_TESTS = '''
import pytest
from agent_html_app import write, search

def test_cheap():
    write("a")

def test_expensive():
    for _ in range(5):
        write("b")
    search("c")

def test_failing_call():
    with pytest.raises(TimeoutError):
        search("boom")
'''


def test_pytest_writes_the_run_report_against_its_baseline(pytester):
    pytester.makepyfile(agent_html_app=AGENT_APP, test_agent_html=AGENT_TESTS)
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    pytester.syspathinsert()
    db = pytester.path / "t.db"
    first = pytester.runpytest("--telemetry-db", str(db), "--telemetry-html", "reports/first.html", "-p", "no:cacheprovider")
    first.assert_outcomes(passed=3)
    page = pytester.path / "reports" / "first.html"
    first.stdout.fnmatch_lines([f"telemetry: HTML report written to {page}"])
    data = page_data(page.read_text(encoding="utf-8"))
    run = data["run"]
    assert data["events"] == 8 and run["baseline"] is None and run["info"]["status"] == "passed"
    assert run["expensive"]["labels"][0] == "test_agent_html.py::test_expensive"
    assert run["expensive"]["values"][0] == pytest.approx(0.05)
    assert {c["id"]: c["value"] for c in data["cards"]}["total_cost"] == "$0.06"
    assert data["failed"]["rows"][0]["message"] == "slow backend"
    assert data["failed"]["rows"][0]["trace_id"] == "test_agent_html.py::test_failing_call"

    second = pytester.runpytest("--telemetry-db", str(db), "--telemetry-html", "second.html",
                                "--telemetry-success-rate-min", "95", "-p", "no:cacheprovider")
    second.assert_outcomes(passed=3)
    data = page_data((pytester.path / "second.html").read_text(encoding="utf-8"))
    assert data["run"]["baseline"]["id"] == run["id"] and data["run"]["baseline"]["shared_tests"] == 3
    assert data["run"]["id"] != run["id"] and data["events"] == 8
    assert [a["rule"] for a in data["alerts"]] == ["success_rate"]  # 7 of 8 calls succeeded: 87.5%


def test_an_html_report_that_cannot_be_written_changes_no_outcome(pytester):
    pytester.makepyfile(agent_html_app=AGENT_APP, test_agent_html=AGENT_TESTS)
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    pytester.syspathinsert()
    (pytester.path / "taken").write_text("a file, not a folder")
    result = pytester.runpytest("--telemetry-db", str(pytester.path / "t.db"), "--telemetry-html", "taken/r.html",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*cannot write the HTML report*taken/r.html*"])
    assert "HTML report written" not in result.stdout.str()


@pytest.mark.slow
def test_pytest_with_xdist_writes_one_report_on_the_controller(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(agent_html_app=AGENT_APP, test_agent_html=AGENT_TESTS)
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    db = pytester.path / "t.db"
    result = pytester.runpytest_subprocess("--telemetry-db", str(db), "--telemetry-html", "x.html", "-n", "2",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([f"telemetry: HTML report written to {pytester.path / 'x.html'}"])
    data = page_data((pytester.path / "x.html").read_text(encoding="utf-8"))
    assert data["events"] == 8 and len(data["run"]["tests"]["rows"]) == 3
    assert [p.name for p in pytester.path.glob("*.html")] == ["x.html"]


def test_missing_assets_are_one_line_not_a_traceback(tmp_path, monkeypatch, capsys):
    from dev_system import cli
    from dev_system.render.html import page as html_report

    db = demo_db(tmp_path / "t.db", 20)
    monkeypatch.setattr(html_report, "ASSETS", tmp_path / "nowhere")
    with pytest.raises(html_report.AssetsMissing, match="reinstall pytest-devtelemetry"):
        html_report.render_html({})
    assert cli.main(["report", "--html", str(tmp_path / "r.html"), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dev-system: error: the HTML report's ") and err.count("\n") == 1
    assert not (tmp_path / "r.html").exists()
