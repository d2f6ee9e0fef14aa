"""The raw record: what the calling path appends to the recorder's buffer for each call.

A raw record is a plain tuple (building and reading one is the cheapest thing Python does on
the hot path); this module owns its layout. The decorator's wrappers and :class:`Span` build
raw records; the recorder's writer finishes them into events (:mod:`dev_system.record.finish`).
Code that builds one lists the fields in :data:`RAW_FIELDS` order; code that reads one uses the
index names below, never a bare number.
"""

from __future__ import annotations

#: The fields of a raw record, in order; built on the calling path, finished by the writer.
RAW_FIELDS = (
    "start",  # perf_counter() at the start of the call
    "event_type", "agent_name", "function_name", "input_tokens", "output_tokens",
    "latency_s", "cost_usd", "success", "error_type",
    "trace_id", "root_span", "span", "parent_span",
    "args", "extra", "model", "run_id", "error_message",
)

(START, EVENT_TYPE, AGENT_NAME, FUNCTION_NAME, INPUT_TOKENS, OUTPUT_TOKENS,
 LATENCY_S, COST_USD, SUCCESS, ERROR_TYPE,
 TRACE_ID, ROOT_SPAN, SPAN, PARENT_SPAN,
 ARGS, EXTRA, MODEL, RUN_ID, ERROR_MESSAGE) = range(len(RAW_FIELDS))
