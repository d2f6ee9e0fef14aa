"""Token usage read from the providers' real response shapes: SDK objects, dicts, JSON, streams."""

from __future__ import annotations

import json

import pytest
from anthropic.types import Message, RawMessageStreamEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from dev_system.record.usage import StreamUsage, Usage, usage_from
from fakes.fake_llm_server import (
    anthropic_events,
    anthropic_message,
    chat_chunks,
    chat_completion,
    embedding,
    response_events,
    response_object,
)

tokens = st.integers(min_value=0, max_value=2_000_000)
_anthropic_event = TypeAdapter(RawMessageStreamEvent)
_response_event = TypeAdapter(ResponseStreamEvent)


def _three_shapes(sdk_object):
    """The SDK object, its model_dump() and the JSON an HTTP call would give."""
    return sdk_object, sdk_object.model_dump(), json.loads(sdk_object.model_dump_json())


# --- one response ----------------------------------------------------------------------------


def test_openai_chat_completion_counts_prompt_and_completion_with_details():
    body = chat_completion("gpt-4o-mini-2024-07-18", prompt_tokens=1200, completion_tokens=300,
                           cached_tokens=1024, reasoning_tokens=64)
    usage = usage_from(ChatCompletion.model_validate(body))
    assert usage == Usage(1200, 300, "gpt-4o-mini-2024-07-18",
                          {"provider": "openai", "cached_input_tokens": 1024, "reasoning_tokens": 64})


def test_openai_responses_api_counts_input_and_output_with_details():
    body = response_object("o4-mini", input_tokens=500, output_tokens=900, cached_tokens=100, reasoning_tokens=700)
    usage = usage_from(Response.model_validate(body))
    assert usage == Usage(500, 900, "o4-mini",
                          {"provider": "openai", "cached_input_tokens": 100, "reasoning_tokens": 700})


def test_anthropic_input_adds_cache_reads_and_cache_writes():
    body = anthropic_message("claude-haiku-4-5", input_tokens=21, output_tokens=393, cache_read=1500, cache_write=188)
    usage = usage_from(Message.model_validate(body))
    assert usage == Usage(21 + 1500 + 188, 393, "claude-haiku-4-5",
                          {"provider": "anthropic", "cached_input_tokens": 1500, "cache_write_tokens": 188})


def test_embeddings_have_no_output_tokens():
    usage = usage_from(CreateEmbeddingResponse.model_validate(embedding(prompt_tokens=8)))
    assert (usage.input_tokens, usage.output_tokens, usage.model) == (8, 0, "text-embedding-3-small")


def test_a_bare_usage_block_and_a_usage_are_read_too():
    block = chat_completion(prompt_tokens=3, completion_tokens=4)["usage"]
    assert usage_from(block)[:2] == (3, 4)
    known = Usage(1, 2, "m", {})
    assert usage_from(known) is known


def test_gemini_style_usage_metadata():
    body = {"modelVersion": "gemini-2.0-flash",
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 2}}
    assert usage_from(body) == Usage(10, 7, "gemini-2.0-flash", {"provider": "google", "reasoning_tokens": 2})


@pytest.mark.parametrize("result", [
    None, "text", b"bytes", 3, 2.5, True, [], {}, {"usage": None}, {"model": "gpt-4o"}, object(),
    {"usage": "garbage"}, {"usage": {"prompt_tokens": "many"}}, {"usage": {"input_tokens": -5}},
])
def test_no_usage_is_none_not_zero(result):
    assert usage_from(result) is None


class _Exploding:
    def __getattr__(self, name):
        raise RuntimeError("boom")


def test_an_object_that_raises_on_access_gives_none():
    assert usage_from(_Exploding()) is None
    stream = StreamUsage()
    stream.feed(_Exploding())
    assert stream.usage() is None


@settings(max_examples=60, deadline=None)
@given(prompt=tokens, completion=tokens, cached=tokens, reasoning=tokens)
def test_chat_completion_object_dict_and_json_agree(prompt, completion, cached, reasoning):
    sdk = ChatCompletion.model_validate(chat_completion("gpt-4o", prompt, completion, cached, reasoning))
    shapes = [usage_from(shape) for shape in _three_shapes(sdk)]
    assert shapes[0] == shapes[1] == shapes[2]
    assert shapes[0].input_tokens == prompt and shapes[0].output_tokens == completion


