"""The SDKs' raw and streaming-response wrappers, instrumented, with the real openai and anthropic
SDKs against the local fake server.

- ``.with_raw_response.create(stream=True)`` returns a raw response whose ``.parse()`` gives the
  stream (langchain-anthropic's ``.stream()`` works this way): the event ends with that stream.
- ``.with_streaming_response.create(...)`` (the OpenAI Agents SDK's ``Runner.run_streamed``) hands
  the caller an unread body: the event ends when the body has been parsed, read, iterated or
  closed, with the usage it carried.

Every case checks one event per request the server answered, the tokens the server sent, the
model, and the cost genai-prices gives for that model.
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3

import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price

from dev_system.ops.telemetry import configure
from dev_system.record.instrument import instrument
from fakes.fake_llm_server import (  # noqa: F401  (fixtures)
    anthropic_client,
    async_anthropic_client,
    async_openai_client,
    llm,
    llm_server,
    openai_client,
)

MESSAGES = [{"role": "user", "content": "Say hello"}]
CLAUDE = "claude-haiku-4-5"
GPT = "gpt-4o-mini"
GPT_RESPONSES = "gpt-4.1-mini"
USAGE = {"include_usage": True}

#: (model, provider, input tokens, output tokens) the fake server sends by default
CHAT = (GPT, "openai", 42, 7)
RESPONSES = (GPT_RESPONSES, "openai", 36, 87)
MESSAGE = (CLAUDE, "anthropic", 25, 12)


@pytest.fixture
def on(recording):
    configure(enabled=True, db_path=recording.db_path, sync=True)
    assert instrument("openai", "anthropic") == ["openai", "anthropic"]
    return recording


def price(model: str, provider: str, input_tokens: int, output_tokens: int) -> float:
    usage = PriceUsage(input_tokens=input_tokens, output_tokens=output_tokens)
    return float(calc_price(usage, model_ref=model, provider_id=provider).total_price)


def assert_recorded(recording, llm, *expected, function_names=None, closed_early=None):
    """One event per answered request, in order, each with the expected tokens, model and cost."""
    events = recording.events()
    assert len(events) == len(llm.requests) == len(expected), events
    for event, (model, provider, input_tokens, output_tokens) in zip(events, expected):
        assert event.success, event
        assert (event.input_tokens, event.output_tokens, event.model) == (input_tokens, output_tokens, model)
        assert event.cost_usd == pytest.approx(price(model, provider, input_tokens, output_tokens))
    if function_names is not None:
        assert [e.function_name for e in events] == function_names
    if closed_early is not None:
        assert [bool(e.metadata_dict.get("closed_early")) for e in events] == closed_early
    return events


# --- item 1: raw responses of streamed calls ---------------------------------------------------


def test_openai_raw_stream_parse_records_the_stream_usage(on, llm, openai_client):
    raw = openai_client.chat.completions.with_raw_response.create(model=GPT, messages=MESSAGES, stream=True,
                                                                 stream_options=USAGE)
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert on.events() == []  # the call ends with the stream
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == "Hello!"
    raw = openai_client.responses.with_raw_response.create(model=GPT_RESPONSES, input="hi", stream=True)
    assert [e.type for e in raw.parse()][-1] == "response.completed"
    assert_recorded(on, llm, CHAT, RESPONSES,
                    function_names=["openai.chat.completions.create", "openai.responses.create"])


def test_openai_top_level_raw_client_stream(on, llm, openai_client):
    # langchain-openai's Responses path: client.with_raw_response.responses.create(stream=True)
    raw = openai_client.with_raw_response.responses.create(model=GPT_RESPONSES, input="hi", stream=True)
    with raw.parse() as stream:
        for _ in stream:
            pass
    assert_recorded(on, llm, RESPONSES, closed_early=[False])


def test_anthropic_raw_stream_parse_records_the_stream_usage(on, llm, anthropic_client):
    raw = anthropic_client.messages.with_raw_response.create(model=CLAUDE, max_tokens=16, messages=MESSAGES,
                                                             stream=True)
    assert on.events() == []
    kinds = [event.type for event in raw.parse()]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    raw = anthropic_client.beta.messages.with_raw_response.create(model=CLAUDE, max_tokens=16, messages=MESSAGES,
                                                                  stream=True)
    for _ in raw.parse():
        pass
    assert_recorded(on, llm, MESSAGE, MESSAGE,
                    function_names=["anthropic.messages.create", "anthropic.beta.messages.create"])


def test_async_raw_streams(on, llm, async_openai_client, async_anthropic_client):
    async def main():
        raw = await async_openai_client.chat.completions.with_raw_response.create(
            model=GPT, messages=MESSAGES, stream=True, stream_options=USAGE)
        async for _ in raw.parse():  # openai's raw response parses synchronously
            pass
        raw = await async_openai_client.responses.with_raw_response.create(model=GPT_RESPONSES, input="hi",
                                                                           stream=True)
        async for _ in raw.parse():
            pass
        raw = await async_anthropic_client.messages.with_raw_response.create(
            model=CLAUDE, max_tokens=16, messages=MESSAGES, stream=True)
        async for _ in await raw.parse():
            pass
        await async_openai_client.close()
        await async_anthropic_client.close()

    asyncio.run(main())
    assert_recorded(on, llm, CHAT, RESPONSES, MESSAGE)


def test_raw_stream_parsed_twice_is_fed_once(on, llm, anthropic_client):
    raw = anthropic_client.messages.with_raw_response.create(model=CLAUDE, max_tokens=16, messages=MESSAGES,
                                                             stream=True)
    stream = raw.parse()
    assert raw.parse() is stream  # the SDK caches it
    for _ in stream:
        pass
    assert_recorded(on, llm, MESSAGE)


def test_raw_stream_closed_early_or_never_parsed(on, llm, openai_client, anthropic_client):
    raw = anthropic_client.messages.with_raw_response.create(model=CLAUDE, max_tokens=16, messages=MESSAGES,
                                                             stream=True)
    stream = raw.parse()
    assert next(iter(stream)).type == "message_start"
    stream.close()
    raw = openai_client.chat.completions.with_raw_response.create(model=GPT, messages=MESSAGES, stream=True)
    del raw
    gc.collect()
    events = on.events()
    assert len(events) == len(llm.requests) == 2
    assert all(e.success and e.metadata_dict.get("closed_early") for e in events)
    assert (events[0].input_tokens, events[0].model) == (25, CLAUDE)  # message_start was read
    assert (events[1].input_tokens, events[1].cost_usd) == (None, None)  # nothing was read


def test_raw_stream_dropped_response_keeps_its_stream_alive(on, llm, openai_client):
    # the raw response is dropped as soon as it is parsed, as frameworks do; the stream lives on
    stream = openai_client.chat.completions.with_raw_response.create(
        model=GPT, messages=MESSAGES, stream=True, stream_options=USAGE).parse()
    gc.collect()
    assert on.events() == []
    for _ in stream:
        pass
    assert_recorded(on, llm, CHAT, closed_early=[False])


# --- item 2: with_streaming_response -----------------------------------------------------------


@pytest.mark.parametrize("how", ["parse", "read", "text", "json", "iter_bytes", "iter_text", "iter_lines"])
def test_streaming_response_not_streamed_each_way_of_reading(on, llm, openai_client, anthropic_client, how):
    def consume(response):
        result = getattr(response, how)()
        if how.startswith("iter_"):
            result = list(result)
        return result

    with openai_client.chat.completions.with_streaming_response.create(model=GPT, messages=MESSAGES) as response:
        assert on.events() == []
        consume(response)
    with openai_client.responses.with_streaming_response.create(model=GPT_RESPONSES, input="hi") as response:
        consume(response)
    with anthropic_client.messages.with_streaming_response.create(model=CLAUDE, max_tokens=16,
                                                                 messages=MESSAGES) as response:
        consume(response)
    assert_recorded(on, llm, CHAT, RESPONSES, MESSAGE, closed_early=[False] * 3)


@pytest.mark.parametrize("how", ["parse", "read", "iter_bytes", "iter_lines"])
def test_streaming_response_of_a_stream_each_way_of_reading(on, llm, openai_client, anthropic_client, how):
    def consume(response):
        if how == "parse":
            for _ in response.parse():
                pass
        elif how == "read":
            response.read()
        else:
            for _ in getattr(response, how)():
                pass

    with openai_client.chat.completions.with_streaming_response.create(
            model=GPT, messages=MESSAGES, stream=True, stream_options=USAGE) as response:
        consume(response)
    with openai_client.responses.with_streaming_response.create(model=GPT_RESPONSES, input="hi",
                                                               stream=True) as response:
        consume(response)
    with anthropic_client.messages.with_streaming_response.create(model=CLAUDE, max_tokens=16, messages=MESSAGES,
                                                                 stream=True) as response:
        consume(response)
    with anthropic_client.beta.messages.with_streaming_response.create(model=CLAUDE, max_tokens=16,
                                                                      messages=MESSAGES, stream=True) as response:
        consume(response)
    assert_recorded(on, llm, CHAT, RESPONSES, MESSAGE, MESSAGE, closed_early=[False] * 4)


def test_async_streaming_responses(on, llm, async_openai_client, async_anthropic_client):
    async def main():
        # what the OpenAI Agents SDK does for Runner.run_streamed
        manager = async_openai_client.responses.with_streaming_response.create(model=GPT_RESPONSES, input="hi",
                                                                                stream=True)
        response = await manager.__aenter__()
        stream = await response.parse()
        kinds = [event.type async for event in stream]
        await manager.__aexit__(None, None, None)
        assert kinds[-1] == "response.completed"
        async with async_openai_client.chat.completions.with_streaming_response.create(
                model=GPT, messages=MESSAGES, stream=True, stream_options=USAGE) as response:
            async for _ in response.iter_lines():
                pass
        async with async_openai_client.chat.completions.with_streaming_response.create(
                model=GPT, messages=MESSAGES) as response:
            assert (await response.parse()).usage.prompt_tokens == 42
        async with async_anthropic_client.messages.with_streaming_response.create(
                model=CLAUDE, max_tokens=16, messages=MESSAGES, stream=True) as response:
            async for _ in await response.parse():
                pass
        async with async_anthropic_client.messages.with_streaming_response.create(
                model=CLAUDE, max_tokens=16, messages=MESSAGES) as response:
            await response.json()
        await async_openai_client.close()
        await async_anthropic_client.close()

    asyncio.run(main())
    assert_recorded(on, llm, RESPONSES, CHAT, CHAT, MESSAGE, MESSAGE, closed_early=[False] * 5)


def test_streaming_response_closed_unread_or_half_read(on, llm, openai_client, anthropic_client):
    with openai_client.chat.completions.with_streaming_response.create(model=GPT, messages=MESSAGES) as response:
        assert response.status_code == 200  # the body is never read
    with anthropic_client.messages.with_streaming_response.create(model=CLAUDE, max_tokens=16, messages=MESSAGES,
                                                                 stream=True) as response:
        for event in response.parse():
            assert event.type == "message_start"
            break
    with openai_client.chat.completions.with_streaming_response.create(
            model=GPT, messages=MESSAGES, stream=True, stream_options=USAGE) as response:
        next(response.iter_lines())
    events = on.events()
    assert len(events) == len(llm.requests) == 3
    assert all(e.success and e.metadata_dict.get("closed_early") for e in events)
    assert [(e.input_tokens, e.output_tokens, e.cost_usd) for e in events][0] == (None, None, None)
    assert (events[1].input_tokens, events[1].model) == (25, CLAUDE)


def test_streaming_response_errors_are_failures(on, llm, openai_client, anthropic_client):
    import anthropic
    import openai

    from fakes.fake_llm_server import anthropic_error, openai_error

    llm.push(status=429, body=openai_error())
    with pytest.raises(openai.RateLimitError):
        with openai_client.chat.completions.with_streaming_response.create(model=GPT, messages=MESSAGES):
            pass
    llm.push(status=529, body=anthropic_error("Overloaded", "overloaded_error"))
    with pytest.raises(anthropic.APIStatusError):
        with anthropic_client.messages.with_streaming_response.create(model=CLAUDE, max_tokens=16,
                                                                     messages=MESSAGES, stream=True):
            pass
    events = on.events()
    assert len(events) == len(llm.requests) == 2
    assert [(e.success, e.error_type) for e in events] == [(False, "RateLimitError"), (False, "OverloadedError")]


def test_telemetry_off_leaves_the_wrappers_untouched(recording, llm, openai_client):
    instrument("openai")
    configure(enabled=False)
    from openai._legacy_response import LegacyAPIResponse
    from openai._response import APIResponse

    with openai_client.chat.completions.with_streaming_response.create(model=GPT, messages=MESSAGES) as response:
        assert type(response) is APIResponse
    raw = openai_client.chat.completions.with_raw_response.create(model=GPT, messages=MESSAGES, stream=True)
    assert type(raw) is LegacyAPIResponse
    for _ in raw.parse():
        pass
    assert recording.events() == []


# --- under pytest --telemetry, with and without xdist -------------------------------------------

USER_TESTS = '''
import asyncio

import anthropic
import openai

MESSAGES = [{"role": "user", "content": "hi"}]


def clients():
    return (openai.OpenAI(base_url=URL + "/v1", api_key="sk-test", max_retries=0),
            anthropic.Anthropic(base_url=URL, api_key="sk-ant-test", max_retries=0))


def test_raw_streams():
    oai, claude = clients()
    for _ in oai.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                           stream_options={"include_usage": True}).parse():
        pass
    for _ in claude.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=9, messages=MESSAGES,
                                                      stream=True).parse():
        pass


def test_streaming_responses():
    oai, claude = clients()
    with oai.responses.with_streaming_response.create(model="gpt-4.1-mini", input="hi", stream=True) as response:
        for _ in response.parse():
            pass
    with claude.messages.with_streaming_response.create(model="claude-haiku-4-5", max_tokens=9,
                                                        messages=MESSAGES) as response:
        response.parse()


def test_async_streaming_response():
    async def main():
        client = openai.AsyncOpenAI(base_url=URL + "/v1", api_key="sk-test", max_retries=0)
        async with client.responses.with_streaming_response.create(model="gpt-4.1-mini", input="hi",
                                                                     stream=True) as response:
            async for _ in await response.parse():
                pass
        await client.close()

    asyncio.run(main())
'''


@pytest.mark.parametrize("workers", [None, 2])
def test_under_pytest_telemetry_each_call_is_its_tests(pytester: pytest.Pytester, llm, workers):
    if workers:
        pytest.importorskip("xdist")
    pytester.makepyfile(test_user=f"URL = {llm.url!r}\n" + USER_TESTS)
    args = ["--telemetry", "--telemetry-db=t.db", "--telemetry-instrument=openai,anthropic", "-p", "no:cacheprovider"]
    if workers:
        args += ["-n", str(workers)]
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=3)
    with sqlite3.connect(pytester.path / "t.db") as conn:
        rows = conn.execute("SELECT trace_id, input_tokens, output_tokens, model, cost_usd, success"
                            " FROM telemetry_events ORDER BY trace_id, function_name, model").fetchall()
    assert len(rows) == len(llm.requests) == 5
    expected = [
        ("test_user.py::test_async_streaming_response", *RESPONSES),
        ("test_user.py::test_raw_streams", *MESSAGE),
        ("test_user.py::test_raw_streams", *CHAT),
        ("test_user.py::test_streaming_responses", *MESSAGE),
        ("test_user.py::test_streaming_responses", *RESPONSES),
    ]
    for row, (nodeid, model, provider, input_tokens, output_tokens) in zip(rows, expected):
        assert row[:4] == (nodeid, input_tokens, output_tokens, model) and row[5] == 1
        assert row[4] == pytest.approx(price(model, provider, input_tokens, output_tokens))
    plain = pytester.runpytest_subprocess("-p", "no:cacheprovider", *(["-n", str(workers)] if workers else []))
    plain.assert_outcomes(passed=3)
