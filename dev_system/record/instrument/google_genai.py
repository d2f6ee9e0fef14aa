"""Zero-code instrumentation of the ``google-genai`` SDK (Gemini API and Vertex AI).

Recorded (sync and ``client.aio``): ``models.generate_content`` and
``models.generate_content_stream``, and what is built on them (``chats``, automatic function
calling, automatic continuation). The SDK's per-request methods are patched, so each HTTP request
is one event: a call with automatic function calling that makes three requests records three.
A stream's event ends when the stream does (exhausted, failed, closed early or dropped); its
tokens are the last ``usage_metadata`` its chunks carried (Gemini repeats the running totals on
every chunk).

Tokens: input is ``prompt_token_count`` (which counts the cached content too) plus
``tool_use_prompt_token_count``; output is ``candidates_token_count`` plus
``thoughts_token_count`` (thinking is billed as output). Cached content goes to the usage detail
``cached_input_tokens`` and is priced at the cache-read price. The model is the answered
``model_version``, else the requested model (``models/`` or a Vertex resource path stripped).
"""

from __future__ import annotations

import functools
import json
import weakref
from typing import Any

from dev_system.problems import report_problem
from dev_system.record.instrument import _core
from dev_system.record.recorder import get_recorder
from dev_system.record.spans import Span
from dev_system.record.usage import StreamUsage, Usage, get_field, usage_from

__all__ = ["PROVIDER", "instrument", "request_model"]

PROVIDER = "google-genai"

_GENERATE = "google.genai.models.generate_content"
_STREAM = "google.genai.models.generate_content_stream"

# (module, class, attribute, event function name, kind)
_TARGETS = (
    ("google.genai.models", "Models", "_generate_content", _GENERATE, "sync"),
    ("google.genai.models", "Models", "_generate_content_stream", _STREAM, "stream"),
    ("google.genai.models", "AsyncModels", "_generate_content", _GENERATE, "async"),
    ("google.genai.models", "AsyncModels", "_generate_content_stream", _STREAM, "async-stream"),
)

#: genai-prices' provider of Gemini models (for the Gemini API and Vertex AI alike).
_PRICES_PROVIDER = "google"


def request_model(model: Any) -> str | None:
    """The model name of a request, as priced: ``models/gemini-2.5-flash`` and
    ``projects/p/locations/l/publishers/google/models/gemini-2.5-flash`` give ``gemini-2.5-flash``."""
    if not isinstance(model, str) or not model:
        return None
    if "models/" in model and not model.startswith("tunedModels/"):
        model = model.rsplit("models/", 1)[1]
    elif model.startswith("google/"):
        model = model[len("google/"):]
    return model or None


def _start(owner: Any, function_name: str, kwargs: dict) -> tuple[Any, str | None]:
    """A span for one request, made in the caller's context, and the requested model."""
    model = request_model(kwargs.get("model"))
    _core.remember_client_secrets((owner,))
    try:
        rec = get_recorder()
        args = {"model": kwargs["model"]} if rec.capture and isinstance(kwargs.get("model"), str) else None
        if rec.capture and function_name == _STREAM:
            args = {**(args or {}), "stream": True}
        span = Span(_core.agent_name(PROVIDER), "model_call", function_name, args=args)
        _name_model(span, model)
        vertex = bool(get_field(get_field(owner, "_api_client"), "vertexai"))
        span.annotate(provider="vertex_ai" if vertex else "gemini", instrumented=True)
        return span, model
    except Exception as exc:
        report_problem("instrument-span", f"an SDK call could not be recorded: {exc!r}")
        return _core.NoSpan(), model


def _name_model(span: Any, model: str | None) -> None:
    """The model the call asks for: the event's model when the answer names none (a failure, say)."""
    set_model = getattr(span, "set_model", None)
    if set_model is not None and model:
        set_model(model)


def _with_model(usage: Usage, model: str | None) -> Usage:
    """``usage`` with its model named (the answered one, else the requested one)."""
    details = usage.details if usage.details.get("provider") else {**usage.details, "provider": _PRICES_PROVIDER}
    return Usage(usage.input_tokens, usage.output_tokens, request_model(usage.model) or model, details)


def _response_usage(result: Any) -> Usage | None:
    usage = usage_from(result)
    if usage is None and get_field(result, "usage_metadata") is None:
        # config.should_return_http_response: the SDK hands back the raw body, unparsed.
        body = get_field(get_field(result, "sdk_http_response"), "body")
        if isinstance(body, (str, bytes)) and body:
            try:
                usage = usage_from(json.loads(body))
            except ValueError:
                usage = None
    return usage


def _succeed(span: Any, model: str | None, result: Any) -> None:
    try:
        usage = _response_usage(result)
        if usage is not None:
            span.set_usage(_with_model(usage, model))
    except Exception as exc:
        report_problem("usage", f"token usage could not be read: {exc!r}")
    span.end()


