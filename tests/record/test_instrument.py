"""Zero-code instrumentation, tested with the real openai and anthropic SDKs against a local server."""

from __future__ import annotations

import asyncio
import gc
import inspect
import traceback

import anthropic
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dev_system.ops.telemetry import configure, telemetry_decorator, trace
from dev_system.record.instrument import (
    instrument,
    instrument_anthropic,
    instrument_openai,
    instrumented,
    uninstrument,
)
from dev_system.record.pricing import anthropic_cost_calculator, openai_cost_calculator
from dev_system.record.usage import usage_from
from fakes.fake_llm_server import (  # noqa: F401  (fixtures)
    anthropic_client,
    anthropic_error,
    anthropic_events,
    async_anthropic_client,
    async_openai_client,
    chat_chunks,
    llm,
    llm_server,
    openai_client,
    openai_error,
)

MESSAGES = [{"role": "user", "content": "Say hello"}]
CLAUDE = "claude-haiku-4-5"


def _only(recording):
    events = recording.events()
    assert len(events) == 1, events
    return events[0]


# --- openai ----------------------------------------------------------------------------------


def test_chat_completion_is_recorded_with_tokens_model_and_cost(on, openai_client):
    response = openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    event = _only(on)
    assert (event.event_type, event.agent_name, event.function_name) == ("model_call", "llm", "openai.chat.completions.create")
    assert (event.input_tokens, event.output_tokens, event.model) == (42, 7, "gpt-4o-mini")
    assert event.success and event.error_type is None
    assert event.cost_usd == pytest.approx(openai_cost_calculator(response))
    assert event.metadata_dict["provider"] == "openai"
    assert event.metadata_dict["args"]["model"] == "gpt-4o-mini"
    assert "messages" not in event.metadata_dict["args"]  # the prompt is not stored
    assert response.choices[0].message.content == "Hello!"


def test_chat_stream_with_include_usage_records_the_final_chunk_usage(on, openai_client):
    stream = openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                   stream_options={"include_usage": True})
    assert isinstance(stream, openai.Stream)
    assert on.events() == []  # the event ends with the stream
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Hello!"
    event = _only(on)
    assert (event.input_tokens, event.output_tokens, event.model) == (42, 7, "gpt-4o-mini")
    assert event.cost_usd is not None and event.success


def test_chat_stream_without_usage_has_unknown_tokens_and_cost(on, openai_client):
    for _ in openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
        pass
    event = _only(on)
    assert (event.input_tokens, event.output_tokens, event.cost_usd) == (None, None, None)
    assert event.model == "gpt-4o-mini" or event.model is None


def test_chat_stream_helper_is_recorded_once(on, openai_client):
    with openai_client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES,
                                               stream_options={"include_usage": True}) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Hello!"
    event = _only(on)
    assert (event.input_tokens, event.output_tokens, event.function_name) == (42, 7, "openai.chat.completions.create")


def test_responses_create_plain_stream_and_helper(on, openai_client):
    response = openai_client.responses.create(model="gpt-4.1-mini", input="hi")
    for _ in openai_client.responses.create(model="gpt-4.1-mini", input="hi", stream=True):
        pass
    with openai_client.responses.stream(model="gpt-4.1-mini", input="hi") as stream:
        assert stream.get_final_response().output_text == "Hi there"
    events = on.events()
    assert [e.function_name for e in events] == ["openai.responses.create"] * 3
    assert {(e.input_tokens, e.output_tokens, e.model) for e in events} == {(36, 87, "gpt-4.1-mini")}
    assert all(e.cost_usd == pytest.approx(openai_cost_calculator(response)) for e in events)


def test_embeddings_and_legacy_completions(on, openai_client):
    openai_client.embeddings.create(model="text-embedding-3-small", input="hi")
    openai_client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi")
    embed, complete = on.events()
    assert (embed.function_name, embed.input_tokens, embed.output_tokens) == ("openai.embeddings.create", 8, 0)
    assert embed.cost_usd is not None
    assert (complete.function_name, complete.input_tokens, complete.output_tokens) == ("openai.completions.create", 42, 7)


def test_async_openai_create_stream_and_helper(on, async_openai_client):
    async def main():
        await async_openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        stream = await async_openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
        assert isinstance(stream, openai.AsyncStream)
        async for _ in stream:
            pass
        async with async_openai_client.chat.completions.stream(
                model="gpt-4o-mini", messages=MESSAGES, stream_options={"include_usage": True}) as helper:
            async for _ in helper:
                pass
        async for _ in await async_openai_client.responses.create(model="gpt-4.1-mini", input="hi", stream=True):
            pass
        await async_openai_client.close()

    asyncio.run(main())
    events = on.events()
    assert [(e.input_tokens, e.output_tokens) for e in events] == [(42, 7)] * 3 + [(36, 87)]
    assert all(e.success and e.cost_usd is not None for e in events)


