"""LiteLLM recorded through its own callback API (``--telemetry-instrument=litellm``), with the
real ``litellm`` against the fake provider server: the OpenAI and Anthropic routes, sync, async
and streamed, failures, and no double count when the SDK instrumentation is on as well (LiteLLM
sends embeddings through the ``openai`` SDK). One event per request the server answered, with
its tokens, model and genai-prices cost, under the test that made it, alone and with ``-n 2``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from framework_runs import check_recorded, node_by_marker, price, require, rows

from dev_system.ops.telemetry import configure
from dev_system.record.instrument import instrument, uninstrument
from dev_system.record.settle import settle_pending_calls
from fakes.fake_llm_server import Reply, anthropic_events, openai_error

# LiteLLM fetches its own price list from the network when imported, unless told not to.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
require("litellm")

ALL = ("--telemetry", "--telemetry-db=t.db", "--telemetry-instrument=openai,anthropic,litellm")
MODES = {"telemetry": ALL, "xdist": (*ALL, "-n", "2"), "plain": ()}

PREAMBLE = '''
import asyncio, os
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm

URL = os.environ["FAKE_LLM_URL"]
GPT, CLAUDE = "openai/gpt-4o-mini", "anthropic/claude-haiku-4-5-20251001"
ROUTES = {GPT: {"api_base": URL + "/v1", "api_key": "sk-test", "max_retries": 0},
          CLAUDE: {"api_base": URL, "api_key": "sk-ant-test", "max_retries": 0}}


def ask(name, model, **options):
    messages = [{"role": "user", "content": f"[{name}] hi"}]
    return litellm.completion(model=model, messages=messages, **ROUTES[model], **options)


def aask(name, model, **options):
    messages = [{"role": "user", "content": f"[{name}] hi"}]
    return litellm.acompletion(model=model, messages=messages, **ROUTES[model], **options)


STREAM = {"stream": True, "stream_options": {"include_usage": True}}
'''

CALLS = PREAMBLE + '''

def test_openai_sync():
    response = ask("test_openai_sync", GPT)
    assert (response.choices[0].message.content, response.usage.prompt_tokens) == ("Hello!", 42)


def test_anthropic_sync():
    response = ask("test_anthropic_sync", CLAUDE)
    assert (response.choices[0].message.content, response.usage.completion_tokens) == ("Hello!", 12)


def test_openai_async():
    response = asyncio.run(aask("test_openai_async", GPT))
    assert response.usage.completion_tokens == 7


def test_anthropic_async():
    response = asyncio.run(aask("test_anthropic_async", CLAUDE))
    assert response.usage.prompt_tokens == 25


def _consume(name, model):
    async def run():
        return [chunk async for chunk in await aask(name, model, **STREAM)]

    return asyncio.run(run())


def test_openai_async_stream():
    assert _consume("test_openai_async_stream", GPT)


def test_anthropic_async_stream():
    assert _consume("test_anthropic_async_stream", CLAUDE)
'''

SYNC_STREAMS = PREAMBLE + '''

def test_openai_stream():
    text = "".join(chunk.choices[0].delta.content or "" for chunk in ask("test_openai_stream", GPT, **STREAM)
                   if chunk.choices)
    assert text == "Hello!"


def test_anthropic_stream():
    text = "".join(chunk.choices[0].delta.content or "" for chunk in ask("test_anthropic_stream", CLAUDE, **STREAM)
                   if chunk.choices)
    assert text == "Hello!"
'''

SYNC_STREAM_FIGURES = PREAMBLE + '''
import pytest

ROUNDS = range(10)
SENT = {GPT: (42, 7), CLAUDE: (25, 12)}


def read(name, model):
    return "".join(chunk.choices[0].delta.content or "" for chunk in ask(name, model, **STREAM) if chunk.choices)


@pytest.mark.parametrize("model", [GPT, CLAUDE])
@pytest.mark.parametrize("round", ROUNDS)
def test_fixture(telemetry, model, round):
    assert read("test_fixture", model) == "Hello!"
    assert (telemetry.calls, telemetry.input_tokens, telemetry.output_tokens) == (1, *SENT[model])


@pytest.mark.telemetry_budget(max_calls=0)
@pytest.mark.parametrize("round", ROUNDS)
def test_calls_budget(round):
    assert read("test_calls_budget", GPT) == "Hello!"


@pytest.mark.telemetry_budget(max_tokens=36)
@pytest.mark.parametrize("round", ROUNDS)
def test_tokens_budget(round):
    assert read("test_tokens_budget", CLAUDE) == "Hello!"
'''

OTHERS = PREAMBLE + '''
import pytest


def test_openai_failure():
    with pytest.raises(litellm.RateLimitError):
        ask("test_openai_failure", GPT)


def test_anthropic_failure():
    with pytest.raises(litellm.RateLimitError):
        asyncio.run(aask("test_anthropic_failure", CLAUDE))


def test_embedding():
    response = litellm.embedding(model="openai/text-embedding-3-small", input=["[test_embedding] hi"],
                                 **ROUTES[GPT])
    assert response.usage.prompt_tokens == 8


def test_figures_are_there_when_the_call_returns(telemetry):
    ask("test_figures_are_there_when_the_call_returns", GPT)
    assert (telemetry.calls, telemetry.input_tokens, telemetry.output_tokens) == (1, 42, 7)
'''


def _answers(path: str, request: dict) -> Reply | None:
    """A 429 for the failure tests; an Anthropic stream with one ``message_delta``, as the API sends it."""
    text = str(request)
    if "test_openai_failure" in text:
        return Reply(status=429, body=openai_error())
    if "test_anthropic_failure" in text:
        return Reply(status=429, body={"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    if path.endswith("/messages") and request.get("stream"):
        return Reply(sse=anthropic_events(request["model"], output_deltas=(12,)))
    return None


def _run(pytester: pytest.Pytester, llm, monkeypatch, mode: str, module: str, source: str) -> pytest.RunResult:
    monkeypatch.setenv("FAKE_LLM_URL", llm.url)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    llm.respond_with(_answers)
    pytester.makepyfile(**{module: source})
    return pytester.runpytest_subprocess(*MODES[mode])


@pytest.mark.parametrize("mode", ["telemetry", "xdist", "plain"])
def test_litellm_calls_are_recorded_once_per_request(pytester: pytest.Pytester, llm, monkeypatch, mode) -> None:
    result = _run(pytester, llm, monkeypatch, mode, "test_calls", CALLS)
    result.assert_outcomes(passed=6)
    assert len(llm.requests) == 6
    if mode == "plain":
        assert not (pytester.path / "t.db").exists()
        return
    check_recorded(pytester.path / "t.db", llm.requests, node_by_marker("test_calls.py"))
    names = rows(pytester.path / "t.db", "SELECT function_name, count(*) FROM telemetry_events GROUP BY 1")
    assert sorted(names) == [("litellm.acompletion", 4), ("litellm.completion", 2)]


@pytest.mark.parametrize("mode", ["telemetry", "xdist"])
def test_litellm_failures_and_embeddings(pytester: pytest.Pytester, llm, monkeypatch, mode) -> None:
    result = _run(pytester, llm, monkeypatch, mode, "test_others", OTHERS)
    result.assert_outcomes(passed=4)
    assert len(llm.requests) == 4  # no retry hides a request
    events = rows(pytester.path / "t.db", "SELECT trace_id, function_name, success, error_type, input_tokens,"
                                          " output_tokens, model, cost_usd FROM telemetry_events ORDER BY trace_id")
    node = "test_others.py::"
    embedding_cost = price("openai", "text-embedding-3-small", 8, 0)
    chat_cost = price("openai", "gpt-4o-mini", 42, 7)
    assert [row[:6] for row in events] == [
        (node + "test_anthropic_failure", "litellm.acompletion", 0, "RateLimitError", 0, 0),
        (node + "test_embedding", "litellm.embedding", 1, None, 8, 0),
        (node + "test_figures_are_there_when_the_call_returns", "litellm.completion", 1, None, 42, 7),
        (node + "test_openai_failure", "litellm.completion", 0, "RateLimitError", 0, 0),
    ]
    assert events[1][6:] == ("text-embedding-3-small", pytest.approx(embedding_cost))
    assert events[2][6:] == ("gpt-4o-mini", pytest.approx(chat_cost))


@pytest.mark.parametrize("mode", ["telemetry", "xdist"])
def test_litellm_sync_streams_are_stored_under_their_test(pytester: pytest.Pytester, llm, monkeypatch, mode) -> None:
    """LiteLLM runs a sync stream's success hook on its logging thread after the last chunk: the
    event is stored under the test that made the call (its trace), with the stream's figures."""
    result = _run(pytester, llm, monkeypatch, mode, "test_streams", SYNC_STREAMS)
    result.assert_outcomes(passed=2)
    assert len(llm.requests) == 2
    events = rows(pytester.path / "t.db", "SELECT trace_id, function_name, input_tokens, output_tokens, model,"
                                          " cost_usd FROM telemetry_events ORDER BY trace_id")
    assert events == [
        ("test_streams.py::test_anthropic_stream", "litellm.completion", 25, 12, "claude-haiku-4-5-20251001",
         pytest.approx(price("anthropic", "claude-haiku-4-5-20251001", 25, 12))),
        ("test_streams.py::test_openai_stream", "litellm.completion", 42, 7, "gpt-4o-mini",
         pytest.approx(price("openai", "gpt-4o-mini", 42, 7))),
    ]