@settings(max_examples=60, deadline=None)
@given(inp=tokens, out=tokens, cached=tokens, reasoning=tokens)
def test_responses_object_dict_and_json_agree(inp, out, cached, reasoning):
    sdk = Response.model_validate(response_object("gpt-4.1", inp, out, cached, reasoning))
    shapes = [usage_from(shape) for shape in _three_shapes(sdk)]
    assert shapes[0] == shapes[1] == shapes[2]
    assert (shapes[0].input_tokens, shapes[0].output_tokens) == (inp, out)


@settings(max_examples=60, deadline=None)
@given(inp=tokens, out=tokens, read=tokens, write=tokens)
def test_anthropic_object_dict_and_json_agree(inp, out, read, write):
    sdk = Message.model_validate(anthropic_message("claude-haiku-4-5", inp, out, read, write))
    shapes = [usage_from(shape) for shape in _three_shapes(sdk)]
    assert shapes[0] == shapes[1] == shapes[2]
    assert shapes[0].input_tokens == inp + read + write
    assert shapes[0].output_tokens == out


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["usage", "model", "type", "message", "response", "input_tokens", "output_tokens",
                         "prompt_tokens", "completion_tokens", "cache_read_input_tokens", "chunk", "x"]),
        children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_usage_from_and_stream_feed_never_raise(value):
    result = usage_from(value)
    assert result is None or isinstance(result, Usage)
    stream = StreamUsage()
    stream.feed(value)
    stream.feed(value)
    assert stream.usage() is None or isinstance(stream.usage(), Usage)


# --- streams ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(inp=tokens, read=tokens, write=tokens, deltas=st.lists(tokens, min_size=1, max_size=5))
def test_anthropic_stream_takes_input_from_start_and_the_last_cumulative_output(inp, read, write, deltas):
    events = [data for _, data in anthropic_events("claude-haiku-4-5", inp, deltas, read, write)]
    as_dicts, as_objects = StreamUsage(), StreamUsage()
    for data in events:
        as_dicts.feed(data)
        if data["type"] != "ping":  # the SDK drops pings
            as_objects.feed(_anthropic_event.validate_python(data))
    expected = usage_from(Message.model_validate(
        anthropic_message("claude-haiku-4-5", inp, deltas[-1], read, write)))
    assert as_dicts.usage() == as_objects.usage() == expected


def test_anthropic_message_delta_with_cumulative_input_replaces_it():
    stream = StreamUsage()
    for _, data in anthropic_events(input_tokens=10, output_deltas=(3,)):
        if data["type"] == "message_delta":
            data["usage"].update(input_tokens=12, cache_read_input_tokens=100, cache_creation_input_tokens=0)
        stream.feed(data)
    assert stream.usage()[:2] == (112, 3)


@settings(max_examples=60, deadline=None)
@given(prompt=tokens, completion=tokens, cached=tokens)
def test_openai_chat_stream_usage_is_the_final_chunk_usage(prompt, completion, cached):
    chunks = chat_chunks("gpt-4o-mini", prompt, completion, cached)
    stream = StreamUsage()
    for data in chunks:
        stream.feed(ChatCompletionChunk.model_validate(data))
    expected = usage_from(ChatCompletion.model_validate(chat_completion("gpt-4o-mini", prompt, completion, cached)))
    assert stream.usage() == expected
    assert stream.chunks == len(chunks)


def test_openai_chat_stream_without_include_usage_is_unknown_but_knows_the_model():
    stream = StreamUsage()
    for data in chat_chunks("gpt-4o-mini", include_usage=False):
        stream.feed(ChatCompletionChunk.model_validate(data))
    assert stream.usage() is None
    assert stream.model == "gpt-4o-mini"


@settings(max_examples=40, deadline=None)
@given(inp=tokens, out=tokens, cached=tokens)
def test_responses_stream_usage_is_the_completed_response_usage(inp, out, cached):
    stream = StreamUsage()
    for _, data in response_events("gpt-4.1-mini", inp, out, cached):
        stream.feed(_response_event.validate_python(data))
    assert stream.usage() == usage_from(Response.model_validate(response_object("gpt-4.1-mini", inp, out, cached)))


def test_gemini_stream_usage_is_cumulative():
    stream = StreamUsage()
    for candidates in (2, 5, 9):
        stream.feed({"modelVersion": "gemini-2.0-flash",
                     "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": candidates}})
    assert stream.usage() == Usage(10, 9, "gemini-2.0-flash", {"provider": "google"})


def test_text_chunks_carry_no_usage():
    stream = StreamUsage()
    for piece in ("a", "b", b"c", None, 3):
        stream.feed(piece)
    assert stream.usage() is None
