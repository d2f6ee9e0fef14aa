"""Redaction of stored text: which names hold secrets, which values are secrets, and the text
with them taken out.

Every text the recorder stores (argument values and keys, annotations, error messages, agent and
function names, trace ids, models) and every text the front ends store (node ids, the run's
command line) goes through :func:`redact_text`, which replaces by ``[REDACTED]``:

- the *known secret values*: the values of secret-named environment variables (``OPENAI_API_KEY``,
  ``DB_PASSWORD``; noticed again when the environment changes, see
  :func:`notice_environment_changes`, and kept once seen) and the keys an instrumented SDK client
  holds (:func:`remember_secret_values`), whatever their shape;
- well-known secret shapes (``sk-...``, ``AKIA...``, JWTs, ``ghp_...``, ``xoxb-...``, ``AIza...``,
  PEM private keys, bearer and basic credentials, passwords in URLs);
- the values of secret-named query parameters in URLs (``?api_key=...``, ``&token=...``, ``&key=...``).

:class:`Redactor` decides which names are secret (keys of captured data, environment variables,
query parameters); the last one made (at each ``configure()``) is the one :func:`redact_text` asks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

from dev_system.problems import filter_messages

REDACTED = "[REDACTED]"

#: Well-known shapes of secrets, redacted wherever they appear in a stored text, whatever its key.
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
#: ``?name=value`` / ``&name=value`` / ``;name=value``: a query parameter (or a form field).
_QUERY_PARAMETER = re.compile(r"(?P<lead>[?&;](?P<name>[A-Za-z][A-Za-z0-9_.\-]{0,60})=)(?P<value>[^&#;\s'\"<>\\]+)")
#: Parts of query parameter and option names that carry keys without being secret-looking as keys
#: of data (see :func:`secret_parameter`): Google's ``key=``, OpenWeather's ``appid=``, signed
#: URLs' signatures (``X-Amz-Signature``, ``sig``).
QUERY_SECRET_NAMES = frozenset({"key", "appid", "sig", "signature"})
#: Shortest value taken as a known secret (shorter ones would redact ordinary words).
MIN_SECRET_CHARS = 8
#: Known secret values kept at most (the environment's and the SDK clients').
MAX_KNOWN_SECRETS = 1_000
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


class Redactor:
    """Decides which keys hold secrets: a key matches a name in ``keys`` as whole ``_``-separated
    parts anywhere in it, after camelCase, ``-``, ``.`` and spaces are read as ``_``
    (``openai_api_key``, ``aws_secret_access_key``, ``accessToken``, ``X-Api-Key``; not ``max_tokens``).
    Making one makes it the one :func:`redact_text` asks, and reads the environment's secrets."""

    def __init__(self, keys: Iterable[str]) -> None:
        global _current
        self.keys = tuple(k.lower().replace("-", "_") for k in keys)
        self._parts = tuple(f"_{k}_" for k in self.keys)
        self._cache: dict[str, bool] = {}
        _current = self
        remember_environment_secrets(self)

    def is_secret(self, key: str) -> bool:
        hit = self._cache.get(key)
        if hit is None:
            k = "_" + _CAMEL.sub("_", key).lower().replace("-", "_").replace(".", "_").replace(" ", "_") + "_"
            hit = any(part in k for part in self._parts)
            if len(self._cache) < 10_000:
                self._cache[key] = hit
        return hit


_current: Redactor | None = None
#: Known secret values, longest first (see the module's docstring).
_known: tuple[str, ...] = ()
_known_set: set[str] = set()
#: The environment as last read (``os.environ``'s own mapping), to notice a change cheaply.
_environment_seen: dict | None = None
#: Redacted short names (agents, functions, models, trace ids), emptied when a secret is learnt.
_names: dict[str, str] = {}


def _learn(values: Iterable[Any]) -> None:
    global _known
    new = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_CHARS and v not in _known_set
           and v.strip() and REDACTED not in v}
    if not new or len(_known_set) >= MAX_KNOWN_SECRETS:
        return
    _known_set.update(new)
    _known = tuple(sorted(_known_set, key=len, reverse=True))
    _names.clear()


def remember_secret_values(values: Iterable[Any]) -> None:
    """Redact these exact values (strings of at least :data:`MIN_SECRET_CHARS` characters) from now
    on, wherever they appear: the keys an SDK client holds, for example."""
    try:
        _learn(values)
    except Exception:  # a value that cannot be compared changes nothing
        pass


def remember_environment_secrets(redactor: Redactor | None = None, environ: Any = None) -> None:
    """Read which values of the environment are secrets, by the names ``redactor`` (by default the
    current one) redacts. Values learnt are kept: a key unset later is still redacted."""
    global _environment_seen
    redactor = redactor or _current
    if redactor is None:
        return
    environ = os.environ if environ is None else environ
    try:
        _learn(value for name, value in list(environ.items()) if isinstance(name, str) and redactor.is_secret(name))
        if environ is os.environ:
            data = getattr(os.environ, "_data", None)
            _environment_seen = dict(data) if isinstance(data, dict) else None
    except Exception:  # an environment that cannot be read changes nothing
        pass


