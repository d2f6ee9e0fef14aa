"""A small HTTP server on 127.0.0.1 that answers like the OpenAI and Anthropic APIs.

The real ``openai`` and ``anthropic`` SDKs are pointed at it with ``base_url``; nothing leaves the
machine. By default it answers each endpoint with the provider's documented JSON, or its
server-sent events when the request asks for a stream; :meth:`FakeLLMServer.push` scripts the next
reply instead (an error status, a delay longer than the client's timeout, custom events), and
:meth:`FakeLLMServer.respond_with` answers from the request itself (a tool call, a bad first
reply then a good one).

The payload builders (:func:`chat_completion`, :func:`anthropic_events`, ...) are public so that
tests can compare what the SDK parsed with what was sent.

Fixtures (import them into a test module): ``llm_server`` (one per session), ``llm`` (the same
server with its script and request log cleared), ``openai_client``/``async_openai_client``,
``anthropic_client``/``async_anthropic_client`` (``max_retries=0``).
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# --- payloads --------------------------------------------------------------------------------


def chat_completion(model: str = "gpt-4o-mini", prompt_tokens: int = 42, completion_tokens: int = 7,
                    cached_tokens: int = 0, reasoning_tokens: int = 0, text: str = "Hello!") -> dict:
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "system_fingerprint": "fp_1",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning_tokens, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        },
    }


def chat_chunks(model: str = "gpt-4o-mini", prompt_tokens: int = 42, completion_tokens: int = 7,
                cached_tokens: int = 0, include_usage: bool = True, pieces: Iterable[str] = ("Hel", "lo", "!")) -> list[dict]:
    base = {"id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
            "system_fingerprint": "fp_1"}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
               **({"usage": None} if include_usage else {})}]
    for piece in pieces:
        chunks.append({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                       **({"usage": None} if include_usage else {})})
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                   **({"usage": None} if include_usage else {})})
    if include_usage:
        usage = chat_completion(model, prompt_tokens, completion_tokens, cached_tokens)["usage"]
        chunks.append({**base, "choices": [], "usage": usage})
    return chunks


def response_object(model: str = "gpt-4.1-mini", input_tokens: int = 36, output_tokens: int = 87,
                    cached_tokens: int = 0, reasoning_tokens: int = 0, status: str = "completed",
                    text: str = "Hi there") -> dict:
    done = status == "completed"
    return {
        "id": "resp_123",
        "object": "response",
        "created_at": 1_741_476_542,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": [{
            "type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }] if done else [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": cached_tokens, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "total_tokens": input_tokens + output_tokens,
        } if done else None,
        "user": None,
        "metadata": {},
    }


def response_events(model: str = "gpt-4.1-mini", input_tokens: int = 36, output_tokens: int = 87,
                    cached_tokens: int = 0) -> list[tuple[str, dict]]:
    created = response_object(model, status="in_progress")
    final = response_object(model, input_tokens, output_tokens, cached_tokens)
    item = final["output"][0]
    part = item["content"][0]
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    events = [
        ("response.created", {"type": "response.created", "response": created}),
        ("response.in_progress", {"type": "response.in_progress", "response": created}),
        ("response.output_item.added", {"type": "response.output_item.added", "output_index": 0,
                                        "item": {**item, "status": "in_progress", "content": []}}),
        ("response.content_part.added", {"type": "response.content_part.added", **where,
                                         "part": {**part, "text": ""}}),
        ("response.output_text.delta", {"type": "response.output_text.delta", **where, "delta": "Hi", "logprobs": []}),
        ("response.output_text.delta", {"type": "response.output_text.delta", **where, "delta": " there",
                                        "logprobs": []}),
        ("response.output_text.done", {"type": "response.output_text.done", **where, "text": part["text"],
                                       "logprobs": []}),
        ("response.content_part.done", {"type": "response.content_part.done", **where, "part": part}),
        ("response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item}),
        ("response.completed", {"type": "response.completed", "response": final}),
    ]
    for number, (_, data) in enumerate(events):
        data["sequence_number"] = number
    return events


def anthropic_message(model: str = "claude-haiku-4-5-20251001", input_tokens: int = 25, output_tokens: int = 12,
                      cache_read: int = 0, cache_write: int = 0, text: str = "Hello!") -> dict:
    return {
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_read_input_tokens": cache_read,
            "cache_creation_input_tokens": cache_write,
            "service_tier": "standard",
        },
    }


def anthropic_events(model: str = "claude-haiku-4-5-20251001", input_tokens: int = 25,
                     output_deltas: Iterable[int] = (5, 12), cache_read: int = 0, cache_write: int = 0,
                     pieces: Iterable[str] = ("Hel", "lo!"), delta_input: bool = False) -> list[tuple[str, dict]]:
    """A message stream. ``delta_input``: each ``message_delta`` repeats the input counts beside
    the cumulative output, as the current API does (clients such as langchain-anthropic read the
    input from there)."""
    start = anthropic_message(model, input_tokens, 1, cache_read, cache_write)
    start["content"], start["stop_reason"] = [], None
    events: list[tuple[str, dict]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"}),
    ]
    for piece in pieces:
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                               "delta": {"type": "text_delta", "text": piece}}))
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    deltas = list(output_deltas)
    for number, output in enumerate(deltas):
        last = number == len(deltas) - 1
        usage = {"output_tokens": output}
        if delta_input:
            usage.update(input_tokens=input_tokens, cache_read_input_tokens=cache_read,
                         cache_creation_input_tokens=cache_write)
        events.append(("message_delta", {"type": "message_delta",
                                         "delta": {"stop_reason": "end_turn" if last else None, "stop_sequence": None},
                                         "usage": usage}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def embedding(model: str = "text-embedding-3-small", prompt_tokens: int = 8) -> dict:
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def openai_error(message: str = "Rate limit reached", kind: str = "rate_limit_error",
                 code: str | None = "rate_limit_exceeded") -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def anthropic_error(message: str = "Number of requests has exceeded your rate limit",
                    kind: str = "rate_limit_error") -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}}


# --- the server ------------------------------------------------------------------------------


class Reply:
    """One scripted reply: a JSON body with a status, or server-sent events, after a delay."""

    def __init__(self, *, status: int = 200, body: Any = None, sse: list | None = None, delay: float = 0.0,
                 headers: dict | None = None) -> None:
        self.status, self.body, self.sse, self.delay, self.headers = status, body, sse, delay, headers or {}


def _default_reply(path: str, request: dict) -> Reply:
    model = request.get("model") or "gpt-4o-mini"
    stream = bool(request.get("stream"))
    if path.endswith("/chat/completions"):
        if stream:
            include = bool((request.get("stream_options") or {}).get("include_usage"))
            return Reply(sse=[(None, chunk) for chunk in chat_chunks(model, include_usage=include)] + [(None, "[DONE]")])
        return Reply(body=chat_completion(model))
    if path.endswith("/responses"):
        if stream:
            return Reply(sse=response_events(model))
        return Reply(body=response_object(model))
    if path.endswith("/messages"):
        if stream:
            return Reply(sse=anthropic_events(model))
        return Reply(body=anthropic_message(model))
    if path.endswith("/embeddings"):
        return Reply(body=embedding(model))
    if path.endswith("/completions"):
        body = chat_completion(model)
        body["object"] = "text_completion"
        body["choices"] = [{"index": 0, "text": "Hello!", "logprobs": None, "finish_reason": "stop"}]
        return Reply(body=body)
    return Reply(status=404, body={"error": {"message": f"no route {path}", "type": "not_found"}})


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            request = {}
        owner = self.server.owner
        owner.requests.append((self.path, request))
        reply = owner.next_reply() or owner.answer(self.path, request)
        if reply.delay:
            time.sleep(reply.delay)
        try:
            if reply.sse is not None:
                self.send_response(reply.status)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.send_header("connection", "close")
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                for event, data in reply.sse:
                    text = data if isinstance(data, str) else json.dumps(data)
                    frame = (f"event: {event}\n" if event else "") + f"data: {text}\n\n"
                    self.wfile.write(frame.encode())
                    self.wfile.flush()
                self.close_connection = True
                return
            payload = json.dumps(reply.body if reply.body is not None else {}).encode()
            self.send_response(reply.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: FakeLLMServer


class FakeLLMServer:
    """The server, on a random free port of 127.0.0.1, in a daemon thread."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        self._script: collections.deque[Reply] = collections.deque()
        self._responder: Callable[[str, dict], Reply | None] | None = None
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def push(self, **reply: Any) -> None:
        """Script the next reply (see :class:`Reply`); replies are used in the order pushed."""
        with self._lock:
            self._script.append(Reply(**reply))

    def next_reply(self) -> Reply | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def respond_with(self, responder: Callable[[str, dict], Reply | None] | None) -> None:
        """Answer every request that no pushed reply answers with ``responder(path, request)``
        (``None`` from it: the default reply); unlike :meth:`push`, the reply can depend on the
        request, so tests that run in parallel (``-n 2``) get the answers meant for them."""
        self._responder = responder

    def answer(self, path: str, request: dict) -> Reply:
        responder = self._responder
        return (responder(path, request) if responder else None) or _default_reply(path, request)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self._responder = None


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def llm_server():
    server = FakeLLMServer().start()
    yield server
    server.stop()


@pytest.fixture
def llm(llm_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> FakeLLMServer:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    llm_server.reset()
    return llm_server


@pytest.fixture
def openai_client(llm: FakeLLMServer):
    import openai

    client = openai.OpenAI(base_url=llm.url + "/v1", api_key="sk-test", max_retries=0, timeout=5.0)
    yield client
    client.close()


@pytest.fixture
def async_openai_client(llm: FakeLLMServer):
    import openai

    return openai.AsyncOpenAI(base_url=llm.url + "/v1", api_key="sk-test", max_retries=0, timeout=5.0)


@pytest.fixture
def anthropic_client(llm: FakeLLMServer):
    import anthropic

    client = anthropic.Anthropic(base_url=llm.url, api_key="sk-ant-test", max_retries=0, timeout=5.0)
    yield client
    client.close()


@pytest.fixture
def async_anthropic_client(llm: FakeLLMServer):
    import anthropic

    return anthropic.AsyncAnthropic(base_url=llm.url, api_key="sk-ant-test", max_retries=0, timeout=5.0)