@pytest.mark.parametrize("mode", ["telemetry", "xdist"])
def test_a_tests_figures_include_its_sync_streams(pytester: pytest.Pytester, llm, monkeypatch, mode) -> None:
    """LiteLLM ends a sync stream on its logging thread after the last chunk; the test's figures
    wait for it: the fixture, the budgets (failing in the call phase, not later in teardown) and
    the stored per-test totals all count the stream, in every one of many tests."""
    result = _run(pytester, llm, monkeypatch, mode, "test_figures", SYNC_STREAM_FIGURES)
    result.assert_outcomes(passed=20, failed=20)
    assert len(llm.requests) == 40
    # The failures' own sections (the short summary repeats them in full when CI is set).
    output = "\n".join(line for line in result.outlines if not line.startswith("FAILED "))
    assert output.count("telemetry budget exceeded: calls 1 > max_calls 0 (over by 1)") == 10
    assert output.count("telemetry budget exceeded: tokens 37 > max_tokens 36 (over by 1)") == 10
    totals = rows(pytester.path / "t.db", "SELECT nodeid, events, input_tokens, output_tokens FROM test_results")
    assert len(totals) == 40
    for nodeid, events, input_tokens, output_tokens in totals:
        sent = (25, 12) if "claude" in nodeid or "tokens_budget" in nodeid else (42, 7)
        assert (events, input_tokens, output_tokens) == (1, *sent), nodeid


