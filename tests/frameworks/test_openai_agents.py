"""The OpenAI Agents SDK (``openai-agents``) with its Chat Completions model and its default
Responses model, ``Runner.run`` and ``Runner.run_streamed``, with and without a tool call, recorded
by the SDK instrumentation under ``pytest --telemetry --telemetry-instrument=openai,anthropic``: one
event per request the server answered, with its tokens, model and genai-prices cost, under the
test that made it, alone and with ``-n 2``; and the same outcomes without telemetry.

``Runner.run_streamed`` on the Responses model goes through
``responses.with_streaming_response.create(stream=True)`` and ``.parse()``: the event ends with
the stream the agent reads.
"""

from __future__ import annotations

import json

import pytest
from framework_runs import require, run_user_suite

from fakes.fake_llm_server import Reply, chat_chunks, chat_completion, response_object

require("agents")

USER_SUITE = '''
import asyncio, os

import openai
from agents import (Agent, ModelSettings, OpenAIChatCompletionsModel, RunConfig, Runner, function_tool,
                    set_tracing_disabled)
from agents.models.openai_provider import OpenAIProvider

set_tracing_disabled(True)  # the SDK would send its traces to OpenAI
URL = os.environ["FAKE_LLM_URL"]


def client():
    return openai.AsyncOpenAI(base_url=URL + "/v1", api_key="sk-test", max_retries=0)


def default_provider():
    # the SDK's own provider: a model given by name is its default, the Responses model
    return RunConfig(model_provider=OpenAIProvider(openai_client=client()), tracing_disabled=True)


def chat_model():
    return OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=client())


@function_tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def agent(model, tools=()):
    # include_usage: what the SDK asks of OpenAI's own URL for chat streams
    return Agent(name="writer", instructions="Be brief.", model=model, tools=list(tools),
                 model_settings=ModelSettings(include_usage=True))


def tokens(result):
    usage = result.context_wrapper.usage
    return usage.requests, usage.input_tokens, usage.output_tokens


def streamed(agent, prompt, **options):
    async def main():
        result = Runner.run_streamed(agent, prompt, **options)
        async for _ in result.stream_events():
            pass
        return result

    return asyncio.run(main())


def test_chat_completions_model():
    result = Runner.run_sync(agent(chat_model()), "[test_chat_completions_model] hi")
    assert (result.final_output, tokens(result)) == ("Hello!", (1, 42, 7))


def test_chat_completions_model_streamed_with_a_tool():
    result = streamed(agent(chat_model(), [weather]), "[test_chat_completions_model_streamed_with_a_tool] weather?")
    assert (result.final_output, tokens(result)) == ("Hello!", (2, 84, 14))


def test_chat_completions_model_tool_call():
    result = Runner.run_sync(agent(chat_model(), [weather]), "[test_chat_completions_model_tool_call] weather?")
    assert (result.final_output, tokens(result)) == ("Hello!", (2, 84, 14))


def test_default_responses_model():
    result = Runner.run_sync(agent("gpt-4.1-mini"), "[test_default_responses_model] hi", run_config=default_provider())
    assert (result.final_output, tokens(result)) == ("Hi there", (1, 36, 87))


def test_run_streamed():
    result = streamed(agent("gpt-4.1-mini"), "[test_run_streamed] hi", run_config=default_provider())
    assert (result.final_output, tokens(result)) == ("Hi there", (1, 36, 87))


def test_tool_call():
    result = Runner.run_sync(agent("gpt-4.1-mini", [weather]), "[test_tool_call] weather?",
                             run_config=default_provider())
    assert (result.final_output, tokens(result)) == ("Hi there", (2, 72, 174))


def test_run_streamed_tool_call():
    result = streamed(agent("gpt-4.1-mini", [weather]), "[test_run_streamed_tool_call] weather?",
                      run_config=default_provider())
    assert (result.final_output, tokens(result)) == ("Hi there", (2, 72, 174))


def test_run_async():
    async def main():
        return await Runner.run(agent("gpt-4.1-mini"), "[test_run_async] hi", run_config=default_provider())

    assert tokens(asyncio.run(main())) == (1, 36, 87)
'''

ARGUMENTS = json.dumps({"city": "Paris"})


def _responses_tool_call(model: str, stream: bool) -> Reply:
    item = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "weather", "arguments": ARGUMENTS,
            "status": "completed"}
    final = response_object(model)
    final["output"] = [item]
    if not stream:
        return Reply(body=final)
    created = response_object(model, status="in_progress")
    where = {"item_id": "fc_1", "output_index": 0}
    events = [
        {"type": "response.created", "response": created},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {**item, "arguments": "", "status": "in_progress"}},
        {"type": "response.function_call_arguments.delta", **where, "delta": ARGUMENTS},
        {"type": "response.function_call_arguments.done", **where, "arguments": ARGUMENTS, "name": "weather"},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": final},
    ]
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return Reply(sse=[(event["type"], event) for event in events])


def _chat_tool_call(model: str, stream: bool) -> Reply:
    call = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": ARGUMENTS}}
    if not stream:
        body = chat_completion(model)
        body["choices"][0]["message"] = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}
        body["choices"][0]["finish_reason"] = "tool_calls"
        return Reply(body=body)
    chunks = chat_chunks(model, pieces=())
    chunks[0]["choices"][0]["delta"] = {"role": "assistant", "content": None, "tool_calls": [{"index": 0, **call}]}
    chunks[1]["choices"][0]["finish_reason"] = "tool_calls"
    return Reply(sse=[(None, chunk) for chunk in chunks] + [(None, "[DONE]")])


def _tool_first(path: str, request: dict) -> Reply | None:
    """Ask for the ``weather`` tool when a request offers it and carries no tool result yet."""
    text = json.dumps(request)
    if "weather" not in json.dumps(request.get("tools") or []) or "sunny in" in text:
        return None
    stream = bool(request.get("stream"))
    if path.endswith("/responses"):
        return _responses_tool_call(request["model"], stream)
    if path.endswith("/chat/completions"):
        return _chat_tool_call(request["model"], stream)
    return None


@pytest.mark.parametrize("mode", ["telemetry", "xdist", "plain"])
def test_openai_agents_are_recorded_once_per_request(pytester: pytest.Pytester, llm, monkeypatch, mode) -> None:
    monkeypatch.setenv("FAKE_LLM_URL", llm.url)
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")
    llm.respond_with(_tool_first)
    run_user_suite(pytester, llm, mode, "test_agents.py", USER_SUITE, passed=8)
    assert len(llm.requests) == 12  # one per run, two for each tool call
    streamed = [request for path, request in llm.requests if path.endswith("/responses") and request.get("stream")]
    assert len(streamed) == 3  # run_streamed: with_streaming_response
