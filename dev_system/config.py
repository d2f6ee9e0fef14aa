"""One :class:`Settings` object, resolved from four layers, later ones winning:

defaults < ``pyproject.toml`` ``[tool.dev-system]`` < environment ``DEV_SYSTEM_*`` < explicit
overrides (``configure(...)`` in code, command-line flags, pytest options).

Keys are written in kebab-case in ``pyproject.toml`` (``sample-rate``) and upper snake case in
the environment (``DEV_SYSTEM_SAMPLE_RATE``); see the README for the full list.

Every value goes through :func:`convert`, whichever way it came in: its type, range and shape
are checked (:data:`EXPECTED` says what each must be), and a bad one is one line naming what the
user wrote — the file and key, the variable, the flag. The front ends stop on it
(:class:`ConfigError`); the recorder passes ``on_problem`` to :func:`load` and goes on without it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from dev_system.structs import struct

DATA_DIR = ".dev-system"
DB_RELATIVE = Path(DATA_DIR) / "data" / "telemetry.db"
FOLDER_CONFIG = Path(DATA_DIR) / "config.toml"

DEFAULT_REDACT_KEYS = (
    "api_key",
    "apikey",
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "auth",
    "cookie",
    "credential",
    "credentials",
    "passphrase",
    "access_key",
    "bearer",
    "jwt",
    "private_key",
    "session",
    "x-api-key",
)


#: The longest quality-score name (``score("correctness", 0.9)``).
SCORE_NAME_MAX = 64


def is_score_name(name: object) -> bool:
    """Whether ``name`` can name a quality score: a short identifier (ASCII letters, digits and
    ``_``, not starting with a digit, at most :data:`SCORE_NAME_MAX` characters)."""
    return isinstance(name, str) and 0 < len(name) <= SCORE_NAME_MAX and name.isascii() and name.isidentifier()


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message is one line for a person."""


@struct
class ModelPrice:
    """A user's price for one model, in USD per million tokens."""

    input: float
    output: float
    cached_input: float | None = None


