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


def resolve(config: pytest.Config, run_id: str) -> tuple[config_module.Settings, RunOptions]:
    """The settings (``[tool.dev-system]`` < ini < ``DEV_SYSTEM_*`` < options) and options of this run.
    Raises :class:`pytest.UsageError` with one line for anything that cannot be used."""
    try:
        env = config_module.from_environment()
        overrides: dict[str, Any] = {}
        off: set[str] = set()
        for key, name in THRESHOLD_OPTIONS:
            ini_value = _ini(config, name)
            option_value = config.getoption(name, None)
            value = option_value if option_value is not None else (ini_value if key not in env else None)
            if value is None or value == "":
                continue
            if str(value).strip().lower() in _OFF:
                off.add(key)
            else:
                overrides[key] = value
        db = config.getoption("telemetry_db", None)
        if db:
            overrides["db_path"] = config.invocation_params.dir / Path(db).expanduser()
        elif _ini(config, "telemetry_db") and "db_path" not in env:
            base = config.inipath.parent if config.inipath else config.rootpath
            overrides["db_path"] = base / Path(_ini(config, "telemetry_db")).expanduser()
        overrides["run_id"] = run_id
        overrides["enabled"] = True
        settings = config_module.load(overrides, cwd=config.rootpath)
    except config_module.ConfigError as exc:
        raise pytest.UsageError(f"telemetry: {exc}") from None
    settings = replace(settings, db_path=Path(settings.db_path).resolve() if settings.db_path else None)

    top_text = config.getoption("telemetry_top", None) or _ini(config, "telemetry_top") or "5"
    try:
        top = int(top_text)
        if top < 0:
            raise ValueError
    except ValueError:
        raise pytest.UsageError(f"telemetry: --telemetry-top must be a whole number >= 0, not {top_text!r}") from None

    compare = config.getoption("telemetry_compare", None)
    if compare not in (None, "auto") and ("::" in compare or (config.invocation_params.dir / compare).exists()):
        raise pytest.UsageError(
            f"telemetry: --telemetry-compare took {compare!r} as the run to compare with; write "
            f"--telemetry-compare={compare} for a run, or put --telemetry-compare after the test paths")
    if compare is None and config.getini("telemetry_compare"):
        compare = "auto"
    limits_text = config.getoption("telemetry_compare_fail", None) or _ini(config, "telemetry_compare_fail")
    limits: tuple = ()
    if limits_text:
        from dev_system.analysis.compare import LimitError, parse_limits

        try:
            limits = tuple(parse_limits(limits_text))
        except LimitError as exc:
            raise pytest.UsageError(f"telemetry: --telemetry-compare-fail: {exc}") from None
        compare = compare or "auto"

    gate = config.getoption("telemetry_gate", None)
    if gate is None:
        gate = bool(config.getini("telemetry_gate"))

    json_path = config.getoption("telemetry_json", None)
    instrument_text = config.getoption("telemetry_instrument", None)
    names = ([n for n in instrument_text.replace(",", " ").split() if n] if instrument_text is not None
             else list(config.getini("telemetry_instrument")))
    instrument: tuple[str, ...] | None = None
    if names:
        instrument = () if [n.lower() for n in names] == ["all"] else tuple(n.lower() for n in names)
    return settings, RunOptions(
        gate=bool(gate), top=top,
        json_path=None if not json_path else config.invocation_params.dir / Path(json_path).expanduser(),
        compare=compare, compare_limits=limits, instrument=instrument, thresholds_off=frozenset(off),
    )
