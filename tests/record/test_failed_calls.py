"""Failed model calls keep the model they asked for and cost $0, not "unknown"; the reports name
the models whose price is unknown.

A call that failed (a 429, a timeout, a connection error) brought back no usage: nothing was
billed, so it is a failure, not a call of unknown price. "Unknown cost" is kept for successful
calls whose model has no price (or whose result carried no usage), and the reports say which.
Tested with the real openai and anthropic SDKs against the local fake server.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys

import anthropic
import openai
import pydantic
import pytest

from dev_system.ops.telemetry import annotate, configure, telemetry_decorator
from dev_system.record.instrument import instrument
from fakes.fake_llm_server import (  # noqa: F401  (fixtures)
    anthropic_client,
    anthropic_error,
    async_openai_client,
    chat_completion,
    llm,
    llm_server,
    openai_client,
    openai_error,
)

MESSAGES = [{"role": "user", "content": "Say hello"}]
CLAUDE = "claude-haiku-4-5"
UNPRICED = "my-private-model-x7"


def dev_system(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "dev_system", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1), done.stderr  # 1: an alert fired (a low success rate)
    return done.stdout


def metrics_json(db, *args: str) -> dict:
    return json.loads(dev_system("metrics", "--db", str(db), "--period", "all", "--format", "json", *args))


# --- failed instrumented calls -------------------------------------------------------------------


def test_failed_instrumented_calls_keep_the_model_and_cost_nothing(on, openai_client, anthropic_client, llm):
    llm.push(status=429, body=openai_error())
    llm.push(delay=0.5)
    llm.push(status=429, body=anthropic_error())
    with pytest.raises(openai.RateLimitError):
        openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    slow = openai.OpenAI(base_url=llm.url + "/v1", api_key="sk-test", max_retries=0, timeout=0.05)
    with pytest.raises(openai.APITimeoutError):
        slow.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    with pytest.raises(anthropic.RateLimitError):
        anthropic_client.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES)
    openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # one success

    events = on.events()
    failed = [e for e in events if not e.success]
    assert [(e.error_type, e.model) for e in failed] == [
        ("RateLimitError", "gpt-4o-mini"), ("APITimeoutError", "gpt-4o-mini"), ("RateLimitError", CLAUDE)]
    assert all((e.input_tokens, e.output_tokens, e.cost_usd) == (0, 0, 0.0) for e in failed)

    report = metrics_json(on.db_path)
    assert report["failed_calls"] == 3
    assert report["cost_usd"]["unknown_cost_events"] == 0
    text = dev_system("metrics", "--db", str(on.db_path), "--period", "all")
    assert "Unknown Cost" not in text and "Failed Calls: 3" in text
    # per-model success rates count the failures under their model, none under "(none)"
    rows = {row["key"]: row for row in metrics_json(on.db_path, "--by", "model")["breakdown"]["rows"]}
    assert set(rows) == {"gpt-4o-mini", CLAUDE}
    assert (rows["gpt-4o-mini"]["calls"], rows["gpt-4o-mini"]["successes"]) == (3, 1)
    assert rows[CLAUDE]["success_rate"] == 0.0


def test_a_failed_instrumented_call_keeps_the_model_without_argument_capture(recording, openai_client, llm):
    """The model comes from the call's own ``model`` argument, not from the captured arguments."""
    configure(enabled=True, db_path=recording.db_path, sync=True, capture_args=False)
    instrument()
    llm.push(status=429, body=openai_error())
    with pytest.raises(openai.RateLimitError):
        openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    [event] = recording.events()
    assert (event.success, event.model, event.metadata and "args" in event.metadata) == (False, "gpt-4o-mini", False)


def test_a_failed_anthropic_stream_helper_keeps_the_model(on, anthropic_client, llm):
    llm.push(status=529, body=anthropic_error("Overloaded", "overloaded_error"))
    with pytest.raises(anthropic.APIStatusError):
        with anthropic_client.messages.stream(model=CLAUDE, max_tokens=64, messages=MESSAGES):
            pass
    [event] = on.events()
    assert (event.success, event.model, event.cost_usd) == (False, CLAUDE, 0.0)


# --- refused before sending, failed after a reply -------------------------------------------------


class Answer(pydantic.BaseModel):
    city: str


