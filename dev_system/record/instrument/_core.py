"""The machinery shared by the provider modules: patching a class attribute (and restoring it),
the wrappers that turn one SDK call into one ``model_call`` event, and the watching of streams.

A wrapper does nothing but call the original when telemetry is off. When it is on, the call gets
a :class:`~dev_system.record.spans.Span` created in the caller's context (so a call made inside a
decorated function joins that function's trace); an error raised by the SDK ends the span as
failed and is re-raised untouched (same object, same traceback); a stream result ends its span
when the stream ends (exhausted, failed, closed early or dropped), with the usage its chunks
carried; a raw response whose body the caller reads (``with_streaming_response``, a raw stream)
ends its span when that body has been read (:mod:`._responses`).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from dev_system.problems import report_problem
from dev_system.record.instrument import _responses, _sending
from dev_system.record.instrument._client_secrets import remember_client_secrets
from dev_system.record.recorder import get_recorder
from dev_system.record.replay import watch as watch_replays
from dev_system.record.spans import Span

#: Set on each wrapper: True while it is patched in, False once uninstrumented.
MARK = "__dev_system_instrumented__"

#: True while an instrumented call runs, so that an SDK method calling another patched one
#: records one event, not two.
_ACTIVE: contextvars.ContextVar[bool] = contextvars.ContextVar("dev_system_instrument_active", default=False)

_lock = threading.RLock()
#: provider name -> [(owner class, attribute name, original from the class __dict__, our wrapper)]
_patches: dict[str, list[tuple[type, str, Any, Any]]] = {}
#: provider name -> agent name given to instrument_*(); None = the configured default.
_agent_names: dict[str, str | None] = {}

# Scalar request parameters worth keeping in the event's metadata (never the prompt itself).
_KEPT_PARAMS = (
    "model", "stream", "max_tokens", "max_completion_tokens", "max_output_tokens", "temperature",
    "top_p", "n", "reasoning_effort", "service_tier", "tool_choice",
)


def agent_name(provider: str) -> str:
    """The agent name of ``provider``'s events: the one given to ``instrument_*()``, else the
    ``instrument-agent-name`` setting in force."""
    name = _agent_names.get(provider)
    if name:
        return name
    try:
        return get_recorder().settings.instrument_agent_name or "llm"
    except Exception:
        return "llm"


class _NoSpan:
    """Stands in for a span that could not be made: the call goes on, unrecorded."""

    def activate(self) -> Any:
        import contextlib

        return contextlib.nullcontext(self)

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def _span(provider: str, function_name: str, kwargs: dict) -> Any:
    try:
        watch_replays()  # a call answered from a vcrpy cassette is marked replayed
        rec = get_recorder()
        args = None
        if rec.capture:
            args = {key: kwargs[key] for key in _KEPT_PARAMS if key in kwargs and _plain(kwargs[key])}
        model = kwargs.get("model")
        span = Span(agent_name(provider), "model_call", function_name, args=args or None,
                    model=model if isinstance(model, str) else None)
        span.annotate(provider=provider, instrumented=True)
        return span
    except Exception as exc:
        report_problem("instrument-span", f"an SDK call could not be recorded: {exc!r}")
        return _NoSpan()


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _off() -> bool:
    try:
        return not get_recorder().on or _ACTIVE.get()
    except Exception:
        return True


# --- patching --------------------------------------------------------------------------------


def patch(provider: str, owner: type, attribute: str, make_wrapper: Callable[[Any], Any]) -> bool:
    """Replace ``owner.attribute`` by ``make_wrapper(original)``; False when already patched or absent."""
    with _lock:
        original = owner.__dict__.get(attribute)
        if original is None:
            return False
        if any(o is owner and a == attribute for entries in _patches.values() for o, a, _, _ in entries):
            return False
        wrapper = make_wrapper(original)
        setattr(wrapper, MARK, True)
        setattr(owner, attribute, wrapper)
        _patches.setdefault(provider, []).append((owner, attribute, original, wrapper))
        return True


def unpatch(provider: str) -> bool:
    """Restore every attribute patched for ``provider``; False when nothing was patched.

    A wrapper that another library has wrapped in turn cannot be taken out of its chain: it is
    switched off instead (it only calls the original from then on).
    """
    with _lock:
        done = _patches.pop(provider, [])
        for owner, attribute, original, wrapper in reversed(done):
            setattr(wrapper, MARK, False)
            if owner.__dict__.get(attribute) is not wrapper:
                continue
            try:
                setattr(owner, attribute, original)
            except Exception as exc:  # pragma: no cover - a class that refuses assignment
                report_problem("uninstrument", f"could not restore {owner.__name__}.{attribute}: {exc!r}")
        _agent_names.pop(provider, None)
        return bool(done)


def patched(provider: str) -> bool:
    return bool(_patches.get(provider))


def set_agent_name(provider: str, name: str | None) -> None:
    _agent_names[provider] = name


# --- wrappers --------------------------------------------------------------------------------


def sync_call(provider: str, function_name: str, is_stream: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A wrapper factory for a synchronous SDK method."""

    def make(original: Any) -> Any:
        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not wrapper.__dict__.get(MARK) or _off():
                return original(*args, **kwargs)
            remember_client_secrets(args, kwargs)
            span = _span(provider, function_name, kwargs)
            token = _ACTIVE.set(True)
            sent, sending = _sending.begin()
            try:
                with span.activate():
                    result = original(*args, **kwargs)
            except BaseException as exc:
                _end_failed(span, exc, sent, args)
                raise
            finally:
                _sending.end(sending)
                _ACTIVE.reset(token)
            if _responses.body_unread(result, kwargs):
                return _watch_body(span, result, is_stream, kwargs)
            return finish(span, result, is_stream, _raw_parse(result, kwargs))

        return wrapper

    return make


