"""Token usage from what the providers really return.

:func:`usage_from` reads the usage of one result in every shape a user meets: OpenAI Chat
Completions, OpenAI Responses, Anthropic Messages, Gemini, their stream events, and the same
objects as plain dicts (``model_dump()`` output or JSON from an HTTP call). :class:`StreamUsage`
accumulates the usage carried by the chunks of a stream. Pricing a usage is the job of
:mod:`dev_system.record.pricing`.

Token conventions, the same for every provider: ``input_tokens`` counts every input token, cached
or not (for Anthropic, ``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``;
for Gemini, ``promptTokenCount + toolUsePromptTokenCount``); ``output_tokens`` includes reasoning
tokens (Gemini: ``candidatesTokenCount + thoughtsTokenCount``). The detail goes into :attr:`Usage.details`:
``cached_input_tokens`` (cache reads), ``cache_write_tokens``, ``reasoning_tokens`` and the
``provider`` the shape came from.

Nothing here raises: a shape that cannot be read gives ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["Usage", "usage_from", "StreamUsage", "get_field", "token_count"]


class Usage(NamedTuple):
    """The token usage of one model call (``None`` = unknown, not zero)."""

    input_tokens: int | None
    output_tokens: int | None
    model: str | None
    details: dict

    @property
    def provider(self) -> str | None:
        return self.details.get("provider")


_MISSING = object()


def get_field(obj: Any, name: str, default: Any = None) -> Any:
    """``obj[name]`` for a mapping, ``obj.name`` otherwise; ``default`` when absent."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    try:
        return getattr(obj, name, default)
    except Exception:
        return default


def _has(obj: Any, name: str) -> bool:
    if isinstance(obj, Mapping):
        return name in obj
    try:
        return _get(obj, name, _MISSING) is not _MISSING
    except Exception:
        return False


def token_count(value: Any) -> int | None:
    """``value`` as a count of tokens: a non-negative whole number, else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value >= 0 and value == value and value != float("inf"):
        return int(value)
    return None


#: Stream event types that never carry usage (content deltas and the like).
_NO_USAGE_EVENTS = ("content_block", "content.", "text", "input_json", "thinking", "citation", "signature",
                    "tool_calls.", "refusal.", "logprobs.")

# Short names for the readers below, which use them on every line.
_get = get_field
_int = token_count


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _put(details: dict, key: str, value: Any) -> None:
    number = _int(value)
    if number:
        details[key] = number


# --- one usage block -------------------------------------------------------------------------


def _openai_chat_usage(usage: Any, model: str | None) -> Usage:
    prompt = _int(_get(usage, "prompt_tokens"))
    completion = _int(_get(usage, "completion_tokens"))
    if completion is None and prompt is not None:
        # Embeddings report prompt and total only: no output at all.
        total = _int(_get(usage, "total_tokens"))
        if total is not None and total >= prompt:
            completion = total - prompt
    details: dict = {"provider": "openai"}
    _put(details, "cached_input_tokens", _get(_get(usage, "prompt_tokens_details"), "cached_tokens"))
    _put(details, "cache_write_tokens", _get(_get(usage, "prompt_tokens_details"), "cache_write_tokens"))
    _put(details, "audio_input_tokens", _get(_get(usage, "prompt_tokens_details"), "audio_tokens"))
    _put(details, "reasoning_tokens", _get(_get(usage, "completion_tokens_details"), "reasoning_tokens"))
    _put(details, "audio_output_tokens", _get(_get(usage, "completion_tokens_details"), "audio_tokens"))
    return Usage(prompt, completion, model, details)


def _openai_responses_usage(usage: Any, model: str | None) -> Usage:
    details: dict = {"provider": "openai"}
    _put(details, "cached_input_tokens", _get(_get(usage, "input_tokens_details"), "cached_tokens"))
    _put(details, "cache_write_tokens", _get(_get(usage, "input_tokens_details"), "cache_write_tokens"))
    _put(details, "reasoning_tokens", _get(_get(usage, "output_tokens_details"), "reasoning_tokens"))
    return Usage(_int(_get(usage, "input_tokens")), _int(_get(usage, "output_tokens")), model, details)


def _anthropic_input(usage: Any) -> tuple[int | None, dict]:
    """Anthropic's full input count (uncached + cache reads + cache writes) and its detail."""
    uncached = _int(_get(usage, "input_tokens"))
    read = _int(_get(usage, "cache_read_input_tokens")) or 0
    write = _int(_get(usage, "cache_creation_input_tokens")) or 0
    details: dict = {"provider": "anthropic"}
    _put(details, "cached_input_tokens", read)
    _put(details, "cache_write_tokens", write)
    _put(details, "reasoning_tokens", _get(_get(usage, "output_tokens_details"), "thinking_tokens"))
    creation = _get(usage, "cache_creation")
    if creation is not None:
        _put(details, "cache_write_1h_tokens", _get(creation, "ephemeral_1h_input_tokens"))
    if uncached is None:
        return None, details
    return uncached + read + write, details