# --- anthropic -------------------------------------------------------------------------------


def test_anthropic_message_is_recorded_with_cache_tokens_in_the_input(on, anthropic_client, llm):
    from fakes.fake_llm_server import anthropic_message

    llm.push(body=anthropic_message(CLAUDE, input_tokens=20, output_tokens=9, cache_read=1000, cache_write=50))
    message = anthropic_client.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES)
    event = _only(on)
    assert (event.function_name, event.input_tokens, event.output_tokens, event.model) == (
        "anthropic.messages.create", 1070, 9, CLAUDE)
    assert event.cost_usd == pytest.approx(anthropic_cost_calculator(message))
    assert event.metadata_dict["usage"]["cached_input_tokens"] == 1000
    assert event.metadata_dict["usage"]["cache_write_tokens"] == 50


def test_anthropic_raw_stream_takes_the_last_cumulative_output(on, anthropic_client, llm):
    llm.push(sse=anthropic_events(CLAUDE, input_tokens=30, output_deltas=(4, 11, 19)))
    stream = anthropic_client.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES, stream=True)
    assert isinstance(stream, anthropic.Stream)
    kinds = [event.type for event in stream]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    event = _only(on)
    assert (event.input_tokens, event.output_tokens) == (30, 19)


def test_anthropic_stream_helper_sync_and_async(on, anthropic_client, async_anthropic_client):
    with anthropic_client.messages.stream(model=CLAUDE, max_tokens=64, messages=MESSAGES) as stream:
        assert stream.get_final_text() == "Hello!"

    async def main():
        async with async_anthropic_client.messages.stream(model=CLAUDE, max_tokens=64, messages=MESSAGES) as stream:
            assert await stream.get_final_text() == "Hello!"
        message = await async_anthropic_client.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES)
        async for _ in await async_anthropic_client.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES,
                                                                    stream=True):
            pass
        await async_anthropic_client.close()
        return message

    message = asyncio.run(main())
    events = on.events()
    assert [e.function_name for e in events] == ["anthropic.messages.stream"] * 2 + ["anthropic.messages.create"] * 2
    assert {(e.input_tokens, e.output_tokens) for e in events} == {(25, 12)}
    assert all(e.cost_usd == pytest.approx(anthropic_cost_calculator(message)) for e in events)


def test_stream_helper_never_entered_records_nothing(on, anthropic_client):
    manager = anthropic_client.messages.stream(model=CLAUDE, max_tokens=64, messages=MESSAGES)
    del manager
    assert on.events() == []


def test_anthropic_beta_messages(on, anthropic_client):
    anthropic_client.beta.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES)
    event = _only(on)
    assert (event.function_name, event.input_tokens, event.output_tokens) == ("anthropic.beta.messages.create", 25, 12)


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status, error_class", [(429, openai.RateLimitError), (500, openai.InternalServerError),
                                                 (401, openai.AuthenticationError)])
def test_openai_http_errors_are_recorded_and_reraised_untouched(on, openai_client, llm, status, error_class):
    llm.push(status=status, body=openai_error(kind="server_error" if status == 500 else "rate_limit_error"))
    with pytest.raises(error_class) as caught:
        openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert type(caught.value) is error_class and caught.value.status_code == status
    # raised by the SDK, re-raised as is: the innermost frame is the SDK's
    assert "openai" in traceback.extract_tb(caught.value.__traceback__)[-1].filename
    event = _only(on)
    assert (event.success, event.error_type) == (False, error_class.__name__)
    # no usage came back: nothing was billed (not "unknown cost"); the model is the one asked for
    assert (event.input_tokens, event.output_tokens, event.cost_usd, event.model) == (0, 0, 0.0, "gpt-4o-mini")


def test_anthropic_rate_limit_and_overload(on, anthropic_client, llm):
    llm.push(status=429, body=anthropic_error())
    llm.push(status=529, body=anthropic_error("Overloaded", "overloaded_error"))
    with pytest.raises(anthropic.RateLimitError):
        anthropic_client.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES)
    with pytest.raises(anthropic.APIStatusError) as caught:
        with anthropic_client.messages.stream(model=CLAUDE, max_tokens=64, messages=MESSAGES):
            pass
    assert caught.value.status_code == 529
    assert [(e.function_name, e.error_type) for e in on.events()] == [
        ("anthropic.messages.create", "RateLimitError"), ("anthropic.messages.stream", type(caught.value).__name__)]