def _sync(function_name: str):
    def make(original: Any) -> Any:
        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not wrapper.__dict__.get(_core.MARK) or _core.off():
                return original(*args, **kwargs)
            span, model = _start(args[0] if args else None, function_name, kwargs)
            token = _core.enter_call()
            try:
                with span.activate():
                    result = original(*args, **kwargs)
            except BaseException as exc:
                span.end(exc)
                raise
            finally:
                _core.exit_call(token)
            _succeed(span, model, result)
            return result

        return wrapper

    return make


def _async(function_name: str):
    def make(original: Any) -> Any:
        @functools.wraps(original)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not wrapper.__dict__.get(_core.MARK) or _core.off():
                return await original(*args, **kwargs)
            span, model = _start(args[0] if args else None, function_name, kwargs)
            token = _core.enter_call()
            try:
                with span.activate():
                    result = await original(*args, **kwargs)
            except BaseException as exc:
                span.end(exc)
                raise
            finally:
                _core.exit_call(token)
            _succeed(span, model, result)
            return result

        return wrapper

    return make


# --- streams ---------------------------------------------------------------------------------


def _stream_end(span: Any, model: str | None, usage: StreamUsage, exc: BaseException | None = None,
                closed_early: bool = False) -> None:
    try:
        found = usage.usage()
        if found is not None:
            span.set_usage(_with_model(found, model))
        elif usage.model:
            _name_model(span, request_model(usage.model))
    except Exception as exc_usage:
        report_problem("stream-usage", f"stream usage could not be read: {exc_usage!r}")
    span.end(exc, closed_early=closed_early)


def _watched(inner: Any, span: Any, model: str | None) -> Any:
    """Iterate ``inner`` (the SDK's generator of chunks), reading the usage of each chunk."""
    usage = StreamUsage()
    try:
        while True:
            token = _core.enter_call()
            try:
                chunk = next(inner)
            except StopIteration:
                break
            finally:
                _core.exit_call(token)
            usage.feed(chunk)
            yield chunk
    except GeneratorExit:
        inner.close()
        _stream_end(span, model, usage, closed_early=True)
        raise
    except BaseException as exc:
        _stream_end(span, model, usage, exc)
        raise
    _stream_end(span, model, usage)


async def _awatched(inner: Any, span: Any, model: str | None) -> Any:
    usage = StreamUsage()
    try:
        async for chunk in inner:
            usage.feed(chunk)
            yield chunk
    except GeneratorExit:
        _stream_end(span, model, usage, closed_early=True)
        raise
    except BaseException as exc:
        _stream_end(span, model, usage, exc)
        raise
    _stream_end(span, model, usage)


def _end_early(span: Any) -> None:
    span.end(closed_early=True)


def _stream(function_name: str):
    """The sync ``_generate_content_stream`` is a generator function: its request is made on the
    first ``next()``, which is where the span starts."""

    def make(original: Any) -> Any:
        def run(args: tuple, kwargs: dict) -> Any:
            if _core.off():
                yield from original(*args, **kwargs)
                return
            span, model = _start(args[0] if args else None, function_name, kwargs)
            yield from _watched(original(*args, **kwargs), span, model)

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not wrapper.__dict__.get(_core.MARK):
                return original(*args, **kwargs)
            return run(args, kwargs)

        return wrapper

    return make


def _async_stream(function_name: str):
    """The async ``_generate_content_stream`` makes its request when awaited and returns an async
    generator of chunks."""

    def make(original: Any) -> Any:
        @functools.wraps(original)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not wrapper.__dict__.get(_core.MARK) or _core.off():
                return await original(*args, **kwargs)
            span, model = _start(args[0] if args else None, function_name, kwargs)
            token = _core.enter_call()
            try:
                with span.activate():
                    inner = await original(*args, **kwargs)
            except BaseException as exc:
                span.end(exc)
                raise
            finally:
                _core.exit_call(token)
            try:
                watched = _awatched(inner, span, model)
                weakref.finalize(watched, _end_early, span)
                return watched
            except Exception as exc:
                report_problem("instrument-stream", f"a stream could not be watched, its usage is unknown: {exc!r}")
                span.end()
                return inner

        return wrapper

    return make


_FACTORIES = {"sync": _sync, "async": _async, "stream": _stream, "async-stream": _async_stream}


def instrument() -> bool:
    """Patch the installed ``google-genai`` SDK; False when it is not installed or already patched."""
    import importlib

    try:
        importlib.import_module("google.genai")
    except ImportError:
        return False
    changed = False
    for module_name, class_name, attribute, function_name, kind in _TARGETS:
        try:
            owner = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            continue
        if attribute not in owner.__dict__:
            report_problem("instrument-google-genai",
                           f"google-genai's {class_name}.{attribute} is gone; its calls are not recorded")
            continue
        changed |= _core.patch(PROVIDER, owner, attribute, _FACTORIES[kind](function_name))
    return changed