def async_call(provider: str, function_name: str, is_stream: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A wrapper factory for an ``async def`` SDK method."""

    def make(original: Any) -> Any:
        @functools.wraps(original)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not wrapper.__dict__.get(MARK) or _off():
                return await original(*args, **kwargs)
            remember_client_secrets(args, kwargs)
            span = _span(provider, function_name, kwargs)
            token = _ACTIVE.set(True)
            sent, sending = _sending.begin()
            try:
                with span.activate():
                    result = await original(*args, **kwargs)
            except BaseException as exc:
                _end_failed(span, exc, sent, args)
                raise
            finally:
                _sending.end(sending)
                _ACTIVE.reset(token)
            if _responses.body_unread(result, kwargs):
                return _watch_body(span, result, is_stream, kwargs)
            parse = _raw_parse(result, kwargs)
            if parse is not None and inspect.iscoroutinefunction(parse):
                try:
                    parsed = await parse()
                    parse = lambda: parsed  # noqa: E731
                except Exception:
                    parse = None
            return finish(span, result, is_stream, parse)

        return wrapper

    return make


def _end_failed(span: Any, exc: BaseException, sent: list[bool], args: tuple) -> None:
    """End the span of a call that raised: failed, unless its SDK refused it before sending any
    request (then it was no provider call, and is not recorded: :mod:`._sending`)."""
    if _sending.refused_before_sending(sent, args, MARK):
        span.discard()
    else:
        span.end(exc)


def _raw_parse(result: Any, kwargs: dict) -> Callable[[], Any] | None:
    """For ``.with_raw_response.create(...)`` (not streamed, so its body has been read): the raw
    response's cached ``parse``, which gives the SDK object with the usage. None otherwise."""
    try:
        if kwargs.get("stream") or _responses.raw_mode(kwargs) != "raw":
            return None
        parse = getattr(result, "parse", None)
        return parse if callable(parse) else None
    except Exception:
        return None


def _watch_body(span: Any, response: Any, is_stream: Callable[[Any], Any], kwargs: dict) -> Any:
    """A raw response whose body the caller reads (a raw stream, ``with_streaming_response``):
    the event ends when that body has been read, or with the stream its ``parse()`` gives."""

    def hand_to_stream(parsed: Any) -> bool:
        try:
            kind = is_stream(parsed)
        except Exception:
            kind = None
        if kind == "sync":
            watch_stream(parsed, span)
        elif kind == "async":
            watch_async_stream(parsed, span)
        return kind in ("sync", "async")

    sse = bool(kwargs.get("stream")) or bool(getattr(response, "_is_sse_stream", False))
    return _responses.watch_response(response, span, sse, hand_to_stream)


def finish(span: Any, result: Any, is_stream: Callable[[Any], Any], parse: Callable[[], Any] | None = None) -> Any:
    """End ``span`` with ``result``, or hand it to a stream watcher; returns ``result``."""
    try:
        kind = is_stream(result)
    except Exception:
        kind = None
    if kind == "sync":
        return watch_stream(result, span)
    if kind == "async":
        return watch_async_stream(result, span)
    try:
        span.set_result(parse() if parse is not None else result)
    except Exception:
        span.set_result(result)
    span.end()
    return result


# --- streams ---------------------------------------------------------------------------------


def _watched(inner: Iterable[Any], span: Any) -> Any:
    try:
        for chunk in inner:
            span.feed(chunk)
            yield chunk
    except GeneratorExit:
        span.end(closed_early=True)
        raise
    except BaseException as exc:
        span.end(exc)
        raise
    span.end()


async def _awatched(inner: Any, span: Any) -> Any:
    try:
        async for chunk in inner:
            span.feed(chunk)
            yield chunk
    except GeneratorExit:
        span.end(closed_early=True)
        raise
    except BaseException as exc:
        span.end(exc)
        raise
    span.end()


def _end_early(span: Any) -> None:
    span.end(closed_early=True)


def watch_stream(stream: Any, span: Any) -> Any:
    """Make ``stream`` (an SDK ``Stream``) feed its chunks to ``span`` and end it when it ends.

    The stream object itself is returned, of the same type: only its iterator and its ``close``
    are replaced on the instance.
    """
    try:
        inner = stream._iterator
        stream._iterator = _watched(inner, span)
        _patch_close(stream, span, is_async=False)
        weakref.finalize(stream, _end_early, span)
    except Exception as exc:
        report_problem("instrument-stream", f"a stream could not be watched, its usage is unknown: {exc!r}")
        span.end()
    return stream


def watch_async_stream(stream: Any, span: Any) -> Any:
    """The ``AsyncStream`` version of :func:`watch_stream`."""
    try:
        inner = stream._iterator
        stream._iterator = _awatched(inner, span)
        _patch_close(stream, span, is_async=True)
        weakref.finalize(stream, _end_early, span)
    except Exception as exc:
        report_problem("instrument-stream", f"a stream could not be watched, its usage is unknown: {exc!r}")
        span.end()
    return stream


def _patch_close(stream: Any, span: Any, *, is_async: bool) -> None:
    class_close = type(stream).close
    ref = weakref.ref(stream)  # no reference cycle: a dropped stream is still closed at once

    if is_async:

        async def close() -> None:
            span.end(closed_early=True)
            target = ref()
            if target is not None:
                await class_close(target)

    else:

        def close() -> None:
            span.end(closed_early=True)
            target = ref()
            if target is not None:
                class_close(target)

    stream.close = close


class LazyAwaitable:
    """An awaitable that runs ``factory()`` only when awaited (no 'never awaited' warning if not)."""

    __slots__ = ("factory",)

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory

    def __await__(self) -> Any:
        return self.factory().__await__()


def _request_attribute(manager: Any) -> str | None:
    for name in vars(manager):
        if name.endswith("__api_request"):
            return name
    return None


def watch_stream_manager(manager: Any, provider: str, function_name: str, kwargs: dict,
                         is_async: bool) -> Any:
    """Instrument a stream helper (``with client.messages.stream(...) as stream``): the request the
    manager makes on entering becomes one event, ended with the stream."""
    if _off():
        return manager
    try:
        name = _request_attribute(manager)
        if name is None:
            report_problem("instrument-manager", f"{type(manager).__name__} has an unknown shape; its calls are not recorded")
            return manager
        request = getattr(manager, name)
        if is_async:

            async def run() -> Any:
                span = _span(provider, function_name, kwargs)
                try:
                    with span.activate():
                        raw = await request
                except BaseException as exc:
                    span.end(exc)
                    raise
                return watch_async_stream(raw, span)

            setattr(manager, name, LazyAwaitable(run))
        else:

            def run_sync() -> Any:
                span = _span(provider, function_name, kwargs)
                try:
                    with span.activate():
                        raw = request()
                except BaseException as exc:
                    span.end(exc)
                    raise
                return watch_stream(raw, span)

            setattr(manager, name, run_sync)
    except Exception as exc:
        report_problem("instrument-manager", f"a stream helper could not be instrumented: {exc!r}")
    return manager


def stream_helper(provider: str, function_name: str, is_async: bool) -> Callable[[Any], Any]:
    """A wrapper factory for a method returning a stream manager (called without ``await``)."""

    def make(original: Any) -> Any:
        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            manager = original(*args, **kwargs)
            if not wrapper.__dict__.get(MARK):
                return manager
            remember_client_secrets(args, kwargs)
            return watch_stream_manager(manager, provider, function_name, kwargs, is_async)

        return wrapper

    return make


# --- for the instrumentation modules that wrap an SDK in their own way (google_genai) ------------

#: Stands in for a span that could not be made: every method does nothing.
NoSpan = _NoSpan


def off() -> bool:
    """True when a call made here is not to be recorded: telemetry is off, or an instrumented
    call is running already (it records the event)."""
    return _off()


def enter_call() -> contextvars.Token:
    """Mark an instrumented call as running here, so that the SDK calls it makes record no event
    of their own; pass the token to :func:`exit_call` when it returns."""
    return _ACTIVE.set(True)


def exit_call(token: contextvars.Token) -> None:
    """Undo :func:`enter_call`."""
    _ACTIVE.reset(token)
