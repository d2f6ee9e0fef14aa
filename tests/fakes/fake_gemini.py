"""A small HTTP server on 127.0.0.1 that answers like the Gemini API (``generateContent`` and
``streamGenerateContent``), for the real ``google-genai`` SDK pointed at it with
``http_options={"base_url": server.url}``; nothing leaves the machine.

By default ``POST /{version}/models/{model}:generateContent`` answers :func:`gemini_response` and
``...:streamGenerateContent?alt=sse`` answers :func:`gemini_chunks` as server-sent events, with the
model of the URL as ``modelVersion``. :meth:`FakeGemini.push` scripts the next reply instead (an
error status, custom chunks, a body without usage).

Fixtures (import them into a test module): ``gemini_server`` (one per session), ``gemini`` (the
same server with its script and request log cleared), ``gemini_client`` (``google.genai.Client``
with retries off).
"""

from __future__ import annotations

import collections
import json
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# --- payloads --------------------------------------------------------------------------------


def usage_metadata(prompt: int = 31, candidates: int = 9, cached: int = 0, thoughts: int = 0,
                   tool_use_prompt: int = 0) -> dict:
    """A ``usageMetadata`` block as the Gemini API writes it (zero counts left out, as it does)."""
    usage = {"promptTokenCount": prompt, "candidatesTokenCount": candidates,
             "totalTokenCount": prompt + candidates + thoughts + tool_use_prompt}
    if cached:
        usage["cachedContentTokenCount"] = cached
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if tool_use_prompt:
        usage["toolUsePromptTokenCount"] = tool_use_prompt
    return usage


def gemini_response(model: str = "gemini-2.5-flash", text: str = "Hello!", usage: dict | None = None,
                    **counts: int) -> dict:
    """A ``GenerateContentResponse`` body; ``counts`` go to :func:`usage_metadata` unless ``usage`` is given."""
    body = {
        "candidates": [{
            "content": {"parts": [{"text": text}], "role": "model"},
            "finishReason": "STOP",
            "index": 0,
        }],
        "usageMetadata": usage if usage is not None else usage_metadata(**counts),
        "modelVersion": model,
        "responseId": "resp-gemini-1",
    }
    return body


def gemini_chunks(model: str = "gemini-2.5-flash", pieces: Iterable[str] = ("Hel", "lo", "!"),
                  **counts: int) -> list[dict]:
    """Stream chunks as the Gemini API sends them: every chunk carries ``usageMetadata`` with the
    prompt count; the candidates (and thoughts) counts grow and the last chunk has the totals."""
    final = usage_metadata(**counts)
    pieces = list(pieces)
    chunks = []
    for number, piece in enumerate(pieces):
        last = number == len(pieces) - 1
        usage = dict(final) if last else {"promptTokenCount": final["promptTokenCount"],
                                          "candidatesTokenCount": number + 1,
                                          "totalTokenCount": final["promptTokenCount"] + number + 1}
        candidate: dict = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
        if last:
            candidate["finishReason"] = "STOP"
        chunks.append({"candidates": [candidate], "usageMetadata": usage, "modelVersion": model,
                       "responseId": "resp-gemini-1"})
    return chunks


def gemini_error(status: int = 429, message: str = "Resource has been exhausted (e.g. check quota).",
                 reason: str = "RESOURCE_EXHAUSTED") -> dict:
    return {"error": {"code": status, "message": message, "status": reason}}


# --- the server ------------------------------------------------------------------------------


class Reply:
    """One scripted reply: a JSON body with a status, or server-sent event data (one JSON per chunk)."""

    def __init__(self, *, status: int = 200, body: Any = None, chunks: list | None = None) -> None:
        self.status, self.body, self.chunks = status, body, chunks


def _model_of(path: str) -> str:
    # /v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse
    name = path.split("?", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0]


def _default_reply(path: str) -> Reply:
    model = _model_of(path)
    route = path.split("?", 1)[0]
    if route.endswith(":streamGenerateContent"):
        return Reply(chunks=gemini_chunks(model))
    if route.endswith(":generateContent"):
        return Reply(body=gemini_response(model))
    return Reply(status=404, body=gemini_error(404, f"no route {path}", "NOT_FOUND"))


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
        reply = owner.next_reply() or _default_reply(self.path)
        try:
            if reply.chunks is not None:
                self.send_response(reply.status)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                for chunk in reply.chunks:
                    text = chunk if isinstance(chunk, str) else json.dumps(chunk)
                    self.wfile.write(f"data: {text}\r\n\r\n".encode())
                    self.wfile.flush()
                self.close_connection = True
                return
            payload = json.dumps(reply.body if reply.body is not None else {}).encode()
            self.send_response(reply.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: FakeGemini


class FakeGemini:
    """The server, on a random free port of 127.0.0.1, in a daemon thread."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        self._script: collections.deque[Reply] = collections.deque()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGemini:
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

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()


def client_for(url: str) -> Any:
    """A ``google.genai.Client`` talking to ``url``, with no retries."""
    from google import genai
    from google.genai import types

    options = types.HttpOptions(base_url=url, timeout=5_000, retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key="gemini-test-key", http_options=options)


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def gemini_server():
    server = FakeGemini().start()
    yield server
    server.stop()


@pytest.fixture
def gemini(gemini_server: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> FakeGemini:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    gemini_server.reset()
    return gemini_server


@pytest.fixture
def gemini_client(gemini: FakeGemini):
    client = client_for(gemini.url)
    yield client
    client.close()
