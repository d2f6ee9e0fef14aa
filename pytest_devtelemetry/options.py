"""What the options, ini keys, ``[tool.dev-system]`` and ``DEV_SYSTEM_*`` ask of a run, checked:
:func:`resolve` gives the recorder's settings and the run's :class:`RunOptions`, or raises
:class:`pytest.UsageError` with one line.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dev_system import config as config_module
from dev_system.structs import struct

_OFF = {"off", "none", "no"}
#: Each threshold: its key in the settings and in ``Thresholds``, and its option's and ini key's name.
THRESHOLD_OPTIONS = (
    ("success_rate_min", "telemetry_success_rate_min"),
    ("p95_latency_ms_max", "telemetry_p95_latency_ms_max"),
    ("daily_cost_usd_max", "telemetry_cost_usd_max"),
)


@struct
class RunOptions:
    """What the options and ini keys ask of this run, checked."""

    gate: bool = False
    top: int = 5
    json_path: Path | None = None
    compare: str | None = None
    compare_limits: tuple = ()
    instrument: tuple[str, ...] | None = None
    thresholds_off: frozenset[str] = frozenset()


def _ini(config: pytest.Config, name: str) -> str:
    value = config.getini(name)
    return value.strip() if isinstance(value, str) else value


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _ini_source(config: pytest.Config) -> str:
    return f"ini file {config.inipath}" if config.inipath else "ini file"


def _value(config: pytest.Config, dest: str) -> tuple[Any, str, str]:
    """The value of option ``dest`` or else of its ini key, with where it came from: ``(value,
    source, name)`` as :func:`dev_system.config.convert` names them."""
    option_value = config.getoption(dest, None)
    if option_value is not None:
        return option_value, "", _flag(dest)
    return _ini(config, dest), _ini_source(config), dest


def _thresholds(config: pytest.Config, env: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The thresholds the options and ini keys set, checked; and those switched ``off``. An ini
    key gives way to the environment's value (an option beats both)."""
    values: dict[str, Any] = {}
    off: set[str] = set()
    for key, dest in THRESHOLD_OPTIONS:
        value, source, name = _value(config, dest)
        if value is None or value == "" or (source and key in env):
            continue
        if str(value).strip().lower() in _OFF:
            off.add(key)
        else:
            values[key] = config_module.convert(key, value, source=source, name=name, also=", or 'off'")
    return values, off


def _score_min(config: pytest.Config, env: dict[str, Any]) -> dict[str, float]:
    """The score minimums of the ini key (unless the environment sets them) and of the options
    (repeatable, beating the ini key name by name), checked."""
    values: dict[str, float] = {}
    ini = _ini(config, "telemetry_score_min")
    if ini and "score_min" not in env:
        values.update(config_module.convert("score_min", ini, source=_ini_source(config), name="telemetry_score_min"))
    for given in config.getoption("telemetry_score_min", None) or ():
        values.update(config_module.convert("score_min", given, name="--telemetry-score-min"))
    return values


def _top(config: pytest.Config) -> int:
    value, source, name = _value(config, "telemetry_top")
    if value in (None, ""):
        return 5
    try:
        top = int(value)
        if top < 0:
            raise ValueError(value)
    except ValueError:
        where = f"{source}: " if source else ""
        raise config_module.ConfigError(f"{where}invalid value {value!r} for {name} (a whole number, 0 or more)") from None
    return top


def _instrument(config: pytest.Config) -> tuple[str, ...] | None:
    """The SDKs to instrument (``()``: every installed one; ``None``: none), names checked."""
    text = config.getoption("telemetry_instrument", None)
    if text is not None:
        names, source, name = [n for n in text.replace(",", " ").split() if n], "", "--telemetry-instrument"
    else:
        names, source, name = list(config.getini("telemetry_instrument")), _ini_source(config), "telemetry_instrument"
    if not names:
        return None
    wanted = tuple(n.lower() for n in names)
    if wanted == ("all",):
        return ()
    from dev_system.record.instrument import ALIASES, PROVIDERS

    unknown = [n for n in names if n.lower() not in PROVIDERS and n.lower() not in ALIASES]
    if unknown:
        where = f"{source}: " if source else ""
        raise config_module.ConfigError(
            f"{where}invalid value {unknown[0]!r} for {name} ({', '.join(PROVIDERS)}, several with commas, or 'all')")
    return wanted