def _anthropic_usage(usage: Any, model: str | None) -> Usage:
    total_input, details = _anthropic_input(usage)
    return Usage(total_input, _int(_get(usage, "output_tokens")), model, details)


def _gemini_usage(usage: Any, model: str | None) -> Usage:
    details: dict = {"provider": "google"}
    prompt = _int(_get(usage, "promptTokenCount", _get(usage, "prompt_token_count")))
    tool_prompt = _int(_get(usage, "toolUsePromptTokenCount", _get(usage, "tool_use_prompt_token_count")))
    if prompt is not None and tool_prompt:  # tool results fed back to the model: input too
        prompt += tool_prompt
        details["tool_use_prompt_tokens"] = tool_prompt
    candidates = _int(_get(usage, "candidatesTokenCount", _get(usage, "candidates_token_count")))
    thoughts = _int(_get(usage, "thoughtsTokenCount", _get(usage, "thoughts_token_count")))
    _put(details, "cached_input_tokens", _get(usage, "cachedContentTokenCount", _get(usage, "cached_content_token_count")))
    _put(details, "reasoning_tokens", thoughts)
    output = None if candidates is None else candidates + (thoughts or 0)
    return Usage(prompt, output, model, details)


def _usage_block(usage: Any, owner: Any, model: str | None) -> Usage | None:
    """Read one usage block, choosing the provider's convention from the keys it has."""
    if usage is None or isinstance(usage, (str, bytes, int, float)):
        return None
    if _has(usage, "prompt_tokens") or _has(usage, "completion_tokens"):
        return _openai_chat_usage(usage, model)
    if _has(usage, "cache_read_input_tokens") or _has(usage, "cache_creation_input_tokens"):
        return _anthropic_usage(usage, model)
    if _has(usage, "input_tokens_details") or _has(usage, "output_tokens_details"):
        return _openai_responses_usage(usage, model)
    if _has(usage, "input_tokens") or _has(usage, "output_tokens"):
        kind = _get(owner, "type")
        if kind in ("message", "message_start", "message_delta") or _has(usage, "server_tool_use"):
            return _anthropic_usage(usage, model)
        if _get(owner, "object") == "response":
            return _openai_responses_usage(usage, model)
        return Usage(_int(_get(usage, "input_tokens")), _int(_get(usage, "output_tokens")), model, {})
    if _has(usage, "promptTokenCount") or _has(usage, "prompt_token_count"):
        return _gemini_usage(usage, model)
    return None


def _known(usage: Usage | None) -> Usage | None:
    if usage is None or (usage.input_tokens is None and usage.output_tokens is None):
        return None
    return usage


def usage_from(result: Any) -> Usage | None:
    """The token usage carried by ``result``, or ``None`` when it carries none.

    ``result`` may be an SDK response object (pydantic model), the same as a dict, a stream event
    that carries usage (Anthropic ``message_start``/``message_delta``, OpenAI ``response.completed``,
    the final chat chunk), a bare usage block, or a :class:`Usage`. Never raises.
    """
    try:
        return _usage_from(result)
    except Exception:
        return None


