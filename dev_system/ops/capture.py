"""Argument capture: bind arguments to parameter names, redact secrets, bound the size.

Work is split in two so that the calling thread does as little as possible:

- :func:`snapshot` (calling thread) binds arguments to names and redacts secret parameters;
  immutable scalars are kept as they are, anything else is converted at once by :func:`sanitize`
  (it could change after the call);
- :func:`sanitize` (writer thread, for what is left) turns any value into JSON-ready data:
  strings truncated with a marker, secrets under secret-looking keys replaced, cycles, deep
  nesting, odd objects and objects whose ``repr`` raises replaced by short markers.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Iterable

REDACTED = "[REDACTED]"
MAX_DEPTH = 6
MAX_ITEMS = 50
_SCALARS = (str, int, float, bool, type(None))
_IMMUTABLE_TYPES = frozenset({str, int, float, bool, type(None)})


class Redactor:
    """Decides which keys hold secrets: a key matches a name in ``keys`` exactly or as a whole
    ``_``-separated part at its start or end (``openai_api_key``, ``access_token``, not ``max_tokens``)."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = tuple(k.lower().replace("-", "_") for k in keys)
        self._cache: dict[str, bool] = {}

    def is_secret(self, key: str) -> bool:
        hit = self._cache.get(key)
        if hit is None:
            k = key.lower().replace("-", "_")
            hit = any(k == s or k.endswith("_" + s) or k.startswith(s + "_") for s in self.keys)
            if len(self._cache) < 10_000:
                self._cache[key] = hit
        return hit


class CapturePlan:
    """What to capture for one decorated function, worked out once at decoration time."""

    __slots__ = ("names", "skip_first", "var_positional", "secrets")

    def __init__(self, fn: Callable[..., Any], redactor: Redactor) -> None:
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            params = []
        positional = [
            p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        self.skip_first = bool(positional) and positional[0] in ("self", "cls")
        self.names = tuple(positional[1:] if self.skip_first else positional)
        self.var_positional = next((p.name for p in params if p.kind == p.VAR_POSITIONAL), None)
        self.secrets = frozenset(p.name for p in params if redactor.is_secret(p.name))


def snapshot(plan: CapturePlan, args: tuple, kwargs: dict, redactor: Redactor, max_chars: int) -> dict:
    """The call's arguments by parameter name, safe to keep after the call returns."""
    if plan.skip_first:
        args = args[1:]
    names = plan.names
    captured = dict(zip(names, args))
    if len(args) > len(names):
        captured[plan.var_positional or "*args"] = list(args[len(names):])
    if kwargs:
        captured.update(kwargs)
    for name, value in captured.items():
        if type(value) not in _IMMUTABLE_TYPES:
            captured[name] = sanitize(value, redactor, max_chars)
    if plan.secrets or kwargs:
        for name in captured:
            if name in plan.secrets or redactor.is_secret(name):
                captured[name] = REDACTED
    return captured


def _short_repr(value: Any, max_chars: int) -> str:
    try:
        text = repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"
    if not isinstance(text, str):
        return f"<unrepresentable {type(value).__name__}>"
    return truncate(text, min(max_chars, 200))


def truncate(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` characters with a visible marker saying how much was cut."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}…[truncated {len(text) - max_chars} chars]"


def sanitize(value: Any, redactor: Redactor, max_chars: int, _depth: int = 0, _seen: set | None = None) -> Any:
    """``value`` as JSON-ready data (dict, list, str, int, float, bool, None), bounded in size."""
    kind = type(value)
    if kind is str:
        text = value.encode("utf-8", "replace").decode("utf-8") if not value.isascii() else value
        return truncate(text, max_chars)
    if kind is bool or value is None:
        return value
    if kind is int:
        return value if -(2**63) <= value < 2**63 else truncate(str(value), 40)
    if kind is float:
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{kind.__name__} len={len(value)}>"
    if _depth >= MAX_DEPTH:
        return f"<{kind.__name__} nested too deep>"
    if _seen is None:
        _seen = set()
    ident = id(value)
    if ident in _seen:
        return "<cycle>"
    dump = getattr(value, "model_dump", None) if not isinstance(value, (dict, list, tuple, set, frozenset)) else None
    if callable(dump) and not isinstance(value, type):
        try:
            value = dump()
        except Exception:
            return _short_repr(value, max_chars)
    if isinstance(value, dict):
        _seen.add(ident)
        out = {}
        for index, (key, item) in enumerate(value.items()):
            if index >= MAX_ITEMS:
                out["…"] = f"[{len(value) - MAX_ITEMS} more items]"
                break
            name = key if isinstance(key, str) else _short_repr(key, 100)
            name = truncate(name, 100)
            out[name] = REDACTED if redactor.is_secret(name) else sanitize(item, redactor, max_chars, _depth + 1, _seen)
        _seen.discard(ident)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        _seen.add(ident)
        items = list(value) if not isinstance(value, (list, tuple)) else value
        out_list = [sanitize(item, redactor, max_chars, _depth + 1, _seen) for item in items[:MAX_ITEMS]]
        if len(items) > MAX_ITEMS:
            out_list.append(f"…[{len(items) - MAX_ITEMS} more items]")
        _seen.discard(ident)
        return out_list
    if isinstance(value, _SCALARS):  # subclasses of str/int/float
        return sanitize(_plain_scalar(value), redactor, max_chars, _depth, _seen)
    return _short_repr(value, max_chars)


def _plain_scalar(value: Any) -> Any:
    """The exact built-in value of an instance of a subclass of str, int or float."""
    for base, convert in ((str, str.__str__), (int, int.__int__), (float, float.__float__)):
        if isinstance(value, base):
            return convert(value)
    return None
