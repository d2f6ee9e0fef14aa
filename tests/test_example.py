"""The example agent system: live turns through the decorators, and quick history."""

from __future__ import annotations

import importlib.util
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict

import pytest

from dev_system.examples import example_integration as example
from dev_system.record.pricing import default_cost
from dev_system.record.usage import Usage
from dev_system.store.events import SELECT_EVENTS, row_to_event


def _events(db):
    with sqlite3.connect(db) as conn:
        return [row_to_event(row) for row in conn.execute(SELECT_EVENTS + " ORDER BY id")]


def test_live_turns_make_one_trace_each_with_priced_model_calls(tmp_path, capsys):
    db = tmp_path / "demo.db"
    assert example.main(["--db", str(db), "--calls", "12", "--seed", "4", "--time-scale", "0"]) == 0
    assert "ran 12 agent turns" in capsys.readouterr().out
    events = _events(db)
    traces = defaultdict(list)
    for event in events:
        traces[event.trace_id].append(event)
    assert len(traces) == 12
    for members in traces.values():
        [root] = [e for e in members if e.parent_span_id is None]
        assert (root.agent_name, root.function_name) == ("orchestrator", "process_request")
        assert all(e.parent_span_id == root.span_id for e in members if e is not root)
    model_calls = [e for e in events if e.event_type == "model_call" and e.success]
    assert model_calls and all(e.cost_usd > 0 and e.model and e.input_tokens > 0 for e in model_calls)
    for call in model_calls:
        detail = call.metadata_dict.get("usage", {})
        usage = Usage(call.input_tokens, call.output_tokens, call.model, detail)
        assert call.cost_usd == pytest.approx(default_cost(usage))
    assert {e.agent_name for e in events} == {"orchestrator", "persona_runtime", "viral_engine"}


def test_simulated_failures_are_recorded_with_their_class_names(tmp_path):
    db = tmp_path / "demo.db"
    assert example.main(["--db", str(db), "--calls", "30", "--seed", "1", "--time-scale", "0",
                         "--error-rate", "8", "--quiet"]) == 0
    failures = [e for e in _events(db) if not e.success]
    assert {"RateLimitError", "APITimeoutError"} <= {e.error_type for e in failures}
    # no usage came back: nothing was billed, and the event names the model the call asked for
    assert all(e.cost_usd == 0.0 and e.model for e in failures if e.event_type == "model_call")