def test_timeouts_are_recorded_as_timeouts(on, llm):
    llm.push(delay=0.5)
    llm.push(delay=0.5)
    fast_openai = openai.OpenAI(base_url=llm.url + "/v1", api_key="sk-test", max_retries=0, timeout=0.05)
    fast_anthropic = anthropic.Anthropic(base_url=llm.url, api_key="sk-test", max_retries=0, timeout=0.05)
    with pytest.raises(openai.APITimeoutError):
        fast_openai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    with pytest.raises(anthropic.APITimeoutError):
        fast_anthropic.messages.create(model=CLAUDE, max_tokens=8, messages=MESSAGES)
    assert [e.error_type for e in on.events()] == ["APITimeoutError", "APITimeoutError"]


def test_an_error_in_the_middle_of_a_stream_fails_the_event(on, openai_client, anthropic_client, llm):
    chunks = chat_chunks(include_usage=False)[:2]
    llm.push(sse=[(None, chunk) for chunk in chunks] + [(None, openai_error("overloaded", "server_error"))])
    llm.push(sse=anthropic_events(CLAUDE)[:3] + [("error", anthropic_error("Overloaded", "overloaded_error"))])
    with pytest.raises(openai.APIError):
        for _ in openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
            pass
    with pytest.raises(anthropic.APIStatusError):
        for _ in anthropic_client.messages.create(model=CLAUDE, max_tokens=8, messages=MESSAGES, stream=True):
            pass
    first, second = on.events()
    assert (first.success, first.error_type) == (False, "APIError")
    assert second.success is False and second.error_type.endswith("Error")
    assert second.input_tokens == 25  # message_start arrived before the error


def test_a_stream_closed_early_is_recorded_once_as_closed_early(on, openai_client, anthropic_client):
    stream = openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                   stream_options={"include_usage": True})
    next(iter(stream))
    stream.close()
    with anthropic_client.messages.stream(model=CLAUDE, max_tokens=64, messages=MESSAGES) as helper:
        for _ in helper:
            break
    dropped = anthropic_client.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES, stream=True)
    del dropped
    gc.collect()
    events = on.events()
    assert len(events) == 3
    assert all(e.success and e.metadata_dict.get("closed_early") for e in events)
    assert events[1].input_tokens == 25  # message_start was read


# --- traces, agent names, switches -------------------------------------------------------------


def test_a_call_inside_a_decorated_function_joins_its_trace(on, openai_client, anthropic_client):
    @telemetry_decorator(agent_name="orchestrator", event_type="tool_call")
    def handle_turn():
        openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        with anthropic_client.messages.stream(model=CLAUDE, max_tokens=64, messages=MESSAGES) as stream:
            stream.until_done()

    with trace("turn-1"):
        handle_turn()
    openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    events = on.events()
    [parent] = [e for e in events if e.agent_name == "orchestrator"]
    children = [e for e in events if e.agent_name == "llm" and e.trace_id == "turn-1"]
    alone = events[-1]
    assert parent.function_name == "handle_turn"
    assert [c.function_name for c in children] == ["openai.chat.completions.create", "anthropic.messages.stream"]
    for child in children:
        assert child.trace_id == parent.trace_id == "turn-1"
        assert child.parent_span_id == parent.span_id
    assert alone.trace_id != "turn-1" and alone.parent_span_id is None


def test_agent_name_is_configurable(recording, openai_client, anthropic_client):
    configure(enabled=True, db_path=recording.db_path, sync=True, instrument_agent_name="model-gateway")
    instrument_openai()
    instrument_anthropic(agent_name="claude-agent")
    openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    anthropic_client.messages.create(model=CLAUDE, max_tokens=8, messages=MESSAGES)
    assert [e.agent_name for e in recording.events()] == ["model-gateway", "claude-agent"]


def test_instrumenting_twice_records_once_and_uninstrument_restores(recording, openai_client):
    from anthropic.resources.messages import Messages
    from openai.resources.chat.completions import AsyncCompletions, Completions

    originals = (Completions.__dict__["create"], AsyncCompletions.__dict__["create"], Messages.__dict__["stream"])
    configure(enabled=True, db_path=recording.db_path, sync=True)
    assert instrument("openai") == ["openai"]
    assert instrument("openai", "anthropic") == ["openai", "anthropic"]
    assert instrument_openai() is True
    assert instrumented() == ["openai", "anthropic"]
    openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(recording.events()) == 1
    # the patched methods keep their names, signatures and kinds
    assert Completions.create.__name__ == "create"
    assert inspect.signature(Completions.create) == inspect.signature(originals[0])
    assert inspect.iscoroutinefunction(AsyncCompletions.create)

    assert uninstrument() == ["openai", "anthropic"]
    assert (Completions.__dict__["create"], AsyncCompletions.__dict__["create"], Messages.__dict__["stream"]) == originals
    assert instrumented() == [] and uninstrument() == []
    openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(recording.events()) == 1


def test_with_telemetry_off_calls_pass_through_unrecorded(recording, openai_client):
    instrument()
    configure(enabled=False)
    response = openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert usage_from(response).input_tokens == 42
    stream = openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert len(list(stream)) == 5
    assert recording.events() == []