@struct
class Settings:
    """Every setting of dev_system, with its default."""

    #: True/False when decided by a layer; None when no layer decided (then the project folder does).
    enabled: bool | None = None
    db_path: Path | None = None
    sync: bool = False
    sample_rate: float = 1.0
    capture_args: bool = True
    #: The names whose values are redacted: :data:`DEFAULT_REDACT_KEYS` plus the user's names,
    #: minus the built-in names the user wrote as ``!NAME``.
    redact_keys: tuple[str, ...] = DEFAULT_REDACT_KEYS
    max_value_chars: int = 1000
    buffer_size: int = 50_000
    flush_interval_s: float = 0.5
    run_id: str | None = None
    success_rate_min: float = 90.0
    p95_latency_ms_max: float = 3000.0
    daily_cost_usd_max: float = 10.0
    prices: Mapping[str, ModelPrice] = field(default_factory=dict)
    instrument_agent_name: str = "llm"
    auto_integrate_patterns: tuple[str, ...] = (
        "generate", "complete", "completion", "chat", "embed", "predict", "infer",
        "prompt", "llm", "agent", "summarize", "classify", "rerank", "tool",
    )
    #: OTLP/HTTP base URL to export events to as OpenTelemetry spans (``off``: never; unset: the
    #: standard ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`` variables decide). See docs/otel.md.
    otlp_endpoint: str | None = None
    #: The lowest mean a run's quality score may have (name -> minimum; ``[tool.dev-system.scores]``):
    #: an alert below it. Each layer adds its names to those of the layers below.
    score_min: Mapping[str, float] = field(default_factory=dict)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (None values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


_FLOAT_KEYS = {"sample_rate", "flush_interval_s", "success_rate_min", "p95_latency_ms_max", "daily_cost_usd_max"}
_INT_KEYS = {"max_value_chars", "buffer_size"}
_BOOL_KEYS = {"enabled", "sync", "capture_args"}
_TUPLE_KEYS = {"redact_keys", "auto_integrate_patterns"}
_ALIASES = {"telemetry": "enabled", "db": "db_path", "flush_interval": "flush_interval_s", "scores": "score_min"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
#: The values of ``otlp-endpoint`` that switch export off.
OTLP_OFF = frozenset({"", "off", "none", "false", "0", "no"})

#: Each number's range: ``(lowest, highest, lowest allowed)``, ``None`` for no bound.
_RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    "sample_rate": (0.0, 1.0, True),
    "flush_interval_s": (0.0, None, False),  # 0 or less made the writer spin a core
    "success_rate_min": (0.0, 100.0, True),
    "p95_latency_ms_max": (0.0, None, True),
    "daily_cost_usd_max": (0.0, None, True),
    "max_value_chars": (0, None, False),
    "buffer_size": (0, None, False),
}

#: What a value must be, as a person reads it in the one line that refuses it.
EXPECTED = {
    "enabled": "true or false",
    "sync": "true or false",
    "capture_args": "true or false",
    "sample_rate": "a number from 0 to 1",
    "flush_interval_s": "a number of seconds above 0",
    "success_rate_min": "a percent from 0 to 100",
    "p95_latency_ms_max": "a number of milliseconds, 0 or more",
    "daily_cost_usd_max": "an amount in USD, 0 or more",
    "max_value_chars": "a whole number above 0",
    "buffer_size": "a whole number above 0",
    "redact_keys": ("names to redact besides the built-in ones; '!NAME' stops redacting a built-in "
                    "name (" + ", ".join(DEFAULT_REDACT_KEYS) + ")"),
    "db_path": "a path",
    "prices": "a table of models, each with 'input' and 'output' (USD per million tokens)",
    "otlp_endpoint": "an http:// or https:// URL, or 'off'",
    "score_min": "score names with the lowest mean each may have, such as 'correctness:0.8 faithfulness:0.7'",
}


def _is(folder: Path, name: str, test: str) -> bool:
    try:
        return getattr(folder / name, test)()
    except OSError:  # an unreadable parent folder is not a project root
        return False


def find_project_root(start: Path | None = None) -> Path:
    """The folder holding ``.dev-system``, else ``pyproject.toml`` or ``.git``, from ``start`` upward; else ``start``."""
    try:
        start = (start or Path.cwd()).resolve()
    except OSError:  # the working directory was deleted
        start = Path(os.sep)
    chain = [start, *start.parents]
    for folder in chain:
        if _is(folder, DATA_DIR, "is_dir"):
            return folder
    for folder in chain:
        if _is(folder, "pyproject.toml", "is_file") or _is(folder, ".git", "exists"):
            return folder
    return start


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def _number(key: str, value: Any) -> float | int:
    if isinstance(value, bool):  # True is not 1 percent
        raise ValueError(value)
    if key in _INT_KEYS:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        number: float | int = int(value)
    else:
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(value)
    low, high, low_allowed = _RANGES.get(key, (None, None, True))
    if low is not None and (number < low or (number == low and not low_allowed)):
        raise ValueError(value)
    if high is not None and number > high:
        raise ValueError(value)
    return number


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    return [str(part).strip() for part in value if str(part).strip()]


def _redact_keys(value: Any) -> tuple[str, ...]:
    """The built-in names, plus the user's, minus those the user wrote as ``!NAME``."""
    def key(name: str) -> str:
        return name.strip().lower().replace("-", "_")

    names = _names(value)
    removed = {key(name[1:]) for name in names if name.startswith("!")}
    if removed - {key(name) for name in DEFAULT_REDACT_KEYS}:
        raise ValueError(value)
    kept = [name for name in DEFAULT_REDACT_KEYS if key(name) not in removed]
    added = [name for name in names if not name.startswith("!") and key(name) not in {key(k) for k in kept}]
    return tuple(dict.fromkeys(kept + added))


def http_url(value: Any) -> str:
    """``value`` if it is an ``http://`` or ``https://`` URL with a host; raises :class:`ValueError`."""
    from urllib.parse import urlsplit

    text = str(value).strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise ValueError(value) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or any(c.isspace() for c in text):
        raise ValueError(value)
    return text


def url_without_credentials(value: Any) -> str:
    """``value`` (a URL) fit for an error message: ``scheme://user:password@host`` shown as
    ``scheme://[REDACTED]@host``."""
    text = str(value)
    scheme, sep, rest = text.partition("://")
    end = min((i for i in (rest.find(c) for c in "/?#") if i != -1), default=len(rest))
    at = rest.rfind("@", 0, end)
    return f"{scheme}://[REDACTED]@{rest[at + 1:]}" if sep and at != -1 else text


def _convert(key: str, value: Any) -> Any:
    if key in _BOOL_KEYS:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(value)
    if key in _FLOAT_KEYS or key in _INT_KEYS:
        return _number(key, value)
    if key == "redact_keys":
        return _redact_keys(value)
    if key in _TUPLE_KEYS:
        return tuple(_names(value))
    if key == "db_path":
        if not str(value).strip():  # Path("") is the working directory, not a database
            raise ValueError(value)
        return Path(value).expanduser()
    if key == "otlp_endpoint":
        return value.strip() if isinstance(value, str) and value.strip().lower() in OTLP_OFF else http_url(value)
    if key == "score_min":
        return parse_score_min(value)
    return str(value)


def parse_score_min(value: Any) -> dict[str, float]:
    """Score minimums: a table (``{"correctness": 0.8}``), or text of ``NAME:NUMBER`` pairs
    separated by spaces or commas (``"correctness:0.8 faithfulness:0.7"``), or a list of such
    texts (a repeated option). Raises :class:`ValueError` for a bad name or number."""
    if isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        texts = [value] if isinstance(value, str) else list(value)
        pairs = []
        for text in texts:
            for part in str(text).replace(",", " ").split():
                name, sep, number = part.partition(":")
                if not sep:
                    raise ValueError(part)
                pairs.append((name, number))
    out = {}
    for name, number in pairs:
        if not is_score_name(name):
            raise ValueError(name)
        out[str(name)] = _finite(number)
    return out


def _finite(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(value)
    return number


def convert(key: str, value: Any, *, source: str = "", name: str | None = None, also: str = "") -> Any:
    """``value`` of the setting ``key`` (a :class:`Settings` field), checked and converted.

    Raises :class:`ConfigError` with one line naming what the user wrote: ``source`` (a file, the
    environment, ``configure()``; empty for a command-line flag) and ``name`` (the key, variable
    or flag as written there; default: the kebab-case key), then what the value must be (with
    ``also``, e.g. ``", or 'off'"``, when the front end accepts more).
    """
    try:
        if key == "prices":
            return _parse_prices(value, source or "configure()")
        return _convert(key, value)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        expected = EXPECTED.get(key, "text") + also
        where = f"{source}: " if source else ""
        shown = name or key.replace("_", "-")
        value = url_without_credentials(value) if key == "otlp_endpoint" else value
        raise ConfigError(f"{where}invalid value {value!r} for {shown} ({expected})") from exc


def _price(value: Any) -> float:
    """A price in USD per million tokens: a finite number, 0 or more (NaN, inf and -1 are refused)."""
    if isinstance(value, bool):
        raise ValueError(value)
    number = float(value)
    if not (number >= 0 and number != float("inf")):
        raise ValueError(value)
    return number


def _parse_prices(table: Any, where: str) -> dict[str, ModelPrice]:
    if not isinstance(table, dict):
        raise ValueError(table)
    prices = {}
    for model, entry in table.items():
        if not isinstance(entry, dict) or "input" not in entry or "output" not in entry:
            raise ConfigError(f"{where}: prices.{model} needs 'input' and 'output' (USD per million tokens)")
        cached = entry.get("cached-input", entry.get("cached_input"))
        values = [_price(entry["input"]), _price(entry["output"]), None if cached is None else _price(cached)]
        prices[str(model)] = ModelPrice(*values)
    return prices


_FIELDS = {f.name for f in dataclasses.fields(Settings)}


#: Called with a kind (``"config:<name>"``) and one line for each bad setting that is skipped;
#: :func:`dev_system.problems.report_problem` has this shape.
OnProblem = Callable[[str, str], None]


def _skip_or_raise(error: ConfigError, name: str, on_problem: OnProblem | None, outcome: str) -> None:
    if on_problem is None:
        raise error
    on_problem(f"config:{name}", f"{error}; {outcome}")


def _normalise(mapping: Mapping[str, Any], source: str, on_problem: OnProblem | None = None) -> dict[str, Any]:
    out = {}
    for raw_key, value in mapping.items():
        key = str(raw_key).replace("-", "_").lower()
        key = _ALIASES.get(key, key)
        try:
            if key not in _FIELDS:
                raise ConfigError(f"{source}: unknown setting {raw_key!r}")
            out[key] = convert(key, value, source=source, name=str(raw_key))
        except ConfigError as exc:
            _skip_or_raise(exc, f"{source} {raw_key}", on_problem, "this setting is ignored")
    return out


def from_pyproject(root: Path, on_problem: OnProblem | None = None) -> dict[str, Any]:
    """The ``[tool.dev-system]`` table of ``root/pyproject.toml``, checked and converted.

    A value that cannot be used raises :class:`ConfigError`; with ``on_problem``, it is passed
    there and left out instead (a file that is not TOML is then left out whole).
    """
    path = root / "pyproject.toml"
    if not _is(root, "pyproject.toml", "is_file"):
        return {}
    try:
        document = _load_toml(path)
    except ConfigError as exc:
        _skip_or_raise(exc, str(path), on_problem, "its settings are ignored")
        return {}
    table = document.get("tool", {}).get("dev-system", {})
    source = f"{path} [tool.dev-system]"
    if not isinstance(table, dict):
        _skip_or_raise(ConfigError(f"{source}: not a table"), source, on_problem, "it is ignored")
        return {}
    values = _normalise(table, source, on_problem)
    if "db_path" in values and not values["db_path"].is_absolute():
        values["db_path"] = root / values["db_path"]
    return values


def from_environment(environ: Mapping[str, str] | None = None, on_problem: OnProblem | None = None) -> dict[str, Any]:
    """Settings given as ``DEV_SYSTEM_<KEY>`` variables (``DEV_SYSTEM_TELEMETRY`` for ``enabled``).
    A bad value raises :class:`ConfigError` naming the variable, or goes to ``on_problem``."""
    environ = os.environ if environ is None else environ
    values = {}
    for name, value in environ.items():
        if not name.startswith("DEV_SYSTEM_"):
            continue
        key = _ALIASES.get(name[len("DEV_SYSTEM_"):].lower(), name[len("DEV_SYSTEM_"):].lower())
        if key == "db_path" and not value.strip():
            continue  # DEV_SYSTEM_DB_PATH= (set but empty, as CI files often leave it): not set
        if key in _FIELDS and key != "prices":
            try:
                values[key] = convert(key, value, source="environment", name=name)
            except ConfigError as exc:
                _skip_or_raise(exc, name, on_problem, "this setting is ignored")
    return values


def folder_enabled(root: Path, on_problem: OnProblem | None = None) -> bool:
    """True when ``root/.dev-system/config.toml`` (written by ``init --telemetry``) switches telemetry
    on. A file that cannot say (not TOML, ``enabled = "yes"``) raises :class:`ConfigError`, or is
    passed to ``on_problem`` and leaves telemetry off."""
    path = root / FOLDER_CONFIG
    if not _is(root, str(FOLDER_CONFIG), "is_file"):
        return False
    try:
        table = _load_toml(path).get("telemetry", {})
        enabled = table.get("enabled", False) if isinstance(table, dict) else table
        if not isinstance(enabled, bool):
            raise ConfigError(f"{path}: [telemetry] enabled must be true or false (no quotes), not {enabled!r}")
    except ConfigError as exc:
        _skip_or_raise(exc, str(path), on_problem, "telemetry stays off")
        return False
    return enabled


def load(overrides: Mapping[str, Any] | None = None, *, cwd: Path | None = None,
         environ: Mapping[str, str] | None = None, on_problem: OnProblem | None = None) -> Settings:
    """Resolve the settings for the project around ``cwd`` (default: the working directory).

    ``enabled`` ends up True or False: ``DEV_SYSTEM_TELEMETRY=0`` beats everything, then any
    layer that says True, then a ``.dev-system`` folder with telemetry enabled.

    A value that cannot be used raises :class:`ConfigError` (one line naming the file and key or
    the variable). With ``on_problem`` (the recorder's way), a bad value in ``pyproject.toml``,
    the environment or the folder's ``config.toml`` is passed there and skipped, and the valid
    settings apply; ``overrides`` (``configure(...)`` in code) always raise.
    """
    root = find_project_root(cwd)
    values: dict[str, Any] = {}
    score_min: dict[str, float] = {}
    explicit = {k: v for k, v in (overrides or {}).items() if v is not None}
    env_values = from_environment(environ, on_problem)
    for layer in (from_pyproject(root, on_problem), env_values,
                  _normalise(explicit, "configure()") if explicit else {}):
        score_min.update(layer.pop("score_min", {}))
        values.update(layer)
    values["score_min"] = score_min
    if env_values.get("enabled") is False:
        values["enabled"] = False
    elif values.get("enabled") is None:
        values["enabled"] = folder_enabled(root, on_problem)
    if values.get("db_path") is None:
        values["db_path"] = root / DB_RELATIVE
    else:
        values["db_path"] = absolute_path(values["db_path"], cwd)
    return Settings(**values)


def absolute_path(path: Path, cwd: Path | None = None) -> Path:
    """``path`` made absolute against ``cwd`` (default: the working directory now), once, when it
    is configured: a later ``os.chdir`` must not send the events to another database. Left as it
    is when the working directory is gone."""
    if path.is_absolute():
        return path
    try:
        return Path(os.path.abspath(Path(cwd or os.getcwd()) / path))
    except OSError:
        return path


def default_db_path(cwd: Path | None = None) -> Path:
    """The database the reports read when no ``--db`` is given."""
    try:
        configured = from_environment().get("db_path")
    except ConfigError:
        configured = None
    root = find_project_root(cwd)
    if configured is not None:
        return absolute_path(configured, cwd)
    try:
        return from_pyproject(root).get("db_path") or root / DB_RELATIVE
    except ConfigError:
        return root / DB_RELATIVE