def test_history_covers_the_days_asked_with_realistic_rates(tmp_path):
    db = tmp_path / "history.db"
    now = time.time()
    count = example.write_history(db, 14, turns_per_day=60, now=now, seed=7)
    events = _events(db)
    assert count == len(events) > 14 * 60
    assert min(e.timestamp for e in events) >= now - 14 * 86400
    assert max(e.timestamp for e in events) < now
    days = {int((now - e.timestamp) // 86400) for e in events}
    assert days == set(range(14))
    model_calls = [e for e in events if e.event_type == "model_call"]
    failure_rate = sum(not e.success for e in model_calls) / len(model_calls)
    assert 0.02 < failure_rate < 0.2
    assert all(e.cost_usd is not None and e.cost_usd > 0 for e in model_calls if e.success)
    roots = [e for e in events if e.parent_span_id is None]
    assert all(e.function_name == "process_request" for e in roots)


def test_history_is_repeatable_and_not_duplicated(tmp_path):
    db = tmp_path / "history.db"
    first = example.write_history(db, 2, turns_per_day=10, now=1_800_000_000.0, seed=3)
    assert first == len(_events(db)) > 0
    assert example.write_history(db, 2, turns_per_day=10, now=1_800_000_000.0, seed=3) == 0
    assert example.write_history(db, 2, turns_per_day=10, now=1_800_000_000.0, seed=4) > 0
    assert len(_events(db)) > first


def test_history_only(tmp_path, capsys):
    db = tmp_path / "h.db"
    assert example.main(["--db", str(db), "--days", "3", "--calls", "0", "--turns-per-day", "5"]) == 0
    out = capsys.readouterr().out
    assert "over 3 days" in out and "agent turns" not in out
    assert _events(db)


def test_an_unusable_database_is_one_line_not_a_traceback(tmp_path, capsys):
    (tmp_path / "not-a-db").write_text("hello, I am text" * 100)
    assert example.main(["--db", str(tmp_path / "not-a-db"), "--days", "1", "--calls", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_runs_as_a_module_and_rejects_bad_options(tmp_path):
    db = tmp_path / "m.db"
    done = subprocess.run([sys.executable, "-m", "dev_system.examples.example_integration", "--db", str(db),
                           "--calls", "2", "--days", "1", "--turns-per-day", "5", "--time-scale", "0"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "dev-system metrics --db" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "dev_system.examples.example_integration", "--calls", "-3"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


# --- the demo's test run -------------------------------------------------------------------------

needs_openai = pytest.mark.skipif(importlib.util.find_spec("openai") is None,
                                  reason="the example agent calls its provider through the openai SDK")


def _demo_env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEV_SYSTEM_", "OPENAI_"))}
    env["PYTHONIOENCODING"] = "utf-8"
    return env


@needs_openai
def test_the_test_run_demo_shows_a_cheaper_but_worse_change(tmp_path):
    db, folder = tmp_path / "t.db", tmp_path / "project"
    done = subprocess.run([sys.executable, "-m", "dev_system.examples.testrun_demo", "--db", str(db),
                           "--folder", str(folder)], cwd=tmp_path, env=_demo_env(), capture_output=True,
                          text=True, encoding="utf-8", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Traceback" not in out + done.stderr
    # the project was written and changed: the prompt is shorter, the refund fact cut
    agent = (folder / "support_agent.py").read_text()
    assert "original payment method" not in agent and "MODEL = " in agent
    with sqlite3.connect(db) as conn:
        runs = [row[0] for row in conn.execute("SELECT run_id FROM runs ORDER BY started_at")]
        assert len(runs) == 2
        cost = dict(conn.execute("SELECT run_id, TOTAL(cost_usd) FROM telemetry_events GROUP BY run_id"))
        calls = dict(conn.execute("SELECT run_id, COUNT(*) FROM telemetry_events"
                                  " WHERE function_name LIKE 'openai.%' GROUP BY run_id"))
        means = dict(conn.execute("SELECT run_id, AVG(value) FROM scores WHERE name = 'correctness' GROUP BY run_id"))
        refund = dict(conn.execute("SELECT run_id, value FROM scores WHERE nodeid LIKE '%[refund]'"))
    # every model call went through the instrumented SDK to the local fake provider, and was priced
    assert calls == {runs[0]: 6, runs[1]: 6}
    assert 0 < cost[runs[1]] < 0.8 * cost[runs[0]]
    assert means[runs[0]] == 1.0 and means[runs[1]] == pytest.approx(0.9)
    assert refund == {runs[0]: 1.0, runs[1]: 0.5}
    # what the newcomer reads: two summaries, the diff, the comparison, the scores and the history
    assert out.count("-- telemetry --") == 2
    # the baseline is over the run's cost budget; the change is under it, but below the quality bar
    baseline, changed = out.split("# a change to the agent")
    assert "  - High cost: $" in baseline and "(threshold $0.0045)" in baseline and "FAIL" not in baseline
    assert "High cost" not in changed
    assert "correctness: 1.00 -> 0.90" in changed  # the comparison: cost down, a score down
    assert "FAIL telemetry gate: Low score correctness: mean 0.90 (threshold 0.95)" in changed
    assert "(exit status 1: the gate failed the run)" in changed
    assert "correctness  0.90  5 tests, min 0.50 (test_support_agent.py::test_answers_hold_the_facts[refund])" in changed
    assert "-FACT refund: Refunds are possible within 30 days of purchase, to the original payment method." in out
    assert f"Compared with run {runs[0]}" in out and "  cost: $" in out
    assert "test_support_agent.py::test_answers_hold_the_facts[refund]" in out
    scores_line = next(line for line in out.splitlines() if line.startswith("correctness "))
    assert scores_line.split()[:3] == ["correctness", "0.90", "0.50"]
    assert "  correctness: 1.00 -> 0.50 (-50.0%)" in out
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert '"id":"scores"' in page and "test_answers_hold_the_facts[refund]" in page


def test_the_fake_provider_answers_from_the_prompt_only():
    from dev_system.examples.support_agent.provider import HANDOVER, reply_to

    system = {"role": "system", "content": "Be nice.\nFACT refund: Refunds within 30 days.\n"}
    assert reply_to([system, {"role": "user", "content": "I want my money back"}]) == "Refunds within 30 days."
    assert reply_to([system, {"role": "user", "content": "How much is it?"}]) == HANDOVER


@needs_openai
def test_just_demo_ends_with_the_test_run(tmp_path):
    # Like a clone of this project: pytest settings of its own, which the example project's run
    # must not take for its own.
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n\n[tool.dev-system]\n')
    done = subprocess.run([sys.executable, "-m", "dev_system.examples.demo", "--calls", "2", "--days", "1"],
                          cwd=tmp_path, env=_demo_env(), capture_output=True, text=True, encoding="utf-8",
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "$ dev-system metrics --period today" in done.stdout
    assert done.stdout.index("$ dev-system trace") < done.stdout.index("# the baseline")
    assert (tmp_path / ".dev-system" / "demo" / "support-agent" / "test_support_agent.py").is_file()
    assert "$ dev-system history 'test_support_agent.py::test_answers_hold_the_facts[refund]'" in done.stdout
    # the example project's own settings apply, not those of the project the demo runs in
    assert "FAIL telemetry gate: Low score correctness: mean 0.90 (threshold 0.95)" in done.stdout
    assert "(threshold $0.0045)" in done.stdout
