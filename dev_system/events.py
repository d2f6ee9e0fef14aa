"""The one record shape: :class:`TelemetryEvent`.

Its fields are in the order of the ``telemetry_events`` columns after ``id`` (``created_at`` is left
to SQLite), so an event is also the row inserted for it.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from dev_system.json_fields import load_object

#: The documented columns of the events table, in their documented order (none may be removed or renamed).
DOCUMENTED_COLUMNS = (
    "timestamp",
    "event_type",
    "agent_name",
    "function_name",
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "cost_usd",
    "success",
    "error_type",
    "trace_id",
    "metadata",
)

#: Columns added after the documented ones.
EXTRA_COLUMNS = ("event_id", "span_id", "parent_span_id", "run_id", "model")


class TelemetryEvent(NamedTuple):
    """One recorded model call, tool call or custom operation.

    ``input_tokens``/``output_tokens`` are ``None`` when unknown, ``cost_usd`` is ``None`` when
    no price is known (never a made-up 0). ``metadata`` is a JSON object as text, or ``None``.
    """

    timestamp: float
    event_type: str
    agent_name: str
    function_name: str
    input_tokens: int | None
    output_tokens: int | None
    latency_ms: float
    cost_usd: float | None
    success: bool
    error_type: str | None
    trace_id: str | None
    metadata: str | None
    event_id: str
    span_id: str | None
    parent_span_id: str | None
    run_id: str | None
    model: str | None

    @property
    def metadata_dict(self) -> dict[str, Any]:
        """The metadata decoded from JSON (an empty dict when there is none or it is not valid; a
        one-key object saying why when it is too long or too deep to read: see
        :func:`dev_system.json_fields.load_object`)."""
        return load_object(self.metadata)

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens, counting unknown as 0."""
        return (self.input_tokens or 0) + (self.output_tokens or 0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, metadata decoded."""
        out = self._asdict()
        out["success"] = bool(self.success)
        out["metadata"] = self.metadata_dict
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TelemetryEvent:
        """The inverse of :meth:`to_dict` (metadata may be a dict or JSON text)."""
        values = dict(data)
        meta = values.get("metadata")
        if isinstance(meta, dict):
            values["metadata"] = json.dumps(meta, sort_keys=True) if meta else None
        values["success"] = bool(values.get("success"))
        return cls(**{name: values.get(name) for name in cls._fields})


EVENT_COLUMNS = TelemetryEvent._fields
