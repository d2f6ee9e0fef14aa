"""A real OTLP/HTTP receiver on 127.0.0.1 for tests: it accepts ``POST /v1/traces`` with a
protobuf ``ExportTraceServiceRequest`` (gzip or not), decodes it with ``opentelemetry-proto`` and
keeps every span with its resource and scope.

    with OtlpReceiver() as receiver:          # receiver.endpoint == "http://127.0.0.1:PORT"
        ...export...
        spans = receiver.wait_for(3)          # the decoded spans, as ReceivedSpan

``delay_s`` makes it slow (each request waits before answering), ``status`` makes it refuse.
"""

from __future__ import annotations

import gzip
import http.server
import socket
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    value = getattr(any_value, kind)
    if kind == "array_value":
        return [_value(v) for v in value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.values}
    return value


def _attrs(key_values: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in key_values}


@dataclass
class ReceivedSpan:
    """One decoded span: ids as lowercase hex, times in ns, attributes as plain values."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status_code: int
    status_message: str
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""
    #: The span's events: ``(name, time in ns, attributes)``.
    events: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)


class OtlpReceiver:
    """An OTLP/HTTP traces endpoint in a background thread."""

    def __init__(self, *, delay_s: float = 0.0, status: int = 200) -> None:
        self.delay_s = delay_s
        self.status = status
        self.spans: list[ReceivedSpan] = []
        self.requests: list[dict[str, str]] = []  # the headers of each request
        self._lock = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                with receiver._lock:
                    receiver.requests.append({k.lower(): v for k, v in self.headers.items()})
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                if self.path != "/v1/traces" or receiver.status != 200:
                    self.send_response(404 if self.path != "/v1/traces" else receiver.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                request = trace_service_pb2.ExportTraceServiceRequest()
                request.ParseFromString(body)
                received = []
                for resource_spans in request.resource_spans:
                    resource = _attrs(resource_spans.resource.attributes)
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            received.append(ReceivedSpan(
                                span.name, span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(),
                                span.kind, span.start_time_unix_nano, span.end_time_unix_nano,
                                _attrs(span.attributes), span.status.code, span.status.message,
                                resource, scope_spans.scope.name,
                                [(e.name, e.time_unix_nano, _attrs(e.attributes)) for e in span.events],
                            ))
                answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-protobuf")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    return  # the client gave up waiting: the spans were not delivered
                with receiver._lock:
                    receiver.spans.extend(received)
                    receiver._lock.notify_all()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[ReceivedSpan]:
        """The spans received, once there are at least ``count`` (or after ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.spans) < count and time.monotonic() < deadline:
                self._lock.wait(0.05)
            return list(self.spans)


def closed_port_endpoint() -> str:
    """An endpoint on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
