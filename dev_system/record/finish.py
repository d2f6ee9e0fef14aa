"""Finishing a raw record: the writer's work of turning one into a :class:`TelemetryEvent`.

The calling path builds a plain tuple (:mod:`dev_system.record.raw`) and leaves the rest for
later; :func:`finish_raw`, run by the recorder's writer thread, adds what costs time: the wall-clock
timestamp, the ids of the event, span and trace, and the metadata JSON (captured arguments and
annotations sanitized and redacted, the error message redacted); the names, the trace id and the
model are redacted too (:func:`dev_system.record.redaction.redact_name`).
"""

from __future__ import annotations

import json
from typing import Any

from dev_system.events import TelemetryEvent
from dev_system.record.arguments import sanitize, sanitize_arguments
from dev_system.record.calls import short_error_message
from dev_system.record.redaction import redact_name

# The writer's per-event work, made cheap. json.dumps(..., ensure_ascii=False, allow_nan=False)
# builds a new encoder on every call; the C encoder is made once here instead. Its input is always
# sanitized (fresh containers, no cycles), so it runs without the circular-reference markers.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)
try:
    from json.encoder import c_make_encoder as _c_make_encoder
    from json.encoder import encode_basestring as _encode_basestring

    _c_encode = _c_make_encoder(None, _ENCODER.default, _encode_basestring, None, _ENCODER.key_separator,
                                _ENCODER.item_separator, False, False, False)
except (ImportError, TypeError):  # no C accelerator
    _c_encode = None


def _to_json(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, allow_nan=False)`` for sanitized data."""
    if _c_encode is None:
        return _ENCODER.encode(value)
    return "".join(_c_encode(value, 0))


_new_event = tuple.__new__


def finish_raw(rec: Any, raw: tuple) -> TelemetryEvent:
    """The :class:`TelemetryEvent` of ``raw``, for the recorder ``rec``: its ``redactor`` and
    ``max_chars`` shape the metadata, its process identity (``epoch_offset``, ``process_prefix``,
    ``span_prefix``) makes the timestamp and the ids. The recorder uses it as its ``finish`` method.
    """
    # The fields in RAW_FIELDS order.
    (start, event_type, agent_name, function_name, input_tokens, output_tokens, latency_s,
     cost, success, error_type, trace_id, root, span, parent, args, extra, model, run_id,
     error_message) = raw
    metadata: dict[str, Any] = {}
    if args:
        metadata["args"] = sanitize_arguments(args, rec.redactor, rec.max_chars)
    if extra:
        extra = dict(extra)
        if model is None and isinstance(extra.get("model"), str):
            model = extra.pop("model")
        metadata.update(sanitize(extra, rec.redactor, rec.max_chars))
    if error_message is not None:
        metadata["error_message"] = short_error_message(error_message)  # "Incorrect API key: sk-..."
    span_prefix = rec.span_prefix
    process_prefix = rec.process_prefix
    return _new_event(TelemetryEvent, (
        start + rec.epoch_offset,
        redact_name(event_type),
        redact_name(agent_name),
        redact_name(function_name),
        input_tokens,
        output_tokens,
        latency_s * 1000.0,
        cost,
        success,
        error_type,
        redact_name(trace_id) if trace_id is not None else f"{process_prefix}{span_prefix}{root & 0xFFFFFFFF:08x}",
        _to_json(metadata) if metadata else None,
        f"{process_prefix}{span:x}",
        f"{span_prefix}{span & 0xFFFFFFFF:08x}",
        f"{span_prefix}{parent & 0xFFFFFFFF:08x}" if parent else None,
        run_id,
        redact_name(model),
    ))