def _limits(config: pytest.Config) -> tuple:
    value, source, name = _value(config, "telemetry_compare_fail")
    if not value:
        return ()
    from dev_system.analysis.compare import LimitError, parse_limits

    try:
        return tuple(parse_limits(value))
    except LimitError as exc:
        raise config_module.ConfigError(f"{source + ': ' if source else ''}{name}: {exc}") from None


def _settings(config: pytest.Config, run_id: str | None) -> tuple[config_module.Settings, set[str]]:
    """The settings of a run (``[tool.dev-system]`` < ini < ``DEV_SYSTEM_*`` < options), checked,
    and the thresholds switched off."""
    env = config_module.from_environment()
    overrides, off = _thresholds(config, env)
    overrides["score_min"] = _score_min(config, env) or None
    db = config.getoption("telemetry_db", None)
    if db:
        overrides["db_path"] = config.invocation_params.dir / Path(db).expanduser()
    elif _ini(config, "telemetry_db") and "db_path" not in env:
        base = config.inipath.parent if config.inipath else config.rootpath
        overrides["db_path"] = base / Path(_ini(config, "telemetry_db")).expanduser()
    overrides["run_id"] = run_id
    overrides["enabled"] = True
    return config_module.load(overrides, cwd=config.rootpath), off


def check(config: pytest.Config, *, settings: bool = False) -> None:
    """Check the values of the options and ini keys as :func:`resolve` does, and with ``settings``
    those of ``[tool.dev-system]`` and ``DEV_SYSTEM_*`` too, before anything of the recorder is
    imported (its own reading of the settings would only warn). Called also in a run that does not
    record, so that a typo is not found only on the day telemetry is switched on. Raises
    :class:`pytest.UsageError` with one line naming the option, ini key, key or variable."""
    try:
        if settings:
            _settings(config, None)
        else:
            _thresholds(config, {})
            _score_min(config, {})
        _top(config)
        _limits(config)
        _instrument(config)  # last: it imports the instrumentation, and with it the recorder
    except config_module.ConfigError as exc:
        raise pytest.UsageError(f"telemetry: {exc}") from None


def resolve(config: pytest.Config, run_id: str) -> tuple[config_module.Settings, RunOptions]:
    """The settings and options of this run. Raises :class:`pytest.UsageError` with one line
    naming the option, ini key, ``pyproject.toml`` key or variable whose value cannot be used."""
    try:
        settings, off = _settings(config, run_id)
        top = _top(config)
        limits = _limits(config)
        instrument = _instrument(config)
    except config_module.ConfigError as exc:
        raise pytest.UsageError(f"telemetry: {exc}") from None
    settings = replace(settings, db_path=Path(settings.db_path).resolve() if settings.db_path else None)
    if settings.enabled and settings.db_path is not None:
        from dev_system.store.db import StoreError, check_ours

        try:  # someone else's database: refused before anything writes to it
            check_ours(settings.db_path)
        except StoreError as exc:
            raise pytest.UsageError(f"telemetry: {exc}") from None

    compare = config.getoption("telemetry_compare", None)
    if compare not in (None, "auto") and ("::" in compare or (config.invocation_params.dir / compare).exists()):
        raise pytest.UsageError(
            f"telemetry: --telemetry-compare took {compare!r} as the run to compare with; write "
            f"--telemetry-compare={compare} for a run, or put --telemetry-compare after the test paths")
    if compare is None and config.getini("telemetry_compare"):
        compare = "auto"
    if limits:
        compare = compare or "auto"

    gate = config.getoption("telemetry_gate", None)
    if gate is None:
        gate = bool(config.getini("telemetry_gate"))

    json_path = config.getoption("telemetry_json", None)
    return settings, RunOptions(
        gate=bool(gate), top=top,
        json_path=None if not json_path else config.invocation_params.dir / Path(json_path).expanduser(),
        compare=compare, compare_limits=limits, instrument=instrument, thresholds_off=frozenset(off),
    )