def test_openai_calls_refused_before_sending_are_not_calls(on, openai_client, async_openai_client, llm):
    """A call the SDK refuses before building any request (a missing argument) reached no
    provider: no event. The same error class raised after a reply (``parse()`` of a reply that
    is not the JSON asked for) is a failed call."""
    with pytest.raises(TypeError):
        openai_client.chat.completions.create(model="gpt-4o-mini")
    with pytest.raises(TypeError):
        asyncio.run(async_openai_client.chat.completions.create(model="gpt-4o-mini"))
    assert (on.events(), llm.requests) == ([], [])
    with pytest.raises(ValueError):  # pydantic's ValidationError: "Hello!" is no JSON
        openai_client.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Answer)
    [event] = on.events()
    assert (len(llm.requests), event.function_name, event.success, event.model) == (
        1, "openai.chat.completions.parse", False, "gpt-4o-mini")


def test_anthropic_calls_refused_before_sending_are_not_calls(on, llm):
    """The Anthropic SDK refuses a non-streamed call whose ``max_tokens`` may take longer than
    its default timeout ("Streaming is required ...", a ValueError) before sending it: no
    event. A ValueError raised by ``parse()`` after the reply came is a failed call."""
    client = anthropic.Anthropic(base_url=llm.url, api_key="sk-ant-test", max_retries=0)  # the default timeout
    with pytest.raises(ValueError, match="Streaming is required"):
        client.messages.create(model=CLAUDE, max_tokens=100_000, messages=MESSAGES)
    with pytest.raises(ValueError, match="Streaming is required"):
        client.messages.with_raw_response.create(model=CLAUDE, max_tokens=100_000, messages=MESSAGES)
    with pytest.raises(TypeError):
        asyncio.run(anthropic.AsyncAnthropic(base_url=llm.url, api_key="sk-ant-test").messages.create(model=CLAUDE))
    assert (on.events(), llm.requests) == ([], [])
    with pytest.raises(ValueError):  # "Hello!" is no JSON
        client.messages.parse(model=CLAUDE, max_tokens=64, messages=MESSAGES, output_format=Answer)
    [event] = on.events()
    assert (len(llm.requests), event.function_name, event.success, event.model) == (
        1, "anthropic.messages.parse", False, CLAUDE)
    client.close()


def test_a_refused_call_inside_a_decorated_call_leaves_one_event(on, anthropic_client, llm):
    """A refused call made inside a decorated function records nothing; the enclosing event stays."""
    @telemetry_decorator(agent_name="writer", event_type="tool_call")
    def write():
        with pytest.raises(TypeError):
            anthropic_client.messages.create(model=CLAUDE, messages=MESSAGES)
        return anthropic_client.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES)

    write()
    events = on.events()
    assert [(e.function_name, e.success, e.input_tokens) for e in events] == [
        ("anthropic.messages.create", True, 25), ("write", True, 0)]
    assert len(llm.requests) == 1


# --- failed decorated calls ----------------------------------------------------------------------


def test_a_failed_decorated_model_call_keeps_its_model_when_known(recording):
    configure(enabled=True, db_path=recording.db_path, sync=True)

    @telemetry_decorator(agent_name="writer", event_type="model_call")
    def ask(prompt: str, model: str):
        raise TimeoutError("the provider did not answer")

    @telemetry_decorator(agent_name="writer", event_type="model_call")
    def annotated(prompt: str):
        annotate(model="claude-sonnet-4-5")
        raise ConnectionError("reset")

    @telemetry_decorator(agent_name="writer", event_type="model_call")
    def anonymous(prompt: str):
        raise ValueError("bad prompt")

    with pytest.raises(TimeoutError):
        ask("hi", model="gpt-4o")
    with pytest.raises(ConnectionError):
        annotated("hi")
    with pytest.raises(ValueError):
        anonymous("hi")
    events = recording.events()
    assert [e.model for e in events] == ["gpt-4o", "claude-sonnet-4-5", None]
    assert all((e.success, e.input_tokens, e.output_tokens, e.cost_usd) == (False, 0, 0, 0.0) for e in events)
    assert "model" not in events[1].metadata_dict  # annotate's model went to the column
    assert metrics_json(recording.db_path)["cost_usd"]["unknown_cost_events"] == 0


def test_a_failed_decorated_generator_keeps_the_model_of_its_argument(recording):
    configure(enabled=True, db_path=recording.db_path, sync=True)

    @telemetry_decorator(agent_name="writer", event_type="model_call")
    def stream(model: str):
        yield "partial"
        raise TimeoutError("stream stalled")

    with pytest.raises(TimeoutError):
        list(stream("gpt-4o-mini"))
    [event] = recording.events()
    assert (event.model, event.cost_usd, event.input_tokens) == ("gpt-4o-mini", 0.0, 0)


