"""Zero-code instrumentation of the ``anthropic`` SDK.

Patched (sync and async, ``messages`` and ``beta.messages``): ``create`` (streaming or not),
``parse`` and the ``stream(...)`` helper, whose request is recorded when the ``with`` block is
entered and ends with the stream. ``.with_raw_response`` and ``.with_streaming_response`` calls go
through the patched methods; a body the caller reads ends its event when it has been read (see
``_responses``). Tokens: ``input_tokens`` counts cache reads and cache writes as
well (Anthropic reports them apart); output is the last cumulative ``message_delta`` count.
"""

from __future__ import annotations

from typing import Any

from dev_system.record.instrument import _core, _sending

PROVIDER = "anthropic"

# (module, class, attribute, event function name, kind)
_TARGETS = (
    # every HTTP request the SDK sends is built here: a call that raised before is no provider call
    ("anthropic._base_client", "BaseClient", "_build_request", None, "marker"),
    ("anthropic.resources.messages", "Messages", "create", "anthropic.messages.create", "sync"),
    ("anthropic.resources.messages", "AsyncMessages", "create", "anthropic.messages.create", "async"),
    ("anthropic.resources.messages", "Messages", "parse", "anthropic.messages.parse", "sync"),
    ("anthropic.resources.messages", "AsyncMessages", "parse", "anthropic.messages.parse", "async"),
    ("anthropic.resources.messages", "Messages", "stream", "anthropic.messages.stream", "stream-sync"),
    ("anthropic.resources.messages", "AsyncMessages", "stream", "anthropic.messages.stream", "stream-async"),
    ("anthropic.resources.beta.messages", "Messages", "create", "anthropic.beta.messages.create", "sync"),
    ("anthropic.resources.beta.messages", "AsyncMessages", "create", "anthropic.beta.messages.create", "async"),
    ("anthropic.resources.beta.messages", "Messages", "parse", "anthropic.beta.messages.parse", "sync"),
    ("anthropic.resources.beta.messages", "AsyncMessages", "parse", "anthropic.beta.messages.parse", "async"),
    ("anthropic.resources.beta.messages", "Messages", "stream", "anthropic.beta.messages.stream", "stream-sync"),
    ("anthropic.resources.beta.messages", "AsyncMessages", "stream", "anthropic.beta.messages.stream", "stream-async"),
)


def _stream_kind(result: Any) -> str | None:
    from anthropic import AsyncStream, Stream

    if isinstance(result, Stream):
        return "sync"
    if isinstance(result, AsyncStream):
        return "async"
    return None


def instrument() -> bool:
    """Patch the installed ``anthropic`` SDK; False when it is not installed or already patched."""
    import importlib

    try:
        importlib.import_module("anthropic")
    except ImportError:
        return False
    changed = False
    for module_name, class_name, attribute, function_name, kind in _TARGETS:
        try:
            owner = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            continue
        if kind == "marker":
            factory = _sending.marker
        elif kind == "sync":
            factory = _core.sync_call(PROVIDER, function_name, _stream_kind)
        elif kind == "async":
            factory = _core.async_call(PROVIDER, function_name, _stream_kind)
        else:
            factory = _core.stream_helper(PROVIDER, function_name, is_async=kind == "stream-async")
        changed |= _core.patch(PROVIDER, owner, attribute, factory)
    return changed
