"""One :class:`Settings` object, resolved from four layers, later ones winning:

defaults < ``pyproject.toml`` ``[tool.dev-system]`` < environment ``DEV_SYSTEM_*`` < explicit
overrides (``configure(...)`` in code, command-line flags, pytest options).

Keys are written in kebab-case in ``pyproject.toml`` (``sample-rate``) and upper snake case in
the environment (``DEV_SYSTEM_SAMPLE_RATE``); see the README for the full list.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
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

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (None values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


_FLOAT_KEYS = {"sample_rate", "flush_interval_s", "success_rate_min", "p95_latency_ms_max", "daily_cost_usd_max"}
_INT_KEYS = {"max_value_chars", "buffer_size"}
_BOOL_KEYS = {"enabled", "sync", "capture_args"}
_TUPLE_KEYS = {"redact_keys", "auto_integrate_patterns"}
_ALIASES = {"telemetry": "enabled", "db": "db_path", "flush_interval": "flush_interval_s"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


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


def _convert(key: str, value: Any, where: str) -> Any:
    try:
        if key in _BOOL_KEYS:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(value)
        if key in _FLOAT_KEYS:
            number = float(value)
            if number != number or number in (float("inf"), float("-inf")):
                raise ValueError(value)
            if key == "sample_rate" and not 0.0 <= number <= 1.0:
                raise ValueError(value)
            if key == "flush_interval_s" and number <= 0:  # 0 or less made the writer spin a core
                raise ValueError(value)
            return number
        if key in _INT_KEYS:
            number = int(value)
            if number <= 0:
                raise ValueError(value)
            return number
        if key in _TUPLE_KEYS:
            if isinstance(value, str):
                value = [part.strip() for part in value.split(",") if part.strip()]
            return tuple(str(part) for part in value)
        if key == "db_path":
            if not str(value).strip():  # Path("") is the working directory, not a database
                raise ValueError(value)
            return Path(value).expanduser()
        if key == "prices":
            return _parse_prices(value, where)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: invalid value {value!r} for {key.replace('_', '-')}") from exc


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


def _normalise(mapping: Mapping[str, Any], where: str) -> dict[str, Any]:
    out = {}
    for raw_key, value in mapping.items():
        key = raw_key.replace("-", "_").lower()
        key = _ALIASES.get(key, key)
        if key not in _FIELDS:
            raise ConfigError(f"{where}: unknown setting {raw_key!r}")
        out[key] = _convert(key, value, where)
    return out


def from_pyproject(root: Path) -> dict[str, Any]:
    """The ``[tool.dev-system]`` table of ``root/pyproject.toml``, checked and converted."""
    path = root / "pyproject.toml"
    if not _is(root, "pyproject.toml", "is_file"):
        return {}
    table = _load_toml(path).get("tool", {}).get("dev-system", {})
    values = _normalise(table, f"{path} [tool.dev-system]")
    if "db_path" in values and not values["db_path"].is_absolute():
        values["db_path"] = root / values["db_path"]
    return values


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Settings given as ``DEV_SYSTEM_<KEY>`` variables (``DEV_SYSTEM_TELEMETRY`` for ``enabled``)."""
    environ = os.environ if environ is None else environ
    values = {}
    for name, value in environ.items():
        if not name.startswith("DEV_SYSTEM_"):
            continue
        key = _ALIASES.get(name[len("DEV_SYSTEM_"):].lower(), name[len("DEV_SYSTEM_"):].lower())
        if key == "db_path" and not value.strip():
            continue  # DEV_SYSTEM_DB_PATH= (set but empty, as CI files often leave it): not set
        if key in _FIELDS and key != "prices":
            values[key] = _convert(key, value, f"environment {name}")
    return values


def folder_enabled(root: Path) -> bool:
    """True when ``root/.dev-system/config.toml`` (written by ``init --telemetry``) switches telemetry on."""
    path = root / FOLDER_CONFIG
    if not _is(root, str(FOLDER_CONFIG), "is_file"):
        return False
    table = _load_toml(path).get("telemetry", {})
    return isinstance(table, dict) and table.get("enabled") is True


def load(overrides: Mapping[str, Any] | None = None, *, cwd: Path | None = None,
         environ: Mapping[str, str] | None = None) -> Settings:
    """Resolve the settings for the project around ``cwd`` (default: the working directory).

    ``enabled`` ends up True or False: ``DEV_SYSTEM_TELEMETRY=0`` beats everything, then any
    layer that says True, then a ``.dev-system`` folder with telemetry enabled.
    """
    root = find_project_root(cwd)
    values: dict[str, Any] = {}
    values.update(from_pyproject(root))
    env_values = from_environment(environ)
    values.update(env_values)
    explicit = {k: v for k, v in (overrides or {}).items() if v is not None}
    values.update(_normalise(explicit, "configure()") if explicit else {})
    if env_values.get("enabled") is False:
        values["enabled"] = False
    elif values.get("enabled") is None:
        values["enabled"] = folder_enabled(root)
    if values.get("db_path") is None:
        values["db_path"] = root / DB_RELATIVE
    return Settings(**values)


def default_db_path(cwd: Path | None = None) -> Path:
    """The database the reports read when no ``--db`` is given."""
    try:
        configured = from_environment().get("db_path")
    except ConfigError:
        configured = None
    root = find_project_root(cwd)
    if configured is not None:
        return configured
    try:
        return from_pyproject(root).get("db_path") or root / DB_RELATIVE
    except ConfigError:
        return root / DB_RELATIVE
