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

import dataclasses
import inspect
import math
from collections.abc import Callable
from typing import Any

from dev_system.record.redaction import (  # noqa: F401  (the documented names of dev_system.ops.capture)
    REDACTED,
    Redactor,
    redact_and_truncate,
    redact_text,
    remember_environment_secrets,
)

MAX_DEPTH = 6
MAX_ITEMS = 50
#: Values visited by one :func:`sanitize` call: a structure that shares its parts (``[[s] * 50] * 50``)
#: costs little memory but would expand to millions of items.
MAX_NODES = 2_000
#: Characters of text (keys included) kept by one :func:`sanitize` call, at least.
MIN_TOTAL_CHARS = 100_000

_SCALARS = (str, int, float, bool, type(None))
_IMMUTABLE_TYPES = frozenset({str, int, float, bool, type(None)})


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


def _repr_text(value: Any) -> str | None:
    """``repr(value)``, or None when it raises or returns something other than a string."""
    try:
        text = repr(value)
    except Exception:
        return None
    return text if type(text) is str else None


def _short_repr(value: Any, max_chars: int) -> str:
    text = _repr_text(value)
    if text is None:
        return _unrepresentable(value)
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return redact_and_truncate(text, min(max_chars, 200))


def _unrepresentable(value: Any) -> str:
    try:
        return f"<unrepresentable {type(value).__name__}>"
    except Exception:
        return "<unrepresentable>"


