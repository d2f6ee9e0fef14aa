"""The real ``dev-system`` command in a subprocess, on real databases."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dev_system.store import db as store
from dev_system.store.events import insert_events
from dev_system.store.schema import EVENTS_TABLE
from fakes.eventgen import event, write_events

NOW = time.time()
HOUR = 3600.0


def run(*args: str, cwd: Path, encoding: str = "utf-8") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEV_SYSTEM_")}
    env["PYTHONIOENCODING"] = encoding
    return subprocess.run([sys.executable, "-m", "dev_system", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    return tmp_path


def sample_events():
    """20 calls in the last day: 17 succeed; a two-level trace; one call of unknown cost; $12 on one day."""
    events = [event(NOW - HOUR - i, agent_name="persona_runtime", latency_ms=100.0 + i, cost_usd=0.5)
              for i in range(12)]
    events += [event(NOW - HOUR - i, agent_name="orchestrator", event_type="tool_call", latency_ms=5000.0,
                     cost_usd=1.0) for i in range(5)]
    events += [
        event(NOW - 30, agent_name="orchestrator", function_name="plan", trace_id="t-1", span_id="a",
              success=False, error_type="TimeoutError", metadata={"error_message": "upstream timed out"},
              cost_usd=None),
        event(NOW - 20, agent_name="persona_runtime", function_name="write", trace_id="t-1", span_id="b",
              parent_span_id="a", success=False, error_type="ValueError", metadata={"error_message": "bad prompt"}),
        event(NOW - 10, agent_name="persona_runtime", function_name="write", trace_id="t-1", span_id="c",
              parent_span_id="a", success=False, error_type="TimeoutError"),
    ]
    events.append(event(NOW - 200 * 86400, agent_name="ancient"))
    return events


def test_init_creates_a_private_setup_once(project):
    first = run("init", "--telemetry", cwd=project)
    assert first.returncode == 0, first.stderr
    folder, config_file = project / ".dev-system", project / ".dev-system" / "config.toml"
    db = folder / "data" / "telemetry.db"
    assert config_file.read_text() == "[telemetry]\nenabled = true\n"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert str(config_file) in first.stdout and str(db) in first.stdout
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION

    before = {p: p.stat().st_mtime_ns for p in (config_file, db)}
    second = run("init", "--telemetry", cwd=project)
    assert second.returncode == 0 and "nothing changed" in second.stdout
    assert {p: p.stat().st_mtime_ns for p in (config_file, db)} == before

    # From a subfolder, the reports find the project's database.
    (project / "src").mkdir()
    report = run("metrics", cwd=project / "src")
    assert report.returncode == 0, report.stderr
    assert "No events in this period." in report.stdout


def test_init_turns_telemetry_on_in_an_existing_config(project):
    (project / ".dev-system").mkdir()
    (project / ".dev-system" / "config.toml").write_text("[other]\nx = 1\n")
    result = run("init", "--telemetry", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "[telemetry]\nenabled = true" in (project / ".dev-system" / "config.toml").read_text()


def test_metrics_text_json_and_the_gate(project):
    db = write_events(project / "t.db", sample_events())
    text = run("metrics", "--db", str(db), cwd=project)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[:2] == ["📊 Development Metrics (Last 1 day)", "=" * 50]
    assert "Success Rate: 85.0%" in lines
    assert "Failed Calls: 3" in lines and "  TimeoutError: 2" in lines and "  ValueError: 1" in lines
    assert "Unknown Cost: 1 event (not in the total)" in lines
    assert "Top Agent: persona_runtime" in lines
    assert "🚨 Alerts:" in lines
    assert "  - Low success rate: 85.0% (threshold 90.0%)" in lines
    assert any(line.startswith("  - High P95 latency: 5,000ms (threshold 3,000ms)") for line in lines)

    doc = json.loads(run("metrics", "--db", str(db), "--format", "json", cwd=project).stdout)
    assert doc["events"] == 20 and doc["success_rate"] == 85.0 and doc["failed_calls"] == 3
    assert f"Total Cost: ${doc['cost_usd']['total']:,.2f}" in lines
    assert [a["rule"] for a in doc["alerts"]][:2] == ["success_rate", "p95_latency"]

    assert run("metrics", "--db", str(db), "--fail-on-alert", cwd=project).returncode == 1
    relaxed = run("metrics", "--db", str(db), "--fail-on-alert", "--success-rate-min", "80",
                  "--p95-latency-ms-max", "6000", "--daily-cost-usd-max", "100", cwd=project)
    assert relaxed.returncode == 0 and "Alerts" not in relaxed.stdout

    (project / "pyproject.toml").write_text("[tool.dev-system]\nsuccess-rate-min = 80\n")
    from_config = json.loads(run("metrics", "--db", str(db), "--format", "json", cwd=project).stdout)
    assert from_config["thresholds"]["success_rate_min"] == 80.0
    assert "success_rate" not in [a["rule"] for a in from_config["alerts"]]

    plain = run("metrics", "--db", str(db), cwd=project, encoding="ascii")
    assert plain.returncode == 0 and plain.stderr == ""
    assert plain.stdout.splitlines()[0] == "Development Metrics (Last 1 day)" and "Alerts:" in plain.stdout


def test_metrics_filters_breakdowns_and_formats(project):
    db = write_events(project / "t.db", sample_events())
    by_agent = run("metrics", "--db", str(db), "--period", "all", "--by", "agent", "--format", "csv", cwd=project)
    rows = {r["agent"]: r for r in csv.DictReader(io.StringIO(by_agent.stdout))}
    assert set(rows) == {"persona_runtime", "orchestrator", "ancient"}
    assert rows["orchestrator"]["calls"] == "6" and float(rows["orchestrator"]["p50_latency_ms"]) == 5000.0
    markdown = run("metrics", "--db", str(db), "--by", "error_type", "--format", "markdown", cwd=project).stdout
    assert "### By error_type" in markdown and "| TimeoutError" in markdown
    filtered = json.loads(run("metrics", "--db", str(db), "--agent", "orchestrator", "--event-type", "tool_call",
                              "--format", "json", cwd=project).stdout)
    assert filtered["events"] == 5 and filtered["filters"]["agent"] == "orchestrator"
    traced = json.loads(run("metrics", "--db", str(db), "--trace", "t-1", "--format", "json", cwd=project).stdout)
    assert traced["events"] == 3 and traced["success_rate"] == 0.0


def test_events_trace_export_and_prune(project):
    db = write_events(project / "t.db", sample_events())
    failed = run("events", "--db", str(db), "--failed", cwd=project)
    assert failed.returncode == 0, failed.stderr
    body = failed.stdout.splitlines()[2:]
    assert len(body) == 3 and "TimeoutError" in body[0]  # newest first
    assert "ValueError: bad prompt" in failed.stdout and "TimeoutError: upstream timed out" in failed.stdout
    limited = json.loads(run("events", "--db", str(db), "--limit", "2", "--format", "json", cwd=project).stdout)
    assert [e["span_id"] for e in limited] == ["c", "b"]
    assert "newest shown" in run("events", "--db", str(db), "--limit", "20", cwd=project).stdout
    assert "newest shown" not in run("events", "--db", str(db), "--limit", "21", cwd=project).stdout

    tree = run("trace", "t-1", "--db", str(db), cwd=project)
    assert tree.returncode == 0, tree.stderr
    lines = tree.stdout.splitlines()
    assert lines[1].startswith("- orchestrator.plan") and lines[2].startswith("  - persona_runtime.write")
    assert lines[-1].startswith("Total: 3 calls, 3 failed")
    as_json = json.loads(run("trace", "t-1", "--db", str(db), "--format", "json", cwd=project).stdout)
    assert [(e["depth"], e["span_id"]) for e in as_json] == [(0, "a"), (1, "b"), (1, "c")]
    missing = run("trace", "nope", "--db", str(db), cwd=project)
    assert missing.returncode == 1 and "nope" in missing.stderr

    jsonl = run("export", "--db", str(db), cwd=project)
    exported = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert len(exported) == 21 and exported[0]["agent_name"] == "ancient"  # oldest first
    out = project / "week.csv"
    result = run("export", "--db", str(db), "--format", "csv", "--period", "7d", "--output", str(out), cwd=project)
    assert result.returncode == 0 and "Exported 20 events" in result.stderr
    assert len(list(csv.DictReader(out.open()))) == 20

    dry = run("prune", "--db", str(db), "--older-than", "90d", "--dry-run", cwd=project)
    assert dry.returncode == 0 and dry.stdout.startswith("Would remove 1 event older than 90 days")
    done = run("prune", "--db", str(db), "--older-than", "90d", cwd=project)
    assert done.stdout.startswith("Removed 1 event older than 90 days")
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM telemetry_events").fetchone()[0] == 20


def test_reports_never_change_or_lock_the_data(project):
    db = write_events(project / "t.db", sample_events())
    writer = store.connect(db)  # an application still writing, its WAL not checkpointed
    insert_events(writer, [event(NOW, agent_name="live")])
    before = db.read_bytes()
    report = json.loads(run("metrics", "--db", str(db), "--format", "json", cwd=project).stdout)
    assert report["events"] == 21  # sees the committed write still in the WAL
    assert db.read_bytes() == before
    insert_events(writer, [event(NOW, agent_name="after")])  # not locked out
    writer.close()

    old = project / "old.db"  # a reference-system database stays at version 0
    raw = sqlite3.connect(old)
    raw.execute(EVENTS_TABLE)
    raw.execute("INSERT INTO telemetry_events (timestamp, event_type, agent_name, function_name, latency_ms, success)"
                " VALUES (?, 'model_call', 'old', 'f', 1.0, 1)", (NOW,))
    raw.commit()
    raw.close()
    old_bytes = old.read_bytes()
    result = run("metrics", "--db", str(old), cwd=project)
    assert result.returncode == 0 and "Top Agent: old" in result.stdout
    assert old.read_bytes() == old_bytes


def _corrupt(path: Path) -> Path:
    write_events(path, [event(NOW - i) for i in range(2000)])
    data = bytearray(path.read_bytes())
    data[4096 * 3:] = b"\xde\xad" * ((len(data) - 4096 * 3) // 2)
    path.write_bytes(bytes(data))
    return path


BAD_INPUTS = {
    "unknown period": (["metrics", "--period", "7x"], "unknown period '7x'"),
    "unknown breakdown": (["metrics", "--by", "colour"], "invalid choice: 'colour'"),
    "unknown format": (["metrics", "--format", "xml"], "invalid choice: 'xml'"),
    "unknown export format": (["export", "--format", "xml"], "invalid choice: 'xml'"),
    "bad prune duration": (["prune", "--older-than", "soon"], "unknown duration 'soon'"),
    "missing database": (["metrics", "--db", "{tmp}/missing.db"], "dev-system init --telemetry"),
    "missing database to prune": (["prune", "--older-than", "1d", "--db", "{tmp}/missing.db"], "no telemetry database"),
    "not sqlite": (["metrics", "--db", "{tmp}/notes.txt"], "not a usable telemetry database"),
    "other sqlite": (["events", "--db", "{tmp}/other.db"], "not a telemetry database"),
    "newer schema": (["trace", "x", "--db", "{tmp}/newer.db"], "upgrade pytest-devtelemetry"),
    "corrupt": (["metrics", "--period", "all", "--db", "{tmp}/corrupt.db"], "malformed"),
    "no command": ([], "choose a command"),
    "init without flag": (["init"], "init --telemetry"),
    "bad config": (["metrics", "--db", "{tmp}/ok.db"], "invalid value"),
}


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("bad")
    (tmp / "notes.txt").write_text("just some notes, not a database\n" * 100)
    other = sqlite3.connect(tmp / "other.db")
    other.execute("CREATE TABLE t (x)")
    other.commit()
    other.close()
    newer = store.connect(tmp / "newer.db")
    newer.execute("PRAGMA user_version = 99")
    newer.close()
    _corrupt(tmp / "corrupt.db")
    write_events(tmp / "ok.db", [event(NOW)])
    (tmp / "pyproject.toml").write_text("[tool.dev-system]\nsuccess-rate-min = 'lots'\n")
    return tmp


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_and_exit_2(bad_files, case):
    args, expected = BAD_INPUTS[case]
    cwd = bad_files if case == "bad config" else bad_files.parent
    result = run(*[a.format(tmp=bad_files) for a in args], cwd=cwd)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("dev-system: error: ") and expected in result.stderr
    assert result.stdout == ""
