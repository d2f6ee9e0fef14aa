"""Calls answered from a vcrpy cassette (pytest-recording) are marked replayed, not spending.

A user suite is recorded once against the fake provider server (``--record-mode=once``), then
replayed with the server stopped (``--record-mode=none``): the replayed calls keep their tokens
and notional cost, are marked ``replayed``, and the reports show $0 spent and the notional cost
apart (metrics, the pytest summary, JSON, HTML). vcrpy patches ``httpx2``, the HTTP library of
openai 3.x and anthropic 2.x, so their sync, async and streamed calls are all replayed.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from framework_runs import price, require

from fakes.fake_llm_server import FakeLLMServer, anthropic_message, chat_completion

require("vcr")
require("pytest_recording")

CLAUDE = "claude-haiku-4-5-20251001"

USER_SUITE = '''
import asyncio

import anthropic
import openai
import pytest

URL = {url!r}
CLAUDE = {claude!r}


def oa():
    return openai.OpenAI(base_url=URL + "/v1", api_key="sk-test", max_retries=0)


@pytest.mark.vcr
def test_chat():
    reply = oa().chat.completions.create(model="gpt-4o-mini", messages=[{{"role": "user", "content": "hi"}}])
    assert reply.usage.prompt_tokens == 42


@pytest.mark.vcr
def test_chat_stream():
    chunks = list(oa().chat.completions.create(model="gpt-4o-mini", messages=[{{"role": "user", "content": "hi"}}],
                                               stream=True, stream_options={{"include_usage": True}}))
    assert chunks[-1].usage.completion_tokens == 7


@pytest.mark.vcr
def test_async_anthropic():
    async def go():
        client = anthropic.AsyncAnthropic(base_url=URL, api_key="sk-ant-test", max_retries=0)
        return await client.messages.create(model=CLAUDE, max_tokens=64, messages=[{{"role": "user", "content": "hi"}}])

    assert asyncio.run(go()).usage.output_tokens == 12
'''

TELEMETRY = ("--telemetry", "--telemetry-instrument=openai,anthropic", "-p", "no:cacheprovider")


def expected_cost() -> float:
    chat, claude = chat_completion()["usage"], anthropic_message()["usage"]
    return (2 * price("openai", "gpt-4o-mini", chat["prompt_tokens"], chat["completion_tokens"])
            + price("anthropic", CLAUDE, claude["input_tokens"], claude["output_tokens"]))


def events(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT trace_id, model, input_tokens, output_tokens, cost_usd,"
                            " json_extract(metadata, '$.replayed') FROM telemetry_events"
                            " WHERE event_type = 'model_call' ORDER BY trace_id").fetchall()


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dev_system", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def recorded(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """The user suite, recorded once against a server that is then stopped."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server = FakeLLMServer().start()
    try:
        pytester.makepyfile(test_user=USER_SUITE.format(url=server.url, claude=CLAUDE))
        result = pytester.runpytest_subprocess(*TELEMETRY, "--telemetry-db=recorded.db", "--record-mode=once")
        result.assert_outcomes(passed=3)
        assert len(server.requests) == 3
    finally:
        server.stop()
    return pytester


def test_recording_is_spending_and_replaying_is_not(recorded: pytest.Pytester) -> None:
    first = events(recorded.path / "recorded.db")
    assert len(first) == 3 and all(row[5] is None for row in first)  # went to the server: real spend
    assert sum(row[4] for row in first) == pytest.approx(expected_cost(), rel=1e-9)

    result = recorded.runpytest_subprocess(*TELEMETRY, "--telemetry-db=replay.db", "--record-mode=none",
                                           "--telemetry-json=replay.json")
    result.assert_outcomes(passed=3)  # the server is stopped: every answer came from the cassettes
    replayed = events(recorded.path / "replay.db")
    # the same calls, tokens, models and notional cost, each marked replayed
    assert [row[:5] for row in replayed] == [row[:5] for row in first]
    assert [row[5] for row in replayed] == [1, 1, 1]

    notional = expected_cost()
    summary = json.loads((recorded.path / "replay.json").read_text())["summary"]
    assert summary["cost_usd"]["spent"] == 0
    assert summary["cost_usd"]["replayed"] == pytest.approx(notional, rel=1e-9)
    assert summary["cost_usd"]["replayed_events"] == 3
    assert summary["cost_usd"]["total"] == pytest.approx(notional, rel=1e-9)  # budgets work offline
    result.stdout.fnmatch_lines(["Spent: $0.00*", "Replayed: 3 events, $0.0* notional (not spent*"])

    metrics = cli("metrics", "--db", "replay.db", "--period", "all", "--format", "json", cwd=recorded.path)
    assert metrics.returncode == 0, metrics.stderr
    cost = json.loads(metrics.stdout)["cost_usd"]
    assert (cost["spent"], cost["replayed_events"]) == (0, 3) and cost["replayed"] == pytest.approx(notional)
    text = cli("metrics", "--db", "replay.db", "--period", "all", cwd=recorded.path)
    assert "Replayed: 3 events" in text.stdout and "Spent: $0.00" in text.stdout

    recorded_metrics = cli("metrics", "--db", "recorded.db", "--period", "all", "--format", "json", cwd=recorded.path)
    cost = json.loads(recorded_metrics.stdout)["cost_usd"]
    assert cost["spent"] == pytest.approx(notional) and cost["replayed_events"] == 0

    html = cli("report", "--db", "replay.db", "--period", "all", "--html", "r.html", cwd=recorded.path)
    assert html.returncode == 0, html.stderr
    assert "not spent" in (recorded.path / "r.html").read_text()


def test_replaying_under_xdist_and_without_telemetry(recorded: pytest.Pytester) -> None:
    result = recorded.runpytest_subprocess(*TELEMETRY, "--telemetry-db=x.db", "--record-mode=none", "-n", "2")
    result.assert_outcomes(passed=3)
    replayed = events(recorded.path / "x.db")
    assert [row[:5] for row in replayed] == [row[:5] for row in events(recorded.path / "recorded.db")]
    assert [row[5] for row in replayed] == [1, 1, 1]
    assert {row[0] for row in replayed} == {"test_user.py::test_chat", "test_user.py::test_chat_stream",
                                            "test_user.py::test_async_anthropic"}
    plain = recorded.runpytest_subprocess("--record-mode=none", "-p", "no:cacheprovider")
    plain.assert_outcomes(passed=3)
