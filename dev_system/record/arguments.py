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
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

REDACTED = "[REDACTED]"
MAX_DEPTH = 6
MAX_ITEMS = 50
#: Values visited by one :func:`sanitize` call: a structure that shares its parts (``[[s] * 50] * 50``)
#: costs little memory but would expand to millions of items.
MAX_NODES = 2_000
#: Characters of text (keys included) kept by one :func:`sanitize` call, at least.
MIN_TOTAL_CHARS = 100_000

#: Well-known shapes of secrets, redacted wherever they appear in a stored text, whatever its key:
#: OpenAI/Anthropic-style keys (``sk-...``, ``sk-ant-...``, ``sk-proj-...``), AWS access key ids,
#: JWTs, GitHub, Slack and Google API tokens, PEM private keys, bearer/basic credentials and
#: passwords in URLs.
_SECRET_SHAPES = re.compile(
    r"(?P<key>\bsk-[A-Za-z0-9_\-]{16,}"
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
    r"|\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"
    r"|\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"
    r"|\bxox[abposr]-[A-Za-z0-9\-]{10,}"
    r"|\bAIza[0-9A-Za-z_\-]{30,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----(?:[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----|[\s\S]*))"
    r"|(?P<scheme>\b(?:[Bb]earer|BEARER|[Bb]asic|BASIC)\s+)[A-Za-z0-9._~+/=\-]{8,}"
    r"|(?P<user>://[^/\s:@]{1,200}:)[^/\s@]{1,200}@"
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _redacted_shape(match: re.Match[str]) -> str:
    if match.group("scheme"):
        return match.group("scheme") + REDACTED
    if match.group("user"):
        return match.group("user") + REDACTED + "@"
    return REDACTED


#: The values of this process's environment variables whose names look secret (``OPENAI_API_KEY``,
#: ``AWS_SECRET_ACCESS_KEY``, ``DB_PASSWORD``), longest first; read when a :class:`Redactor` is made
#: (that is, at each ``configure()``). A key from the environment is redacted wherever it shows up,
#: whatever its shape: in an argument, an annotation, an error message.
_environment_secrets: tuple[str, ...] = ()


def remember_environment_secrets(redactor: Redactor, environ: os._Environ[str] | dict | None = None) -> None:
    """Read again which values of the environment are secrets, by the names ``redactor`` redacts."""
    global _environment_secrets
    environ = os.environ if environ is None else environ
    try:
        found = {value for name, value in list(environ.items())
                 if isinstance(value, str) and len(value) >= 8 and redactor.is_secret(name)}
    except Exception:  # an environment that cannot be read changes nothing
        return
    _environment_secrets = tuple(sorted(found, key=len, reverse=True))


def redact_text(text: str) -> str:
    """``text`` with the environment's secrets and every well-known secret shape (see
    :data:`_SECRET_SHAPES`) replaced by ``[REDACTED]``."""
    if len(text) < 8:
        return text
    for secret in _environment_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if len(text) < 16 or not (
        "sk-" in text or "eyJ" in text or "://" in text or "earer" in text or "EARER" in text
        or "asic" in text or "ASIC" in text or "AKIA" in text or "ASIA" in text or "AIza" in text
        or "xox" in text or "KEY-----" in text or ("_" in text and "gh" in text)
    ):  # a cheap look first: most texts hold none of the shapes
        return text
    return _SECRET_SHAPES.sub(_redacted_shape, text)
_SCALARS = (str, int, float, bool, type(None))
_IMMUTABLE_TYPES = frozenset({str, int, float, bool, type(None)})


class Redactor:
    """Decides which keys hold secrets: a key matches a name in ``keys`` as whole ``_``-separated
    parts anywhere in it, after camelCase, ``-``, ``.`` and spaces are read as ``_``
    (``openai_api_key``, ``aws_secret_access_key``, ``accessToken``, ``X-Api-Key``; not ``max_tokens``)."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = tuple(k.lower().replace("-", "_") for k in keys)
        self._parts = tuple(f"_{k}_" for k in self.keys)
        self._cache: dict[str, bool] = {}
        remember_environment_secrets(self)

    def is_secret(self, key: str) -> bool:
        hit = self._cache.get(key)
        if hit is None:
            k = "_" + _CAMEL.sub("_", key).lower().replace("-", "_").replace(".", "_").replace(" ", "_") + "_"
            hit = any(part in k for part in self._parts)
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
        if type(text) is not str:
            raise TypeError(text)
    except Exception:
        return _unrepresentable(value)
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return redact_text(truncate(text, min(max_chars, 200)))


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
        return redact_text(truncate(value, max_chars))
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
            name = truncate(name, 100)
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
    return _short_repr(value, max_chars)


def _plain_scalar(value: Any) -> Any:
    """The exact built-in value of an instance of a subclass of str, int or float."""
    for base, convert in ((str, str.__str__), (int, int.__int__), (float, float.__float__)):
        if isinstance(value, base):
            return convert(value)
    return None
