"""The SDKs' raw responses whose body the caller reads: ``.with_raw_response.create(stream=True)``
and ``.with_streaming_response.create(...)``.

The instrumented call returns before any of the body is read, so its event cannot end there. The
response object is watched instead: it becomes an instance of a subclass of its own class (same
name, ``isinstance`` holds) whose ``parse``, ``read``, ``iter_bytes``, ``iter_text``,
``iter_lines`` and ``close`` call the SDK's and see what the caller reads.

- ``parse()`` of a streamed call gives the SDK's stream, which is handed to the stream watcher:
  the event ends with the stream, with the usage its chunks carried.
- ``parse()``, ``read()``, ``text()`` or ``json()`` of a call that was not streamed: the body
  (already read by the SDK) gives the usage, and the event ends.
- ``iter_bytes()``, ``iter_text()`` or ``iter_lines()``: the bytes go through a decoder of JSON
  or server-sent events on their way to the caller; the event ends with the body.
- ``close()`` (also at the end of the ``with`` block) before the body was read to its end, or a
  response dropped unread: the event ends as closed early, with whatever usage had been read.
"""

from __future__ import annotations

import codecs
import functools
import inspect
import json
import threading
import weakref
from collections.abc import Callable
from typing import Any

from dev_system.problems import report_problem

RAW_HEADER = "X-Stainless-Raw-Response"


def raw_mode(kwargs: dict) -> str | None:
    """``"raw"`` for a ``.with_raw_response`` call, ``"stream"`` for ``.with_streaming_response``,
    None for a plain call."""
    try:
        mode = (kwargs.get("extra_headers") or {}).get(RAW_HEADER)
    except Exception:
        return None
    if mode in ("true", "raw"):
        return "raw"
    if mode == "stream":
        return "stream"
    return None


def body_unread(result: Any, kwargs: dict) -> bool:
    """True when ``result`` is a raw response whose body the caller is still to read."""
    mode = raw_mode(kwargs)
    if mode is None or not callable(getattr(result, "parse", None)):
        return False
    return mode == "stream" or bool(kwargs.get("stream"))


class _Body:
    """What the caller has read of one response body, decoded as JSON or as server-sent events."""

    __slots__ = ("span", "sse", "hand_to_stream", "parts", "line", "data", "decoder", "done", "handed",
                 "finalizer")

    def __init__(self, span: Any, sse: bool, hand_to_stream: Callable[[Any], bool]) -> None:
        self.span, self.sse, self.hand_to_stream = span, sse, hand_to_stream
        self.parts: list[str] = []
        self.line = ""
        self.data: list[str] = []
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.done = False  # the event has ended
        self.handed = False  # the SDK's stream watcher owns the event now
        self.finalizer: Any = None

    def add_bytes(self, chunk: bytes) -> None:
        self.add_text(self.decoder.decode(chunk))

    def add_text(self, text: str) -> None:
        if not self.sse:
            self.parts.append(text)
            return
        lines = (self.line + text).split("\n")
        self.line = lines.pop()
        for line in lines:
            self._sse_line(line.rstrip("\r"))

    def add_line(self, line: str) -> None:
        self.add_text(line + "\n")

    def _sse_line(self, line: str) -> None:
        if not line:
            self._dispatch()
        elif line.startswith("data:"):
            value = line[5:]
            self.data.append(value[1:] if value.startswith(" ") else value)

    def _dispatch(self) -> None:
        if not self.data:
            return
        text, self.data = "\n".join(self.data), []
        if text.strip() == "[DONE]":
            return
        try:
            self.span.feed(json.loads(text))
        except ValueError:
            pass

    def finish(self, exc: BaseException | None = None) -> None:
        """The body has been read to its end (or failed): end the event."""
        if self.done or self.handed:
            return
        self.done = True
        if exc is None:
            self._flush()
        self.span.end(exc)
        self._detach()

    def end_early(self) -> None:
        """Closed or dropped: the event ends as closed early, unless it has ended already."""
        if self.done:
            return
        self.done = True
        if self.handed:  # a no-op when the stream has been read to its end
            self.span.end(closed_early=True)
            return
        if self.sse:
            self._flush()
        self.span.end(closed_early=True)
        self._detach()

    def hand_over(self) -> None:
        self.handed = True
        self._detach()

    def _flush(self) -> None:
        try:
            if self.sse:
                self.add_text(self.decoder.decode(b"", final=True) + "\n\n")
            else:
                text = "".join(self.parts) + self.decoder.decode(b"", final=True)
                if text.strip():
                    self.span.set_result(json.loads(text))
        except ValueError:
            pass

    def _detach(self) -> None:
        if self.finalizer is not None:
            self.finalizer.detach()
            self.finalizer = None


def _end_dropped(body: _Body) -> None:
    body.end_early()


#: Where a watched response keeps its :class:`_Body`, in its ``__dict__``.
_BODY = "_dev_system_body"
_lock = threading.Lock()
#: SDK response class -> its watched subclass
_subclasses: dict[type, type] = {}


