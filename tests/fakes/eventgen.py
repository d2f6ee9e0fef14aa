"""Synthetic telemetry events written into a real SQLite database, for tests and benchmarks.

    from fakes.eventgen import event, write_events, generate
    write_events(tmp_path / "t.db", [event(ts, agent_name="a", success=False, error_type="E")])
    generate(tmp_path / "big.db", 1_000_000, days=30)
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from dev_system.events import TelemetryEvent
from dev_system.store import db as store
from dev_system.store.events import insert_events

AGENTS = ("orchestrator", "persona_runtime", "viral_engine", "llm")
FUNCTIONS = ("generate_content", "process_request", "score_post", "summarize", "embed")
EVENT_TYPES = ("model_call", "tool_call", "api_call")
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-haiku", None)
ERRORS = ("TimeoutError", "RateLimitError", "ValueError")


def event(timestamp: float, *, event_type: str = "model_call", agent_name: str = "agent",
          function_name: str = "fn", input_tokens: int | None = 10, output_tokens: int | None = 20,
          latency_ms: float = 100.0, cost_usd: float | None = 0.01, success: bool = True,
          error_type: str | None = None, trace_id: str | None = None,
          metadata: dict[str, Any] | str | None = None, event_id: str | None = None,
          span_id: str | None = None, parent_span_id: str | None = None, run_id: str | None = None,
          model: str | None = None) -> TelemetryEvent:
    """One event with plain defaults; ``metadata`` may be a dict; ``event_id`` defaults to a fresh uuid."""
    if isinstance(metadata, dict):
        metadata = json.dumps(metadata, sort_keys=True)
    return TelemetryEvent(
        timestamp, event_type, agent_name, function_name, input_tokens, output_tokens, latency_ms,
        cost_usd, success, error_type, trace_id, metadata, event_id or uuid.uuid4().hex, span_id,
        parent_span_id, run_id, model,
    )


def write_events(path: str | os.PathLike[str], events: Iterable[TelemetryEvent], *, chunk: int = 50_000) -> Path:
    """Create (or open) the database at ``path`` and insert ``events`` through the store; returns the path."""
    path = Path(path)
    conn = store.connect(path)
    try:
        batch: list[TelemetryEvent] = []
        for item in events:
            batch.append(item)
            if len(batch) >= chunk:
                insert_events(conn, batch)
                batch = []
        if batch:
            insert_events(conn, batch)
    finally:
        conn.close()
    return path


def synthetic(n: int, *, days: float = 30.0, now: float | None = None, seed: int = 0,
              failure_rate: float = 0.08, unknown_cost_rate: float = 0.02) -> Iterator[TelemetryEvent]:
    """``n`` plausible events spread evenly over the ``days`` before ``now``, oldest first."""
    rng = random.Random(seed)
    now = time.time() if now is None else now
    start = now - days * 86400
    step = days * 86400 / max(n, 1)
    for i in range(n):
        ok = rng.random() >= failure_rate
        tin, tout = rng.randint(10, 2000), rng.randint(5, 800)
        yield TelemetryEvent(
            start + i * step,
            rng.choice(EVENT_TYPES),
            rng.choice(AGENTS),
            rng.choice(FUNCTIONS),
            tin,
            tout,
            rng.lognormvariate(6.0, 0.8),
            None if rng.random() < unknown_cost_rate else (tin * 0.15 + tout * 0.6) / 1e6,
            ok,
            None if ok else rng.choice(ERRORS),
            f"trace-{i // 4}",
            None if ok else json.dumps({"error_message": "synthetic failure"}),
            f"e{seed}-{i}",
            f"s{i}",
            None if i % 4 == 0 else f"s{i - i % 4}",
            f"run-{i // 1000}",
            rng.choice(MODELS),
        )


def generate(path: str | os.PathLike[str], n: int, *, days: float = 30.0, now: float | None = None,
             seed: int = 0) -> Path:
    """A database at ``path`` with ``n`` :func:`synthetic` events over ``days``."""
    return write_events(path, synthetic(n, days=days, now=now, seed=seed))
