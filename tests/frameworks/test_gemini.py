"""google-genai (Gemini) through the zero-code instrumentation, with the real SDK against the local
fake Gemini server (tests/fakes/fake_gemini.py): every HTTP request the server answered is one
event with the tokens it sent, the answered model and the genai-prices cost."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sqlite3
from pathlib import Path

import pytest

if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    import google.genai  # noqa: F401  (CI installs the frameworks extra: a missing SDK fails, never skips)
else:
    pytest.importorskip("google.genai", reason="google-genai is not installed (pip install -e '.[frameworks]')")

import genai_prices
from google.genai import errors, types

from dev_system.ops.telemetry import configure, telemetry_decorator
from dev_system.record.instrument import instrument, instrumented, provider_name, uninstrument
from fakes.fake_gemini import (  # noqa: F401  (fixtures)
    gemini,
    gemini_chunks,
    gemini_client,
    gemini_error,
    gemini_response,
    gemini_server,
    usage_metadata,
)

FLASH = "gemini-2.5-flash"


@pytest.fixture(autouse=True)
def _uninstrumented():
    uninstrument()
    yield
    uninstrument()


@pytest.fixture
def on(recording):
    configure(enabled=True, db_path=recording.db_path, sync=True)
    assert instrument("google-genai") == ["google-genai"]
    return recording


def price(model: str, input_tokens: int, output_tokens: int, cached: int = 0) -> float:
    """The cost genai-prices gives for a Gemini usage, computed here without the project's code."""
    usage = genai_prices.Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached)
    cost = float(genai_prices.calc_price(usage, model_ref=model, provider_id="google").total_price)
    assert cost > 0
    return cost


def _only(recording):
    events = recording.events()
    assert len(events) == 1, events
    return events[0]


def _check(event, function_name, input_tokens, output_tokens, model=FLASH, cached=0):
    assert event.event_type == "model_call" and event.success
    assert event.function_name == function_name
    assert (event.input_tokens, event.output_tokens, event.model) == (input_tokens, output_tokens, model)
    assert event.cost_usd == pytest.approx(price(model, input_tokens, output_tokens, cached), rel=1e-12)
    metadata = json.loads(event.metadata)
    assert metadata["provider"] == "gemini" and metadata["instrumented"] is True


# --- the calls -------------------------------------------------------------------------------


def test_generate_content_records_prompt_candidates_cached_and_thought_tokens(on, gemini, gemini_client):
    gemini.push(body=gemini_response(FLASH, prompt=1200, candidates=80, cached=1000, thoughts=40))
    response = gemini_client.models.generate_content(model=FLASH, contents="Say hello")
    assert response.text == "Hello!"
    event = _only(on)
    # input: the prompt count (cached content included); output: candidates + thoughts
    _check(event, "google.genai.models.generate_content", 1200, 120, cached=1000)
    assert json.loads(event.metadata)["usage"] == {"provider": "google", "cached_input_tokens": 1000, "reasoning_tokens": 40}
    assert len(gemini.requests) == 1


def test_tool_use_prompt_tokens_count_as_input(on, gemini, gemini_client):
    gemini.push(body=gemini_response(FLASH, prompt=100, candidates=10, tool_use_prompt=300))
    gemini_client.models.generate_content(model=FLASH, contents="Search")
    _check(_only(on), "google.genai.models.generate_content", 400, 10)


def test_generate_content_stream_takes_the_last_usage_and_the_answered_model(on, gemini, gemini_client):
    gemini.push(chunks=gemini_chunks("gemini-2.0-flash", prompt=50, candidates=30, thoughts=12))
    pieces = [chunk.text for chunk in gemini_client.models.generate_content_stream(model=FLASH, contents="hi")]
    assert pieces == ["Hel", "lo", "!"]
    event = _only(on)
    _check(event, "google.genai.models.generate_content_stream", 50, 42, model="gemini-2.0-flash")
    assert "closed_early" not in json.loads(event.metadata)


def test_async_generate_content_and_stream(on, gemini, gemini_client):
    async def main():
        response = await gemini_client.aio.models.generate_content(model=FLASH, contents="hi")
        pieces = [chunk.text async for chunk in await gemini_client.aio.models.generate_content_stream(
            model=FLASH, contents="hi")]
        return response.text, pieces

    assert asyncio.run(main()) == ("Hello!", ["Hel", "lo", "!"])
    events = on.recorded = on.events()
    assert [e.function_name for e in events] == ["google.genai.models.generate_content",
                                                 "google.genai.models.generate_content_stream"]
    for event in events:
        _check(event, event.function_name, 31, 9)
    assert len(gemini.requests) == 2