@pytest.fixture
def litellm_on(recording, llm):
    """In this process: telemetry on (stored at once), LiteLLM instrumented; ``ask`` streams."""
    import litellm

    configure(enabled=True, db_path=recording.db_path, sync=True)
    assert instrument("litellm") == ["litellm"]
    llm.respond_with(_answers)

    def ask():
        return litellm.completion(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                  api_base=llm.url + "/v1", api_key="sk-test", max_retries=0, stream=True,
                                  stream_options={"include_usage": True})

    yield ask
    uninstrument()


def test_a_stream_still_being_read_is_not_waited_for(litellm_on, recording) -> None:
    stream = litellm_on()
    next(stream)
    assert settle_pending_calls(60) is True  # at once: its caller has not finished reading it
    assert recording.events() == []
    assert [chunk for chunk in stream]
    assert settle_pending_calls(60) is True
    assert [(e.input_tokens, e.output_tokens) for e in recording.events()] == [(42, 7)]


def test_a_stream_closed_before_its_end_is_waited_for_once(litellm_on, recording) -> None:
    """LiteLLM sends no hook for a stream closed early: the wait for it ends at its bound, and
    the next wait does not wait for it again."""
    stream = litellm_on()
    next(stream)
    stream.close()
    assert settle_pending_calls(0.2) is False
    assert settle_pending_calls(60) is True
    assert recording.events() == []


def test_instrument_and_uninstrument_add_and_remove_the_callback(llm, monkeypatch) -> None:
    """In a fresh interpreter: nothing imports litellm until the user's code does; then the
    handler is in LiteLLM's callbacks, and uninstrument() takes it out of every list."""
    code = '''
import sys
from dev_system.record.instrument import instrument, instrumented, uninstrument
assert instrument("litellm") == ["litellm"] and "litellm" not in sys.modules
assert instrumented() == ["litellm"]
import litellm
from dev_system.record.instrument import litellm as ours
handler = ours._handler
assert handler is not None and handler in litellm.callbacks
assert instrument("litellm") == ["litellm"] and ours._handler is handler  # twice: added once
assert uninstrument("litellm") == ["litellm"] and instrumented() == []
lists = [v for v in vars(litellm).values() if isinstance(v, list)]
assert not any(item is handler for items in lists for item in items)
assert instrument("litellm") == ["litellm"] and ours._handler in litellm.callbacks  # once imported: at once
uninstrument()
assert instrumented() == []
print("ok")
'''
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")
