"""The public face of dev_system telemetry (the import path users write).

>>> from dev_system.ops.telemetry import telemetry_decorator
>>> @telemetry_decorator(agent_name="orchestrator", event_type="tool_call")
... def process_request(data: dict): ...

Telemetry is on when any of these holds (``DEV_SYSTEM_TELEMETRY=0`` beats them all): a pytest run
with ``--telemetry``; ``DEV_SYSTEM_TELEMETRY=1``; :func:`configure` ``(enabled=True)``; a
``.dev-system`` folder made by ``dev-system init --telemetry`` in the working directory or above.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dev_system.config import Settings
from dev_system.events import TelemetryEvent
from dev_system.problems import TelemetryWarning, problem_counts, problem_messages
from dev_system.record import recorder as _recorder
from dev_system.record.context import TelemetryThread, annotate, current_trace_id, propagate, trace
from dev_system.record.decorator import telemetry_decorator
from dev_system.record.pricing import (
    anthropic_cost_calculator,
    cost_calculator,
    model_cost_calculator,
    openai_cost_calculator,
    price_calculator,
)
from dev_system.record.scores import Score, ScoreError, score
from dev_system.record.sinks import MemorySink
from dev_system.record.spans import Span
from dev_system.record.usage import StreamUsage, Usage, usage_from
from dev_system.store.sink import SQLiteSink


def configure(*, enabled: bool | None = None, db_path: str | Path | None = None, sync: bool | None = None,
              sample_rate: float | None = None, capture_args: bool | None = None,
              **settings: Any) -> Settings:
    """Set telemetry up in code; arguments left out keep their configured value.

    ``configure(enabled=True, db_path="telemetry.db")`` switches recording on into that file.
    Other keyword arguments are any :class:`~dev_system.config.Settings` field (``redact_keys``,
    ``max_value_chars``, ``buffer_size``, ``flush_interval_s``, ``run_id``, ...). What was
    recorded before is flushed first. Returns the settings now in force.
    """
    return _recorder.configure(enabled=enabled, db_path=db_path, sync=sync, sample_rate=sample_rate,
                               capture_args=capture_args, **settings)


def flush() -> None:
    """Store every event recorded so far; returns when they are written."""
    _recorder.get_recorder().flush()


def is_enabled() -> bool:
    """Whether decorated calls are being recorded."""
    return _recorder.get_recorder().on


def stats() -> dict[str, Any]:
    """This process's counters: events stored and dropped (by reason), events still buffered,
    the database in use, and telemetry's own problems by kind (``problems``: how many of each;
    ``problem_messages``: the first message of each)."""
    out = _recorder.get_recorder().stats()
    out["problems"] = problem_counts()
    out["problem_messages"] = problem_messages()
    return out


def add_sink(sink: Any) -> None:
    """Also deliver every event to ``sink`` (an object with ``write(events)`` and ``close()``)."""
    _recorder.get_recorder().add_sink(sink)


def remove_sink(sink: Any) -> None:
    """Stop delivering events to ``sink``."""
    _recorder.get_recorder().remove_sink(sink)


__all__ = [
    "StreamUsage",
    "Usage",
    "anthropic_cost_calculator",
    "cost_calculator",
    "model_cost_calculator",
    "openai_cost_calculator",
    "price_calculator",
    "usage_from",
    "MemorySink",
    "SQLiteSink",
    "Score",
    "ScoreError",
    "Span",
    "TelemetryEvent",
    "TelemetryThread",
    "TelemetryWarning",
    "add_sink",
    "annotate",
    "configure",
    "current_trace_id",
    "flush",
    "is_enabled",
    "propagate",
    "remove_sink",
    "score",
    "stats",
    "telemetry_decorator",
    "trace",
]