def test_a_chat_records_one_event_per_request(on, gemini, gemini_client):
    chat = gemini_client.chats.create(model=FLASH)
    chat.send_message("one")
    list(chat.send_message_stream("two"))
    assert len(gemini.requests) == 2
    assert [e.function_name for e in on.events()] == ["google.genai.models.generate_content",
                                                      "google.genai.models.generate_content_stream"]


def test_automatic_function_calling_records_every_request(on, gemini, gemini_client):
    def get_weather(city: str) -> str:
        """The weather of a city."""
        return "sunny"

    call = gemini_response(FLASH, prompt=20, candidates=5)
    call["candidates"][0]["content"]["parts"] = [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]
    gemini.push(body=call)
    gemini.push(body=gemini_response(FLASH, prompt=40, candidates=8))
    response = gemini_client.models.generate_content(
        model=FLASH, contents="Weather in Paris?", config=types.GenerateContentConfig(tools=[get_weather]))
    assert response.text == "Hello!"
    assert len(gemini.requests) == 2
    events = on.events()
    assert [(e.input_tokens, e.output_tokens) for e in events] == [(20, 5), (40, 8)]
    assert sum(e.cost_usd for e in events) == pytest.approx(price(FLASH, 20, 5) + price(FLASH, 40, 8))


def test_the_requested_model_is_used_when_the_answer_names_none(on, gemini, gemini_client):
    body = gemini_response(FLASH, prompt=10, candidates=2)
    del body["modelVersion"]
    gemini.push(body=body)
    gemini_client.models.generate_content(model="models/gemini-2.5-flash", contents="hi")
    _check(_only(on), "google.genai.models.generate_content", 10, 2)


def test_a_raw_http_response_is_read_for_its_usage(on, gemini, gemini_client):
    gemini.push(body=gemini_response(FLASH, prompt=12, candidates=3))
    raw = gemini_client.models.generate_content(
        model=FLASH, contents="hi", config=types.GenerateContentConfig(should_return_http_response=True))
    assert raw.usage_metadata is None and raw.sdk_http_response.body
    _check(_only(on), "google.genai.models.generate_content", 12, 3)


# --- failures, early ends --------------------------------------------------------------------


@pytest.mark.parametrize("status, error_class", [(429, errors.ClientError), (503, errors.ServerError)])
def test_http_errors_are_recorded_failed_with_the_model_and_reraised(on, gemini, gemini_client, status, error_class):
    gemini.push(status=status, body=gemini_error(status))
    with pytest.raises(error_class) as raised:
        gemini_client.models.generate_content(model=FLASH, contents="hi")
    assert raised.value.code == status
    event = _only(on)
    assert not event.success and event.error_type == error_class.__name__
    assert event.model == FLASH  # the requested model
    assert not event.input_tokens and not event.output_tokens and not event.cost_usd  # nothing billed


def test_failed_streams_sync_and_async(on, gemini, gemini_client):
    gemini.push(status=429, body=gemini_error())
    with pytest.raises(errors.ClientError):
        list(gemini_client.models.generate_content_stream(model=FLASH, contents="hi"))

    async def main():
        gemini.push(status=500, body=gemini_error(500, "internal", "INTERNAL"))
        with pytest.raises(errors.ServerError):
            async for _ in await gemini_client.aio.models.generate_content_stream(model=FLASH, contents="hi"):
                pass

    asyncio.run(main())
    events = on.events()
    assert [(e.success, e.error_type, e.model) for e in events] == [(False, "ClientError", FLASH),
                                                                    (False, "ServerError", FLASH)]


def test_a_stream_left_early_is_recorded_once_as_closed_early(on, gemini, gemini_client):
    stream = gemini_client.models.generate_content_stream(model=FLASH, contents="hi")
    assert next(iter(stream)).text == "Hel"
    stream.close()
    del stream
    gc.collect()
    event = _only(on)
    assert event.success and json.loads(event.metadata).get("closed_early") is True
    assert event.model == FLASH and event.input_tokens == 31  # the usage of the chunks read


def test_an_async_stream_left_early_is_recorded_once_as_closed_early(on, gemini, gemini_client):
    async def main():
        async for chunk in await gemini_client.aio.models.generate_content_stream(model=FLASH, contents="hi"):
            return chunk.text

    assert asyncio.run(main()) == "Hel"
    gc.collect()
    event = _only(on)
    assert event.success and json.loads(event.metadata).get("closed_early") is True
    assert event.model == FLASH


def test_a_stream_never_iterated_records_nothing(on, gemini, gemini_client):
    gemini_client.models.generate_content_stream(model=FLASH, contents="hi")
    gc.collect()
    assert on.events() == [] and gemini.requests == []


# --- instrumenting ---------------------------------------------------------------------------