# --- unknown cost, and which models --------------------------------------------------------------


def test_the_reports_name_the_models_without_a_price(on, openai_client, llm):
    llm.push(body=chat_completion(model=UNPRICED))
    llm.push(body=chat_completion(model=UNPRICED))
    openai_client.chat.completions.create(model=UNPRICED, messages=MESSAGES)
    openai_client.chat.completions.create(model=UNPRICED, messages=MESSAGES)
    openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    @telemetry_decorator(agent_name="writer", event_type="model_call")
    def no_usage(prompt: str):
        return prompt.upper()  # a result without a usage: its cost is unknown

    no_usage("hi")
    text = dev_system("metrics", "--db", str(on.db_path), "--period", "all")
    lines = text.splitlines()
    at = lines.index("Unknown Cost: 3 events (not in the total)")
    assert lines[at + 1:at + 3] == [f"  no price for {UNPRICED}: 2 events", "  no usage reported: 1 event"]
    report = metrics_json(on.db_path)
    assert report["cost_usd"]["unknown_cost_events"] == 3
    assert report["cost_usd"]["unpriced_models"] == {UNPRICED: 2}
    assert report["cost_usd"]["unknown_cost_without_usage"] == 1
    markdown = dev_system("metrics", "--db", str(on.db_path), "--period", "all", "--format", "markdown")
    assert f"no price for {UNPRICED}" in markdown


USER_TEST = f'''
import openai
import pydantic
import pytest

client = openai.OpenAI(base_url=URL + "/v1", api_key="sk-test", max_retries=0, timeout=5.0)


def test_unpriced():
    client.chat.completions.create(model="{UNPRICED}", messages=[{{"role": "user", "content": "hi"}}])


def test_rate_limited():
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{{"role": "user", "content": "hi"}}])
'''


def test_the_pytest_summary_names_the_unpriced_models_and_not_the_failures(pytester: pytest.Pytester,
                                                                             llm) -> None:
    llm.push(body=chat_completion(model=UNPRICED))
    llm.push(status=429, body=openai_error())
    pytester.makepyfile(test_user=f"URL = {llm.url!r}\n" + USER_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--telemetry",
                                           "--telemetry-db=t.db", "--telemetry-instrument=openai",
                                           "--telemetry-json=run.json", "--junitxml=junit.xml")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["Unknown Cost: 1 event (not in the total)", f"  no price for {UNPRICED}: 1 event",
                                 "Failed Calls: 1", "  RateLimitError: 1"])
    with sqlite3.connect(pytester.path / "t.db") as conn:
        rows = conn.execute("SELECT trace_id, model, success, cost_usd FROM telemetry_events ORDER BY id").fetchall()
    assert rows == [("test_user.py::test_unpriced", UNPRICED, 1, None),
                    ("test_user.py::test_rate_limited", "gpt-4o-mini", 0, 0.0)]
    summary = json.loads((pytester.path / "run.json").read_text())["summary"]
    assert summary["cost_usd"]["unpriced_models"] == {UNPRICED: 1}
    tests = {t["nodeid"]: t for t in json.loads((pytester.path / "run.json").read_text())["tests"]}
    assert tests["test_user.py::test_rate_limited"]["unknown_cost"] == 0
    quiet = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "--telemetry", "--telemetry-db=q.db",
                                          "--telemetry-instrument=openai", "test_user.py::test_unpriced")
    quiet.stdout.fnmatch_lines([f"telemetry: 1 event, *1 of unknown cost (no price for {UNPRICED})*"])


# --- the demo's first screen ---------------------------------------------------------------------


def test_the_demos_failures_are_failures_not_unknown_cost(tmp_path):
    db = tmp_path / "demo.db"
    done = subprocess.run([sys.executable, "-m", "dev_system.examples.example_integration", "--db", str(db),
                           "--calls", "40", "--seed", "1", "--time-scale", "0", "--error-rate", "8",
                           "--days", "2", "--turns-per-day", "40", "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        failed = conn.execute("SELECT model, cost_usd, input_tokens FROM telemetry_events"
                              " WHERE event_type = 'model_call' AND success = 0").fetchall()
    assert len(failed) >= 5
    assert all(model and cost == 0.0 and tokens == 0 for model, cost, tokens in failed)
    screen = dev_system("metrics", "--db", str(db), "--period", "all")
    assert "Unknown Cost" not in screen
    assert "RateLimitError" in screen and "APITimeoutError" in screen