def test_unknown_provider_is_an_error():
    with pytest.raises(ValueError, match="unknown provider"):
        instrument("cohere")
    with pytest.raises(ValueError):
        uninstrument("cohere")


def test_raw_and_streaming_responses_are_parsed_for_their_usage(on, openai_client, anthropic_client,
                                                                async_anthropic_client):
    raw = openai_client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "Hello!"
    anthropic_raw = anthropic_client.messages.with_raw_response.create(model=CLAUDE, max_tokens=8, messages=MESSAGES)
    assert anthropic_raw.parse().usage.input_tokens == 25

    async def main():
        response = await async_anthropic_client.messages.with_raw_response.create(model=CLAUDE, max_tokens=8,
                                                                                 messages=MESSAGES)
        await async_anthropic_client.close()
        return (await response.parse()).usage.output_tokens

    assert asyncio.run(main()) == 12
    with openai_client.chat.completions.with_streaming_response.create(model="gpt-4o-mini", messages=MESSAGES) as resp:
        assert b"Hello!" in b"".join(resp.iter_bytes())
    events = on.events()
    # the streaming response's body, read by the caller, carried the usage too
    assert [(e.input_tokens, e.output_tokens) for e in events] == [(42, 7), (25, 12), (25, 12), (42, 7)]
    assert all(e.success for e in events)


_counts = st.integers(min_value=0, max_value=500_000)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(inp=_counts, read=_counts, write=_counts, deltas=st.lists(_counts, min_size=1, max_size=4),
       prompt=_counts, completion=_counts)
def test_recorded_stream_tokens_equal_the_usage_the_provider_sent(on, anthropic_client, openai_client, llm,
                                                                  inp, read, write, deltas, prompt, completion):
    from fakes.fake_llm_server import anthropic_message, chat_completion

    llm.push(sse=anthropic_events(CLAUDE, inp, deltas, read, write))
    with anthropic_client.messages.stream(model=CLAUDE, max_tokens=64, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    llm.push(sse=[(None, c) for c in chat_chunks("gpt-4o", prompt, completion)] + [(None, "[DONE]")])
    for _ in openai_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                                   stream_options={"include_usage": True}):
        pass
    claude_event, gpt_event = on.events()[-2:]
    expected = usage_from(anthropic_message(CLAUDE, inp, deltas[-1], read, write))
    assert (claude_event.input_tokens, claude_event.output_tokens) == expected[:2] == usage_from(final)[:2]
    assert claude_event.cost_usd == pytest.approx(anthropic_cost_calculator(expected))
    assert (gpt_event.input_tokens, gpt_event.output_tokens) == (prompt, completion)
    assert gpt_event.cost_usd == pytest.approx(openai_cost_calculator(chat_completion("gpt-4o", prompt, completion)))


def test_uninstrument_under_another_librarys_wrapper_switches_ours_off(recording, openai_client):
    import functools

    from openai.resources.chat.completions import Completions

    original = Completions.__dict__["create"]
    configure(enabled=True, db_path=recording.db_path, sync=True)
    instrument_openai()
    ours = Completions.__dict__["create"]
    calls = []

    @functools.wraps(ours)
    def theirs(*args, **kwargs):  # another instrumentation, patched after us
        calls.append(1)
        return ours(*args, **kwargs)

    Completions.create = theirs
    try:
        uninstrument("openai")
        assert Completions.__dict__["create"] is theirs  # their patch is left alone
        openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert calls == [1] and recording.events() == []  # ours only passes through now
        assert instrument_openai() is True  # and instrumenting again works
        openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert len(recording.events()) == 1
    finally:
        uninstrument("openai")
        Completions.create = original


def test_calls_from_many_threads_are_each_recorded_once(on, openai_client):
    from concurrent.futures import ThreadPoolExecutor

    def call(n):
        stream = n % 2 == 0
        result = openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=stream,
                                                       stream_options={"include_usage": True} if stream else openai.omit)
        if stream:
            list(result)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(call, range(40)))
    events = on.events()
    assert len(events) == 40 and len({e.event_id for e in events}) == 40
    assert all((e.input_tokens, e.output_tokens) == (42, 7) for e in events)


def test_parse_methods_are_recorded(on, openai_client, anthropic_client):
    parsed = openai_client.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES)
    assert parsed.choices[0].message.content == "Hello!"
    openai_client.responses.parse(model="gpt-4.1-mini", input="hi")
    anthropic_client.messages.parse(model=CLAUDE, max_tokens=8, messages=MESSAGES)
    events = on.events()
    assert [(e.function_name, e.input_tokens, e.output_tokens) for e in events] == [
        ("openai.chat.completions.parse", 42, 7), ("openai.responses.parse", 36, 87),
        ("anthropic.messages.parse", 25, 12)]
