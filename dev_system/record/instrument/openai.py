"""Zero-code instrumentation of the ``openai`` SDK.

Patched (sync and async): ``chat.completions.create`` and ``.parse``, ``responses.create`` and
``.parse``, ``completions.create`` (legacy text completions) and ``embeddings.create``. The stream
helpers ``chat.completions.stream(...)`` and ``responses.stream(...)`` go through the patched
``create`` and are recorded by it. A ``stream=True`` call ends its event when the stream ends; its
tokens come from the final chunk, so pass ``stream_options={"include_usage": True}`` to chat
streams (Responses streams always carry usage). The same methods reached through
``.with_raw_response`` (also ``client.with_raw_response.…``) and ``.with_streaming_response`` are
recorded too: a body the caller reads ends its event when it has been read (see ``_responses``).
"""

from __future__ import annotations

from typing import Any

from dev_system.record.instrument import _core, _sending

PROVIDER = "openai"

# (module, class, attribute, event function name, kind)
_TARGETS = (
    # every HTTP request the SDK sends is built here: a call that raised before is no provider call
    ("openai._base_client", "BaseClient", "_build_request", None, "marker"),
    ("openai.resources.chat.completions", "Completions", "create", "openai.chat.completions.create", "sync"),
    ("openai.resources.chat.completions", "AsyncCompletions", "create", "openai.chat.completions.create", "async"),
    ("openai.resources.chat.completions", "Completions", "parse", "openai.chat.completions.parse", "sync"),
    ("openai.resources.chat.completions", "AsyncCompletions", "parse", "openai.chat.completions.parse", "async"),
    ("openai.resources.responses", "Responses", "create", "openai.responses.create", "sync"),
    ("openai.resources.responses", "AsyncResponses", "create", "openai.responses.create", "async"),
    ("openai.resources.responses", "Responses", "parse", "openai.responses.parse", "sync"),
    ("openai.resources.responses", "AsyncResponses", "parse", "openai.responses.parse", "async"),
    ("openai.resources.completions", "Completions", "create", "openai.completions.create", "sync"),
    ("openai.resources.completions", "AsyncCompletions", "create", "openai.completions.create", "async"),
    ("openai.resources.embeddings", "Embeddings", "create", "openai.embeddings.create", "sync"),
    ("openai.resources.embeddings", "AsyncEmbeddings", "create", "openai.embeddings.create", "async"),
)


def _stream_kind(result: Any) -> str | None:
    from openai import AsyncStream, Stream

    if isinstance(result, Stream):
        return "sync"
    if isinstance(result, AsyncStream):
        return "async"
    return None


def instrument() -> bool:
    """Patch the installed ``openai`` SDK; False when it is not installed or already patched."""
    import importlib

    try:
        importlib.import_module("openai")
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
        else:
            factory = (_core.sync_call if kind == "sync" else _core.async_call)(PROVIDER, function_name, _stream_kind)
        changed |= _core.patch(PROVIDER, owner, attribute, factory)
    return changed
