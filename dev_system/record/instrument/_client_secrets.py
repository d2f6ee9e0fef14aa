"""The keys an SDK client holds, learnt as secrets before each call is recorded.

A key that has no well-known shape (``gsk_...``, Azure's 32 hex digits, a gateway's key) is
still the client's ``api_key``, a value of one of its default headers or the password in its
base URL. An error the server sends back may echo it; knowing the exact values, the redaction
(:func:`dev_system.record.redaction.remember_secret_values`) replaces them in everything stored.
"""

from __future__ import annotations

import weakref
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from dev_system.record.redaction import remember_secret_values, secret_parameter

#: Client attributes that hold a credential (openai, anthropic, Azure OpenAI, google-genai).
_KEY_ATTRIBUTES = ("api_key", "auth_token", "_azure_ad_token", "azure_ad_token", "webhook_secret",
                   "_api_key", "access_token")
#: Header names whose values are settings, not credentials.
_PLAIN_HEADERS = frozenset({"accept", "content-type", "user-agent", "openai-organization", "openai-project",
                            "anthropic-version", "anthropic-beta", "api-version", "x-title", "http-referer"})
#: Clients seen, with the key they held then: a client is read again only when its key changed.
_seen: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def remember_client_secrets(args: tuple, kwargs: dict | None = None) -> None:
    """Learn the credentials of the SDK call made with ``args`` (``args[0]``: the SDK resource,
    whose ``_client`` or ``_api_client`` is the client) and ``kwargs`` (``api_key=``,
    ``extra_headers=``, ``extra_query=``). Never raises."""
    try:
        values: list[Any] = []
        owner = args[0] if args else None
        client = getattr(owner, "_client", None) or getattr(owner, "_api_client", None) or owner
        if client is not None:
            key = getattr(client, "api_key", None)
            try:
                known = client in _seen and _seen[client] is key
            except TypeError:  # not weakly referable, not hashable: read it each time
                known = False
            if not known:
                values += _client_values(client)
                try:
                    _seen[client] = key
                except TypeError:
                    pass
        if kwargs:
            values.append(kwargs.get("api_key"))
            values += _header_values(kwargs.get("extra_headers"))
            values += _query_values(kwargs.get("extra_query"))
        if values:
            remember_secret_values(values)
    except Exception:  # an odd client: its keys are not learnt, the call goes on
        pass


def _client_values(client: Any) -> list[Any]:
    values = [getattr(client, name, None) for name in _KEY_ATTRIBUTES]
    values += _header_values(getattr(client, "_custom_headers", None))
    values += _query_values(getattr(client, "_custom_query", None))
    base_url = getattr(client, "base_url", None)
    if base_url is not None:
        parts = urlsplit(str(base_url))
        # https://user:password@host: the password; https://token@host: the token
        values.append(parts.password if parts.password is not None else parts.username)
        values += _query_values(dict(parse_qsl(parts.query)))
    return values


def _header_values(headers: Any) -> list[Any]:
    if not isinstance(headers, dict) or not headers:
        return []
    values = []
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str) or name.lower() in _PLAIN_HEADERS:
            continue
        if name.lower().startswith("x-stainless"):
            continue
        scheme, _, credential = value.partition(" ")
        values.append(credential if scheme.lower() in ("bearer", "basic", "token") and credential else value)
    return values


def _query_values(query: Any) -> list[Any]:
    if not isinstance(query, dict) or not query:
        return []
    return [value for name, value in query.items() if isinstance(name, str) and secret_parameter(name)]
