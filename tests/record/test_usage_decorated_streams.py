"""Decorated generators that pass on a real SDK stream get their tokens and cost from its chunks."""

from __future__ import annotations

import asyncio

import pytest

from dev_system.ops.telemetry import configure, telemetry_decorator
from dev_system.record.pricing import anthropic_cost_calculator, default_cost, openai_cost_calculator
from dev_system.record.usage import usage_from
from fakes.fake_llm_server import (  # noqa: F401  (fixtures)
    anthropic_client,
    anthropic_events,
    anthropic_message,
    async_anthropic_client,
    async_openai_client,
    chat_completion,
    llm,
    llm_server,
    openai_client,
)

MESSAGES = [{"role": "user", "content": "Say hello"}]
CLAUDE = "claude-haiku-4-5"


@pytest.fixture
def on(recording):
    configure(enabled=True, db_path=recording.db_path, sync=True)
    return recording


def test_sync_generator_over_an_openai_stream(on, openai_client):
    @telemetry_decorator(agent_name="persona_runtime", event_type="model_call", cost_calculator=openai_cost_calculator)
    def stream_post(prompt):
        stream = openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                       stream_options={"include_usage": True})
        for chunk in stream:
            yield chunk

    chunks = list(stream_post("cats"))
    assert chunks[-1].usage.prompt_tokens == 42
    [event] = on.events()
    assert (event.input_tokens, event.output_tokens, event.model) == (42, 7, "gpt-4o-mini")
    assert event.cost_usd == pytest.approx(openai_cost_calculator(chat_completion("gpt-4o-mini")))


def test_async_generator_over_an_anthropic_stream_helper(on, async_anthropic_client, llm):
    llm.push(sse=anthropic_events(CLAUDE, input_tokens=300, output_deltas=(10, 80), cache_read=2000))

    @telemetry_decorator(agent_name="persona_runtime", event_type="model_call")
    async def stream_post(prompt):
        async with async_anthropic_client.messages.stream(model=CLAUDE, max_tokens=128, messages=MESSAGES) as stream:
            async for event in stream:
                yield event
        await async_anthropic_client.close()

    async def consume():
        return [event async for event in stream_post("cats")]

    events = asyncio.run(consume())
    assert events[0].type == "message_start"
    [event] = on.events()
    expected = usage_from(anthropic_message(CLAUDE, 300, 80, cache_read=2000))
    assert (event.input_tokens, event.output_tokens) == (2300, 80) == expected[:2]
    assert event.cost_usd == pytest.approx(default_cost(expected))
    assert event.metadata_dict["usage"]["cached_input_tokens"] == 2000


def test_async_generator_over_openai_text_only_has_unknown_usage(on, async_openai_client):
    @telemetry_decorator(agent_name="persona_runtime", event_type="model_call")
    async def stream_text(prompt):
        stream = await async_openai_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content
        await async_openai_client.close()

    async def consume():
        return "".join([piece async for piece in stream_text("cats")])

    assert asyncio.run(consume()) == "Hello!"
    [event] = on.events()
    assert (event.input_tokens, event.output_tokens, event.cost_usd) == (None, None, None)


def test_a_generator_closed_early_keeps_the_usage_seen_so_far(on, anthropic_client):
    @telemetry_decorator(agent_name="persona_runtime", event_type="model_call", cost_calculator=anthropic_cost_calculator)
    def stream_post():
        with anthropic_client.messages.stream(model=CLAUDE, max_tokens=128, messages=MESSAGES) as stream:
            yield from stream

    gen = stream_post()
    assert next(gen).type == "message_start"
    gen.close()
    [event] = on.events()
    assert event.success and event.metadata_dict["closed_early"] is True
    assert event.input_tokens == 25  # from message_start; output so far: the start's count
