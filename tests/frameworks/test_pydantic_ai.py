"""pydantic-ai agents on OpenAI (Chat Completions and Responses) and Anthropic models, with
``run_sync``, ``run_stream`` and a tool call, recorded by the SDK instrumentation under
``pytest --telemetry --telemetry-instrument=openai,anthropic``: one event per request the
server answered, with its tokens, model and genai-prices cost, under the test that made it."""

from __future__ import annotations

import json

import pytest
from framework_runs import require, run_user_suite

from fakes.fake_llm_server import Reply, anthropic_message, chat_completion

require("pydantic_ai")

USER_SUITE = '''
import asyncio, os
from pydantic_ai import Agent
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.openai import OpenAIProvider

URL = os.environ["FAKE_LLM_URL"]
SETTINGS = {"max_tokens": 1024}


def chat():
    return OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(base_url=URL + "/v1", api_key="sk-test"))


def responses():
    return OpenAIResponsesModel("gpt-4.1-mini", provider=OpenAIProvider(base_url=URL + "/v1", api_key="sk-test"))


def claude():
    return AnthropicModel("claude-haiku-4-5-20251001", provider=AnthropicProvider(base_url=URL, api_key="sk-ant-test"))


def streamed(agent, prompt):
    async def run():
        async with agent.run_stream(prompt, model_settings=SETTINGS) as result:
            return await result.get_output(), result.usage

    return asyncio.run(run())


def test_chat_run_sync():
    result = Agent(chat()).run_sync("[test_chat_run_sync] hi", model_settings=SETTINGS)
    assert (result.output, result.usage.input_tokens, result.usage.output_tokens) == ("Hello!", 42, 7)


def test_chat_run_stream():
    output, usage = streamed(Agent(chat()), "[test_chat_run_stream] hi")
    assert (output, usage.input_tokens, usage.output_tokens) == ("Hello!", 42, 7)


def test_responses_run_sync():
    result = Agent(responses()).run_sync("[test_responses_run_sync] hi", model_settings=SETTINGS)
    assert (result.output, result.usage.input_tokens, result.usage.output_tokens) == ("Hi there", 36, 87)


def test_responses_run_stream():
    output, usage = streamed(Agent(responses()), "[test_responses_run_stream] hi")
    assert (output, usage.input_tokens, usage.output_tokens) == ("Hi there", 36, 87)


def test_anthropic_run_sync():
    result = Agent(claude()).run_sync("[test_anthropic_run_sync] hi", model_settings=SETTINGS)
    assert (result.output, result.usage.input_tokens, result.usage.output_tokens) == ("Hello!", 25, 12)


def test_anthropic_run_stream():
    output, usage = streamed(Agent(claude()), "[test_anthropic_run_stream] hi")
    assert (output, usage.input_tokens, usage.output_tokens) == ("Hello!", 25, 12)


def tool_agent(model):
    agent = Agent(model)

    @agent.tool_plain
    def weather(city: str) -> str:
        return f"sunny in {city}"

    return agent


def test_chat_tool_call():
    result = tool_agent(chat()).run_sync("[test_chat_tool_call] weather?", model_settings=SETTINGS)
    assert (result.output, result.usage.requests, result.usage.input_tokens) == ("Hello!", 2, 84)


def test_anthropic_tool_call():
    result = tool_agent(claude()).run_sync("[test_anthropic_tool_call] weather?", model_settings=SETTINGS)
    assert (result.output, result.usage.requests, result.usage.input_tokens) == ("Hello!", 2, 50)
'''

#: The same agent without ``max_tokens``: pydantic-ai asks the Anthropic SDK for a non-streamed
#: message with its default ``max_tokens`` (64000), the SDK refuses before sending anything
#: (``ValueError: Streaming is required ...``), and pydantic-ai asks again with ``stream=True``.
DEFAULT_SETTINGS_SUITE = '''
import os
from pydantic_ai import Agent
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.providers.anthropic import AnthropicProvider


def test_anthropic_default_max_tokens():
    model = AnthropicModel("claude-haiku-4-5-20251001",
                           provider=AnthropicProvider(base_url=os.environ["FAKE_LLM_URL"], api_key="sk-ant-test"))
    result = Agent(model).run_sync("[test_anthropic_default_max_tokens] hi")
    assert (result.output, result.usage.requests, result.usage.input_tokens) == ("Hello!", 1, 25)
'''


def _tool_first(path: str, request: dict) -> Reply | None:
    """Ask for the ``weather`` tool when a request offers it and carries no tool result yet."""
    text = json.dumps(request)
    if "weather" not in text or "sunny in" in text:
        return None
    if path.endswith("/chat/completions"):
        body = chat_completion(request["model"])
        call = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
        body["choices"][0]["message"] = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}
        body["choices"][0]["finish_reason"] = "tool_calls"
        return Reply(body=body)
    if path.endswith("/messages") and not request.get("stream"):
        body = anthropic_message(request["model"])
        body["content"] = [{"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}]
        body["stop_reason"] = "tool_use"
        return Reply(body=body)
    return None


@pytest.mark.parametrize("mode", ["telemetry", "xdist", "plain"])
def test_pydantic_ai_agents_are_recorded_once_per_request(pytester: pytest.Pytester, llm, monkeypatch, mode) -> None:
    monkeypatch.setenv("FAKE_LLM_URL", llm.url)
    llm.respond_with(_tool_first)
    run_user_suite(pytester, llm, mode, "test_agents.py", USER_SUITE, passed=8)
    assert len(llm.requests) == 10  # one per run, two for each tool call


@pytest.mark.parametrize("mode", ["telemetry", "xdist", "plain"])
def test_pydantic_ai_anthropic_with_default_max_tokens_is_one_event(pytester: pytest.Pytester, llm, monkeypatch,
                                                                    mode) -> None:
    """The Anthropic SDK refuses pydantic-ai's first, non-streamed call (its default ``max_tokens``
    needs a stream) before sending anything; pydantic-ai then streams. One request, one event."""
    monkeypatch.setenv("FAKE_LLM_URL", llm.url)
    run_user_suite(pytester, llm, mode, "test_default.py", DEFAULT_SETTINGS_SUITE, passed=1)
    assert [request.get("stream") for _, request in llm.requests] == [True]