def truncate(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` characters with a visible marker saying how much was cut."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}…[truncated {len(text) - max_chars} chars]"


def sanitize(value: Any, redactor: Redactor, max_chars: int, _depth: int = 0, _seen: set | None = None,
             _budget: list | None = None) -> Any:
    """``value`` as JSON-ready data (dict, list, str, int, float, bool, None), bounded in size.

    Never raises. Strings are cut to ``max_chars`` and cleared of secret shapes; one call keeps
    at most :data:`MAX_NODES` values and ``max(MIN_TOTAL_CHARS, 10 * max_chars)`` characters,
    whatever shares or cycles the value holds.
    """
    kind = type(value)
    if kind is str:
        if not value.isascii():
            value = value.encode("utf-8", "replace").decode("utf-8")
        if _budget is not None:
            left = _budget[1]
            if len(value) > left:
                max_chars = min(max_chars, max(left, 0))
            _budget[1] = left - min(len(value), max_chars)
        return redact_and_truncate(value, max_chars)
    if kind is bool or value is None:
        return value
    if kind is int:
        return value if -(2**63) <= value < 2**63 else truncate(str(value), 40)
    if kind is float:
        return value if math.isfinite(value) else repr(value)
    if _depth >= MAX_DEPTH:
        return f"<{kind.__name__} nested too deep>"
    if _budget is None:
        _budget = [MAX_NODES, max(MIN_TOTAL_CHARS, 10 * max_chars)]
    try:
        return _sanitize_other(value, kind, redactor, max_chars, _depth, _seen, _budget)
    except Exception:
        return _unrepresentable(value)


def sanitize_arguments(args: dict, redactor: Redactor, max_chars: int) -> Any:
    """``sanitize(args, ...)`` for a dict of captured arguments, with a shortcut for the common
    case: a few arguments under plain, non-secret names, holding numbers, booleans, ``None`` or
    short ASCII strings. Those are taken as they are (strings cleared of secret shapes); anything
    else goes through :func:`sanitize`. The writer calls this for every event."""
    if type(args) is dict and len(args) <= MAX_ITEMS:
        out = {}
        total = 0  # characters of names and strings: within sanitize()'s budget, nothing is cut
        for key, value in args.items():
            if type(key) is not str or len(key) > 100 or not key.isascii() or redactor.is_secret(key):
                break
            if len(key) >= 8 and redact_text(key) != key:  # a key shaped like a secret: sanitize() names it
                break
            total += len(key)
            kind = type(value)
            if kind is str:
                total += len(value)
                if len(value) > max_chars or not value.isascii():
                    break
                value = redact_text(value)
            elif kind is int:
                if not -(2**63) <= value < 2**63:
                    break
            elif kind is float:
                if not math.isfinite(value):
                    break
            elif kind is not bool and value is not None:
                break
            out[key] = value
        else:
            if total <= max(MIN_TOTAL_CHARS, 10 * max_chars):
                return out
    return sanitize(args, redactor, max_chars)


def _sanitize_other(value: Any, kind: type, redactor: Redactor, max_chars: int, _depth: int,
                    _seen: set | None, budget: list) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{kind.__name__} len={len(value)}>"
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
    elif not isinstance(value, (dict, list, set, frozenset)):
        fields = _fields(value)
        if fields is not None:
            value = fields
    if isinstance(value, dict):
        _seen.add(ident)
        out = {}
        for index, (key, item) in enumerate(value.items()):
            if index >= MAX_ITEMS or budget[0] <= 0:
                out["…"] = f"[{len(value) - index} more items]"
                break
            budget[0] -= 1
            name = key if type(key) is str else _short_repr(key, 100)
            if not name.isascii():
                name = name.encode("utf-8", "replace").decode("utf-8")
            name = redact_and_truncate(name, 100)
            budget[1] -= len(name)
            out[name] = REDACTED if redactor.is_secret(name) else sanitize(
                item, redactor, max_chars, _depth + 1, _seen, budget)
        _seen.discard(ident)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        _seen.add(ident)
        items = list(value) if not isinstance(value, (list, tuple)) else value
        out_list = []
        for index, item in enumerate(items):
            if index >= MAX_ITEMS or budget[0] <= 0:
                out_list.append(f"…[{len(items) - index} more items]")
                break
            budget[0] -= 1
            out_list.append(sanitize(item, redactor, max_chars, _depth + 1, _seen, budget))
        _seen.discard(ident)
        return out_list
    if isinstance(value, _SCALARS):  # subclasses of str/int/float
        return sanitize(_plain_scalar(value), redactor, max_chars, _depth, _seen, budget)
    return _object_repr(value, redactor, max_chars)


def _fields(value: Any) -> dict | None:
    """The fields of a record-like object by name (a dataclass, a NamedTuple, an attrs class, a
    ``SimpleNamespace``), to be sanitized like a dict; None for anything else."""
    kind = type(value)
    if isinstance(value, tuple):
        as_dict = getattr(value, "_asdict", None)
        return dict(as_dict()) if callable(as_dict) and hasattr(kind, "_fields") else None
    if isinstance(value, type):
        return None
    if dataclasses.is_dataclass(value):
        return {field.name: getattr(value, field.name, None) for field in dataclasses.fields(value)}
    attrs = getattr(kind, "__attrs_attrs__", None)
    if attrs is not None:
        return {a.name: getattr(value, a.name, None) for a in attrs}
    if kind.__name__ == "SimpleNamespace" and kind.__module__ in ("types", "builtins"):
        return dict(vars(value))
    return None


def _object_repr(value: Any, redactor: Redactor, max_chars: int) -> str:
    """The short repr of any other object, with the values of its secret-named attributes (from
    its ``__dict__``) taken out of it."""
    secrets = []
    try:
        attributes = vars(value)
    except TypeError:
        attributes = None
    if isinstance(attributes, dict):
        for name, item in list(attributes.items())[:MAX_ITEMS]:
            if type(name) is str and redactor.is_secret(name) and item is not None:
                try:
                    secrets.append(item if type(item) is str else repr(item))
                except Exception:
                    return _unrepresentable(value)
    if not secrets:
        return _short_repr(value, max_chars)
    text = _repr_text(value)
    if text is None:
        return _unrepresentable(value)
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return redact_and_truncate(text, min(max_chars, 200))


def _plain_scalar(value: Any) -> Any:
    """The exact built-in value of an instance of a subclass of str, int or float."""
    for base, convert in ((str, str.__str__), (int, int.__int__), (float, float.__float__)):
        if isinstance(value, base):
            return convert(value)
    return None