def watch_response(response: Any, span: Any, sse: bool, hand_to_stream: Callable[[Any], bool]) -> Any:
    """Watch ``response`` (the SDK's raw response object, returned as it is) so that ``span`` ends
    when its body has been read, parsed into a stream that ends, closed or dropped.
    ``hand_to_stream(parsed)`` gives a parsed stream to the stream watcher (True when it did).

    The response's class becomes a subclass of its own (same name, ``isinstance`` holds) whose
    methods see what the caller reads; its state sits in the instance and holds no reference to
    the response, so a response dropped unread is finalised at once."""
    try:
        body = _Body(span, sse, hand_to_stream)
        watched = _watched_class(type(response))
        response.__dict__[_BODY] = body
        response.__class__ = watched
        body.finalizer = weakref.finalize(response, _end_dropped, body)
    except Exception as exc:
        report_problem("instrument-response", f"a raw response could not be watched, its usage is unknown: {exc!r}")
        span.end()
    return response


def _watched_class(cls: type) -> type:
    if getattr(cls, _BODY + "_class", False):
        return cls
    with _lock:
        sub = _subclasses.get(cls)
        if sub is None:
            namespace: dict[str, Any] = {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                         "__doc__": cls.__doc__, _BODY + "_class": True}
            namespace["parse"] = _parse_method(cls.parse)
            if hasattr(cls, "read"):
                namespace["read"] = _read_method(cls.read)
            for name, feed in (("iter_bytes", _Body.add_bytes), ("iter_text", _Body.add_text),
                               ("iter_lines", _Body.add_line)):
                if hasattr(cls, name):
                    namespace[name] = _iter_method(getattr(cls, name), feed)
            if hasattr(cls, "close"):
                namespace["close"] = _close_method(cls.close)
            sub = _subclasses[cls] = type(cls.__name__, (cls,), namespace)
        return sub


def _body(response: Any) -> _Body | None:
    """The response's body state while its event is open; None once it has ended or been handed on."""
    body = response.__dict__.get(_BODY)
    return None if body is None or body.done or body.handed else body


def _parsed(response: Any, parsed: Any) -> None:
    body = _body(response)
    if body is None:
        return
    if body.hand_to_stream(parsed):
        body.hand_over()
    elif not body.sse:
        body.span.set_result(parsed)
        body.finish()


def _failed(response: Any, exc: BaseException) -> None:
    body = _body(response)
    if body is not None:
        body.finish(exc)


def _parse_method(original: Any) -> Any:
    if inspect.iscoroutinefunction(original):

        async def parse(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                parsed = await original(self, *args, **kwargs)
            except BaseException as exc:
                _failed(self, exc)
                raise
            _parsed(self, parsed)
            return parsed

    else:

        def parse(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                parsed = original(self, *args, **kwargs)
            except BaseException as exc:
                _failed(self, exc)
                raise
            _parsed(self, parsed)
            return parsed

    return functools.wraps(original)(parse)


def _read_done(response: Any, content: Any) -> None:
    body = _body(response)
    if body is None:
        return
    if isinstance(content, (bytes, bytearray)):
        body.add_bytes(bytes(content))
    body.finish()


def _read_method(original: Any) -> Any:
    if inspect.iscoroutinefunction(original):

        async def read(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                content = await original(self, *args, **kwargs)
            except BaseException as exc:
                _failed(self, exc)
                raise
            _read_done(self, content)
            return content

    else:

        def read(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                content = original(self, *args, **kwargs)
            except BaseException as exc:
                _failed(self, exc)
                raise
            _read_done(self, content)
            return content

    return functools.wraps(original)(read)


def _iter_method(original: Any, feed: Callable[[_Body, Any], None]) -> Any:
    if inspect.isasyncgenfunction(original):

        async def iterate(self: Any, *args: Any, **kwargs: Any) -> Any:
            body = _body(self)
            try:
                async for piece in original(self, *args, **kwargs):
                    if body is not None:
                        feed(body, piece)
                    yield piece
            except GeneratorExit:
                if body is not None:
                    body.end_early()
                raise
            except BaseException as exc:
                if body is not None:
                    body.finish(exc)
                raise
            if body is not None:
                body.finish()

    else:

        def iterate(self: Any, *args: Any, **kwargs: Any) -> Any:
            body = _body(self)
            try:
                for piece in original(self, *args, **kwargs):
                    if body is not None:
                        feed(body, piece)
                    yield piece
            except GeneratorExit:
                if body is not None:
                    body.end_early()
                raise
            except BaseException as exc:
                if body is not None:
                    body.finish(exc)
                raise
            if body is not None:
                body.finish()

    return functools.wraps(original)(iterate)


def _close_method(original: Any) -> Any:
    if inspect.iscoroutinefunction(original):

        async def close(self: Any, *args: Any, **kwargs: Any) -> Any:
            body = self.__dict__.get(_BODY)
            if body is not None:
                body.end_early()
            return await original(self, *args, **kwargs)

    else:

        def close(self: Any, *args: Any, **kwargs: Any) -> Any:
            body = self.__dict__.get(_BODY)
            if body is not None:
                body.end_early()
            return original(self, *args, **kwargs)

    return functools.wraps(original)(close)