def test_names_aliases_and_restoring(recording, gemini, gemini_client):
    from google.genai.models import AsyncModels, Models

    originals = (Models.__dict__["_generate_content"], AsyncModels.__dict__["_generate_content_stream"])
    assert provider_name("gemini") == "google-genai"
    configure(enabled=True, db_path=recording.db_path, sync=True)
    assert instrument("gemini") == ["google-genai"] and instrument("google-genai") == ["google-genai"]
    assert instrumented() == ["google-genai"]
    gemini_client.models.generate_content(model=FLASH, contents="hi")
    assert uninstrument("gemini") == ["google-genai"] and instrumented() == []
    assert (Models.__dict__["_generate_content"], AsyncModels.__dict__["_generate_content_stream"]) == originals
    gemini_client.models.generate_content(model=FLASH, contents="hi")
    assert len(recording.events()) == 1
    with pytest.raises(ValueError, match="unknown provider 'gemeni'"):
        instrument("gemeni")


def test_the_sdk_and_our_module_are_imported_only_when_asked():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from dev_system.ops.instrument import instrument, instrumented, uninstrument\n"
        "import dev_system.ops.instrument.google_genai\n"
        "assert 'google.genai' not in sys.modules\n"
        "instrument('openai'); uninstrument(); instrumented()\n"
        "assert 'google.genai' not in sys.modules, 'imported without being asked'\n"
        "assert instrument('gemini') == ['google-genai'] and 'google.genai' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_with_telemetry_off_calls_pass_through_unrecorded(recording, gemini, gemini_client):
    instrument("google-genai")
    configure(enabled=False)
    gemini_client.models.generate_content(model=FLASH, contents="hi")
    list(gemini_client.models.generate_content_stream(model=FLASH, contents="hi"))
    configure(enabled=True, db_path=recording.db_path, sync=True)
    assert recording.events() == []


def test_a_call_inside_a_decorated_function_joins_its_trace(on, gemini, gemini_client):
    @telemetry_decorator(agent_name="writer", event_type="tool_call")
    def write():
        return gemini_client.models.generate_content(model=FLASH, contents="hi").text

    assert write() == "Hello!"
    outer, inner = sorted(on.events(), key=lambda e: e.event_type == "model_call")
    assert inner.trace_id == outer.trace_id and inner.parent_span_id == outer.span_id


# --- under pytest --telemetry ----------------------------------------------------------------

USER_TESTS = '''
import asyncio
from google import genai
from google.genai import types

URL = "{url}"


def client():
    options = types.HttpOptions(base_url=URL, timeout=5_000, retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key="gemini-test-key", http_options=options)


def test_sync():
    assert client().models.generate_content(model="gemini-2.5-flash", contents="hi").text == "Hello!"


def test_stream():
    c = client()  # kept: a dropped client closes its connection
    assert [x.text for x in c.models.generate_content_stream(model="gemini-2.5-flash", contents="hi")] \\
        == ["Hel", "lo", "!"]


def test_async():
    async def main():
        c = client()
        await c.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
        return [x.text async for x in await c.aio.models.generate_content_stream(model="gemini-2.5-flash",
                                                                                   contents="hi")]

    assert asyncio.run(main()) == ["Hel", "lo", "!"]
'''


@pytest.mark.parametrize("workers", [[], ["-p", "xdist", "-n", "2"]], ids=["one-process", "xdist"])
def test_under_pytest_telemetry_each_call_is_attributed_to_its_test(pytester: pytest.Pytester, gemini, workers):
    pytester.makefile(".toml", pyproject="[tool.dev-system]\n")
    pytester.makepyfile(test_user=USER_TESTS.format(url=gemini.url))
    result = pytester.runpytest_subprocess("--telemetry", "--telemetry-db=t.db", "--telemetry-instrument=gemini",
                                           *workers)
    result.assert_outcomes(passed=3)
    with sqlite3.connect(Path(pytester.path) / "t.db") as conn:
        rows = conn.execute("SELECT trace_id, function_name, input_tokens, output_tokens, model, cost_usd"
                            " FROM telemetry_events ORDER BY trace_id, id").fetchall()
    cost = price(FLASH, 31, 9)
    generate, stream = "google.genai.models.generate_content", "google.genai.models.generate_content_stream"
    expected = [("test_user.py::test_async", generate), ("test_user.py::test_async", stream),
                ("test_user.py::test_stream", stream), ("test_user.py::test_sync", generate)]
    assert [(r[0], r[1]) for r in rows] == expected
    assert all(r[2:5] == (31, 9, FLASH) and r[5] == pytest.approx(cost) for r in rows)
    assert len(gemini.requests) == 4
    # the same outcomes without telemetry
    pytester.runpytest_subprocess(*workers).assert_outcomes(passed=3)
