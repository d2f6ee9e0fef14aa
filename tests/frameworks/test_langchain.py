"""langchain-openai and langchain-anthropic chat models (invoke, stream, async), recorded by the SDK
instrumentation under ``pytest --telemetry --telemetry-instrument=openai,anthropic``: one event per
request the server answered, with its tokens, model and genai-prices cost, under the test that
made it, alone and with ``-n 2``; and the same outcomes without telemetry.

The paths they take through the SDKs: langchain-anthropic calls
``messages.with_raw_response.create(...)`` and ``.parse()`` for every call, streamed or not;
langchain-openai calls ``create`` directly, or ``with_raw_response.create(...)`` with
``include_response_headers=True``, on Chat Completions or (``use_responses_api=True``) Responses.
"""

from __future__ import annotations

import pytest
from framework_runs import require, run_user_suite

from fakes.fake_llm_server import Reply, anthropic_events

require("langchain_openai")
require("langchain_anthropic")

USER_SUITE = '''
import asyncio, os

from langchain_anthropic import ChatAnthropic
from langchain_openai import ChatOpenAI

URL = os.environ["FAKE_LLM_URL"]


def gpt(**options):
    # stream_usage: ask for the usage chunk (langchain asks for it by itself only on OpenAI's own URL)
    return ChatOpenAI(model="gpt-4o-mini", base_url=URL + "/v1", api_key="sk-test", max_retries=0,
                      stream_usage=True, **options)


def gpt_responses():
    return ChatOpenAI(model="gpt-4.1-mini", base_url=URL + "/v1", api_key="sk-test", max_retries=0,
                      use_responses_api=True)


def claude():
    return ChatAnthropic(model="claude-haiku-4-5", base_url=URL, api_key="sk-ant-test", max_retries=0,
                         max_tokens=64)


def streamed(model, prompt):
    chunks = list(model.stream(prompt))
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    return total


async def astreamed(model, prompt):
    total = None
    async for chunk in model.astream(prompt):
        total = chunk if total is None else total + chunk
    return total


def tokens(message):
    return message.usage_metadata["input_tokens"], message.usage_metadata["output_tokens"]


def test_openai_invoke():
    reply = gpt().invoke("[test_openai_invoke] hi")
    assert (reply.content, tokens(reply)) == ("Hello!", (42, 7))


def test_openai_stream():
    reply = streamed(gpt(), "[test_openai_stream] hi")
    assert (reply.content, tokens(reply)) == ("Hello!", (42, 7))


def test_openai_async():
    async def main():
        return await gpt().ainvoke("[test_openai_async] hi"), await astreamed(gpt(), "[test_openai_async] hi")

    for reply in asyncio.run(main()):
        assert (reply.content, tokens(reply)) == ("Hello!", (42, 7))


def test_openai_with_response_headers():
    model = gpt(include_response_headers=True)  # with_raw_response.create(...) and .parse()
    reply = model.invoke("[test_openai_with_response_headers] hi")
    assert tokens(reply) == (42, 7) and "headers" in reply.response_metadata
    assert tokens(streamed(model, "[test_openai_with_response_headers] hi")) == (42, 7)


def test_openai_responses_api():
    async def main():
        return (await gpt_responses().ainvoke("[test_openai_responses_api] hi"),
                await astreamed(gpt_responses(), "[test_openai_responses_api] hi"))

    replies = [gpt_responses().invoke("[test_openai_responses_api] hi"),
               streamed(gpt_responses(), "[test_openai_responses_api] hi"), *asyncio.run(main())]
    assert [tokens(reply) for reply in replies] == [(36, 87)] * 4


def test_anthropic_invoke():
    reply = claude().invoke("[test_anthropic_invoke] hi")
    assert (reply.content, tokens(reply)) == ("Hello!", (25, 12))


def test_anthropic_stream():
    reply = streamed(claude(), "[test_anthropic_stream] hi")
    assert (reply.content, tokens(reply)) == ("Hello!", (25, 12))


def test_anthropic_async():
    async def main():
        return await claude().ainvoke("[test_anthropic_async] hi"), await astreamed(claude(), "[test_anthropic_async] hi")

    for reply in asyncio.run(main()):
        assert (reply.content, tokens(reply)) == ("Hello!", (25, 12))
'''


def _current_anthropic_stream(path: str, request: dict) -> Reply | None:
    """Anthropic streams as the API sends them today: one ``message_delta`` with the input counts
    beside the output (langchain-anthropic reads its usage from there), the usage of a plain reply."""
    if path.endswith("/messages") and request.get("stream"):
        return Reply(sse=anthropic_events(request["model"], output_deltas=(12,), delta_input=True))
    return None


@pytest.mark.parametrize("mode", ["telemetry", "xdist", "plain"])
def test_langchain_chat_models_are_recorded_once_per_request(pytester: pytest.Pytester, llm, monkeypatch,
                                                             mode) -> None:
    monkeypatch.setenv("FAKE_LLM_URL", llm.url)
    llm.respond_with(_current_anthropic_stream)
    run_user_suite(pytester, llm, mode, "test_chains.py", USER_SUITE, passed=8)
    assert len(llm.requests) == 14