def notice_environment_changes() -> None:
    """Read the environment's secrets again if ``os.environ`` changed since last read (a ``.env``
    loaded, ``monkeypatch.setenv``): a comparison of two small dicts when nothing changed. The
    recorder's writer calls it for each batch, the pytest plugin after each test's call."""
    global _environment_seen
    data = getattr(os.environ, "_data", None)
    seen = _environment_seen
    if data is None or seen is None:
        remember_environment_secrets()
        return
    if data == seen:
        return
    redactor = _current
    if redactor is None:
        return
    # Only the variables set or changed since last read are looked at: pytest changes one at
    # every phase of a test (PYTEST_CURRENT_TEST), the plugin one at every test (for children).
    try:
        decode_key, decode_value = os.environ.decodekey, os.environ.decodevalue  # type: ignore[attr-defined]
        for raw_name, raw_value in data.items() - seen.items():
            if redactor.is_secret(decode_key(raw_name)):
                _learn((decode_value(raw_value),))
        _environment_seen = dict(data)
    except Exception:  # an environment of another shape: read it whole
        remember_environment_secrets()


def _redacted_shape(match: re.Match[str]) -> str:
    if match.group("scheme"):
        return match.group("scheme") + REDACTED
    if match.group("user"):
        return match.group("user") + REDACTED + "@"
    return REDACTED


def secret_parameter(name: str, redactor: Redactor | None = None) -> bool:
    """Whether a query parameter or a command-line option named ``name`` holds a secret: a name
    ``redactor`` (by default the current one) redacts, or one with a part in
    :data:`QUERY_SECRET_NAMES` (``key``, ``vendor-key``, ``X-Amz-Signature``)."""
    redactor = redactor or _current
    if redactor is not None and redactor.is_secret(name):
        return True
    lowered = name.lower()
    return lowered in QUERY_SECRET_NAMES or any(
        part in QUERY_SECRET_NAMES for part in lowered.replace(".", "_").replace("-", "_").split("_"))


def _redacted_parameter(match: re.Match[str]) -> str:
    if secret_parameter(match.group("name")):
        return match.group("lead") + REDACTED
    return match.group(0)


def redact_text(text: str) -> str:
    """``text`` with the known secret values, the well-known secret shapes and the values of
    secret-named query parameters replaced by ``[REDACTED]`` (see the module's docstring)."""
    if len(text) < MIN_SECRET_CHARS:
        return text
    for secret in _known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if "=" in text and ("?" in text or "&" in text or ";" in text):
        text = _QUERY_PARAMETER.sub(_redacted_parameter, text)
    if len(text) < 16 or not (
        "sk-" in text or "eyJ" in text or "://" in text or "earer" in text or "EARER" in text
        or "asic" in text or "ASIC" in text or "AKIA" in text or "ASIA" in text or "AIza" in text
        or "xox" in text or "KEY-----" in text or ("_" in text and "gh" in text)
    ):  # a cheap look first: most texts hold none of the shapes
        return text
    return _SECRET_SHAPES.sub(_redacted_shape, text)


def redact_name(text: Any) -> Any:
    """:func:`redact_text` for the short texts repeated in every event (agent and function names,
    models, trace ids), remembered; anything but a string is returned as it is."""
    if type(text) is not str:
        return text
    done = _names.get(text)
    if done is None:
        done = redact_text(text)
        if len(_names) >= 4_096:
            _names.clear()
        _names[text] = done
    return done


def redact_and_truncate(text: str, max_chars: int) -> str:
    """``text`` redacted, then cut to ``max_chars`` characters with a marker: no part of a secret
    is left before the marker. Only the part kept (and a margin longer than any secret) is read."""
    if len(text) <= max_chars:
        return redact_text(text)
    margin = 1_024 + (len(_known[0]) if _known else 0)
    head = text[:max_chars + margin]
    clean = redact_text(head)
    if len(clean) <= max_chars and len(head) == len(text):
        return clean
    rest = len(text) - len(head) + len(clean) - max_chars
    return f"{clean[:max_chars]}…[truncated {rest} chars]"


#: ``--name=value`` options of a command line.
_OPTION = re.compile(r"^(?P<name>--?[A-Za-z0-9][A-Za-z0-9_.\-]*)=(?P<value>.*)$", re.DOTALL)


def redact_command_line(args: Sequence[str], redactor: Redactor | None = None) -> list[str]:
    """``args`` (a command's arguments) redacted: each as :func:`redact_text` does, and the value
    of an option named as ``redactor`` (by default the current one) redacts
    (``--api-key=...``, ``--vendor-token VALUE``) replaced."""
    def secret(name: str) -> bool:
        return secret_parameter(name, redactor)

    out: list[str] = []
    hide_next = False
    for arg in args:
        arg = str(arg)
        if hide_next and not arg.startswith("-"):
            out.append(REDACTED)
            hide_next = False
            continue
        hide_next = False
        option = _OPTION.match(arg)
        if option is not None and secret(option.group("name").lstrip("-")):
            out.append(f"{option.group('name')}={REDACTED}")
            continue
        if arg.startswith("-") and len(arg) > 1 and secret(arg.lstrip("-")):
            hide_next = True
        out.append(redact_text(arg))
    return out


def redact_url(url: str) -> str:
    """``url`` fit to print: its user name and password (``http://user:token@host``) replaced as a
    whole, then redacted as text (secret-named query parameters, key shapes, known values)."""
    from dev_system.config import url_without_credentials

    return redact_text(url_without_credentials(url))


# A problem's message may quote an error that holds a key (a failed export's reply, a sink's
# exception): problems are redacted like stored text.
filter_messages(redact_text)
