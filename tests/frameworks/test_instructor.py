"""instructor's structured outputs on OpenAI and Anthropic clients, sync and async, with and
without a validation retry, recorded by the SDK instrumentation under ``pytest --telemetry
--telemetry-instrument=openai,anthropic``: one event per request the server answered (a retry
is a second request, so a second event), with its tokens, model and genai-prices cost, under
the test that made it."""

from __future__ import annotations

import json

import pytest
from framework_runs import require, run_user_suite

from fakes.fake_llm_server import Reply, anthropic_message, chat_completion

#: instructor caps jiter below what openai>=3.4 needs: it is installed without its dependencies
#: (the others are in the ``frameworks`` extra).
require("instructor", install="pip install -e '.[dev]' && pip install --no-deps 'instructor>=1.17'")

USER_SUITE = '''
import asyncio, os
import anthropic, instructor, openai
from pydantic import BaseModel

URL = os.environ["FAKE_LLM_URL"]
CLAUDE = "claude-haiku-4-5-20251001"


class User(BaseModel):
    name: str
    age: int


def ask(name, retry=False):
    return [{"role": "user", "content": f"[{name}] {'retry' if retry else 'once'}: Ada is 36"}]


def openai_client():
    return instructor.from_openai(openai.OpenAI(base_url=URL + "/v1", api_key="sk-test", max_retries=0))


def async_openai_client():
    return instructor.from_openai(openai.AsyncOpenAI(base_url=URL + "/v1", api_key="sk-test", max_retries=0))


def anthropic_client():
    return instructor.from_anthropic(anthropic.Anthropic(base_url=URL, api_key="sk-ant-test", max_retries=0))


def async_anthropic_client():
    return instructor.from_anthropic(anthropic.AsyncAnthropic(base_url=URL, api_key="sk-ant-test", max_retries=0))


def test_openai_sync():
    user = openai_client().chat.completions.create(model="gpt-4o-mini", response_model=User,
                                                   messages=ask("test_openai_sync"))
    assert (user.name, user.age) == ("Ada", 36)


def test_openai_sync_retry():
    user, completion = openai_client().chat.completions.create_with_completion(
        model="gpt-4o-mini", response_model=User, max_retries=2, messages=ask("test_openai_sync_retry", retry=True))
    assert (user.name, user.age, completion.usage.prompt_tokens) == ("Ada", 36, 84)  # instructor adds up the attempts


def test_openai_async_retry():
    user = asyncio.run(async_openai_client().chat.completions.create(
        model="gpt-4o-mini", response_model=User, max_retries=2, messages=ask("test_openai_async_retry", retry=True)))
    assert (user.name, user.age) == ("Ada", 36)


def test_anthropic_sync():
    user = anthropic_client().messages.create(model=CLAUDE, max_tokens=1024, response_model=User,
                                              messages=ask("test_anthropic_sync"))
    assert (user.name, user.age) == ("Ada", 36)


def test_anthropic_sync_retry():
    user = anthropic_client().messages.create(model=CLAUDE, max_tokens=1024, response_model=User, max_retries=2,
                                              messages=ask("test_anthropic_sync_retry", retry=True))
    assert (user.name, user.age) == ("Ada", 36)


def test_anthropic_async():
    user = asyncio.run(async_anthropic_client().messages.create(
        model=CLAUDE, max_tokens=1024, response_model=User, messages=ask("test_anthropic_async")))
    assert (user.name, user.age) == ("Ada", 36)


def test_anthropic_async_retry():
    user = asyncio.run(async_anthropic_client().messages.create(
        model=CLAUDE, max_tokens=1024, response_model=User, max_retries=2,
        messages=ask("test_anthropic_async_retry", retry=True)))
    assert (user.name, user.age) == ("Ada", 36)


def test_retries_exhausted():
    try:
        openai_client().chat.completions.create(model="gpt-4o-mini", response_model=User, max_retries=2,
                                                messages=ask("test_retries_exhausted", retry=True) * 2)
    except Exception as exc:
        assert (type(exc).__name__, exc.n_attempts) == ("InstructorRetryException", 3)
    else:
        raise AssertionError("no retry error")
'''


def _structured(path: str, request: dict) -> Reply | None:
    """Answer instructor's tool call with a ``User``; a prompt that says ``retry`` gets a bad age
    first (the request that carries instructor's validation error back gets a good one; a
    conversation that starts with two user messages is never answered well)."""
    messages = request.get("messages") or []
    text = json.dumps(messages)
    first = len(messages) == 1
    always_bad = text.count("retry: Ada") >= 2
    good = "retry:" not in text or (not first and not always_bad)
    user = {"name": "Ada", "age": 36 if good else "thirty-six"}
    if path.endswith("/chat/completions"):
        body = chat_completion(request["model"])
        call = {"id": "call_1", "type": "function", "function": {"name": "User", "arguments": json.dumps(user)}}
        body["choices"][0]["message"] = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}
        body["choices"][0]["finish_reason"] = "tool_calls"
        return Reply(body=body)
    if path.endswith("/messages"):
        body = anthropic_message(request["model"])
        body["content"] = [{"type": "tool_use", "id": "toolu_1", "name": "User", "input": user}]
        body["stop_reason"] = "tool_use"
        return Reply(body=body)
    return None


@pytest.mark.parametrize("mode", ["telemetry", "xdist", "plain"])
def test_instructor_structured_outputs_are_recorded_once_per_request(pytester: pytest.Pytester, llm, monkeypatch,
                                                                     mode) -> None:
    monkeypatch.setenv("FAKE_LLM_URL", llm.url)
    llm.respond_with(_structured)
    run_user_suite(pytester, llm, mode, "test_structured.py", USER_SUITE, passed=8)
    # 1 + 2 + 2 (OpenAI) + 1 + 2 + 1 + 2 (Anthropic) + 3 (max_retries=2 exhausted: three attempts)
    assert len(llm.requests) == 14