def _usage_from(result: Any) -> Usage | None:
    if result is None or isinstance(result, (str, bytes, bytearray, int, float, bool)):
        return None
    if isinstance(result, Usage):
        return result
    kind = _get(result, "type")
    if kind == "message_start" or (kind == "message_stop" and _get(result, "message") is not None):
        return _usage_from(_get(result, "message"))
    if isinstance(kind, str) and kind.startswith("response.") and _get(result, "response") is not None:
        return _usage_from(_get(result, "response"))
    if kind == "chunk" and _get(result, "chunk") is not None:  # openai chat stream helper event
        return _usage_from(_get(result, "chunk"))
    model = _str(_get(result, "model")) or _str(_get(result, "modelVersion")) or _str(_get(result, "model_version"))
    usage = _get(result, "usage")
    if usage is None:
        usage = _get(result, "usageMetadata", _get(result, "usage_metadata"))
    if usage is not None:
        return _known(_usage_block(usage, result, model))
    # A bare usage block.
    return _known(_usage_block(result, None, None))


# --- streams ---------------------------------------------------------------------------------


class StreamUsage:
    """Accumulates the usage carried by the chunks of one stream.

    OpenAI chat streams carry usage on their final chunk only (with
    ``stream_options={"include_usage": True}``); OpenAI Responses streams on ``response.completed``
    (or ``.incomplete``/``.failed``); Anthropic streams give the input in ``message_start`` and a
    cumulative output count in each ``message_delta`` (the last one wins, they are not summed).
    """

    __slots__ = ("_input", "_output", "_model", "_details", "chunks")

    def __init__(self) -> None:
        self._input: int | None = None
        self._output: int | None = None
        self._model: str | None = None
        self._details: dict = {}
        self.chunks = 0

    @property
    def model(self) -> str | None:
        """The model named by the stream, even when it carried no usage."""
        return self._model

    def feed(self, chunk: Any) -> None:
        """Take the usage (if any) of one chunk. Never raises."""
        self.chunks += 1
        if chunk is None or isinstance(chunk, (str, bytes, bytearray)):
            return
        try:
            self._feed(chunk)
        except Exception:
            pass

    def _replace(self, usage: Usage | None) -> None:
        if usage is None:
            return
        if usage.input_tokens is not None:
            self._input = usage.input_tokens
        if usage.output_tokens is not None:
            self._output = usage.output_tokens
        if usage.model:
            self._model = usage.model
        self._details.update(usage.details)

    def _feed(self, chunk: Any) -> None:
        kind = _get(chunk, "type")
        if kind == "message_delta":
            usage = _get(chunk, "usage")
            if usage is None:
                return
            output = _int(_get(usage, "output_tokens"))
            if output is not None:
                self._output = output
            total_input, details = _anthropic_input(usage)
            if total_input is not None:  # newer API versions repeat the (cumulative) input here
                self._input = total_input
                self._details.update(details)
            elif "reasoning_tokens" in details:
                self._details["reasoning_tokens"] = details["reasoning_tokens"]
            self._details.setdefault("provider", "anthropic")
            return
        if kind == "message_start":
            message = _get(chunk, "message")
            model = _str(_get(message, "model"))
            if model:
                self._model = model
            self._replace(_usage_block(_get(message, "usage"), message, model))
            return
        if kind == "chunk" and _get(chunk, "chunk") is not None:
            self._feed(_get(chunk, "chunk"))
            return
        if isinstance(kind, str):
            if kind.startswith("response."):
                response = _get(chunk, "response")
                if response is not None:
                    model = _str(_get(response, "model"))
                    if model:
                        self._model = model
                    self._replace(_usage_from(response))
                return
            if kind == "message_stop":
                self._replace(_usage_from(chunk))
                return
            if kind.startswith(_NO_USAGE_EVENTS):
                return
        model = _str(_get(chunk, "model")) or _str(_get(chunk, "modelVersion")) or _str(_get(chunk, "model_version"))
        if model:
            self._model = model
        usage = _get(chunk, "usage")
        if usage is None:  # Gemini: cumulative usage on every chunk
            usage = _get(chunk, "usageMetadata", _get(chunk, "usage_metadata"))
        if usage is not None:
            self._replace(_usage_block(usage, chunk, model))

    def usage(self) -> Usage | None:
        """The accumulated usage, or ``None`` when the stream carried none (unknown, not zero)."""
        if self._input is None and self._output is None:
            return None
        return Usage(self._input, self._output, self._model, dict(self._details))
