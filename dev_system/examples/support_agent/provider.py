"""A fake OpenAI-compatible provider on 127.0.0.1 for the demo: no key, no network.

It answers ``POST /v1/chat/completions`` the way a model that knows only its system prompt
would: the facts of the prompt (lines ``FACT <topic>: <text>``) whose topic the question is about,
or an offer to hand over to a person. Usage is counted from the text (about four characters a
token), so a shorter prompt costs less, as it does with a real provider.

    with FakeProvider() as provider:
        os.environ["OPENAI_BASE_URL"] = provider.base_url
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: The words of a question that point to each topic of the prompt's facts.
TOPIC_WORDS = {
    "refund": ("refund", "money back"),
    "password": ("password", "sign in"),
    "pricing": ("how much", "price", "plan", "cost"),
    "export": ("export", "download"),
    "outage": ("outage", "down", "status"),
    "support": ("support", "answer", "contact"),
}
HANDOVER = "I am not sure about that one; shall I hand you over to a colleague?"
_FACT = re.compile(r"^FACT (\w+): (.+)$", re.MULTILINE)


def tokens(text: str) -> int:
    """About four characters a token, as English text runs."""
    return max(1, round(len(text) / 4))


def reply_to(messages: list[dict[str, Any]]) -> str:
    """What the fake model answers: the prompt's facts on the question's topic, else a handover."""
    system = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
    question = " ".join(str(m.get("content", "")) for m in messages if m.get("role") == "user").lower()
    facts = dict(_FACT.findall(system))
    said = [facts[topic] for topic, words in TOPIC_WORDS.items()
            if topic in facts and any(word in question for word in words)]
    return " ".join(said[:1]) if said else HANDOVER


def completion(request: dict[str, Any]) -> dict[str, Any]:
    """A chat completion in the OpenAI shape for ``request``."""
    messages = request.get("messages") or []
    text = reply_to(messages)
    prompt = tokens("".join(str(m.get("content", "")) for m in messages))
    output = tokens(text)
    return {
        "id": "chatcmpl-demo", "object": "chat.completion", "created": int(time.time()),
        "model": request.get("model", "gpt-4o-mini"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output},
    }


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # the name http.server calls
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            request = None
        if not self.path.rstrip("/").endswith("/chat/completions") or not isinstance(request, dict):
            self._send(404 if isinstance(request, dict) else 400, {"error": {"message": "not supported"}})
            return
        time.sleep(self.server.latency_s)  # type: ignore[attr-defined]
        self._send(200, completion(request))

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the demo prints its own output


class FakeProvider:
    """The fake provider, serving on an unused port of 127.0.0.1 from a thread while open."""

    def __init__(self, *, latency_s: float = 0.02) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.latency_s = latency_s  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-provider", daemon=True)

    @property
    def base_url(self) -> str:
        """The OpenAI base URL to give a client: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
