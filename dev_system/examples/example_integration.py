"""A small agent system instrumented with dev_system, to try every report on realistic data.

    python -m dev_system.examples.example_integration                  # 20 live agent turns
    python -m dev_system.examples.example_integration --calls 100 --db /tmp/demo.db
    python -m dev_system.examples.example_integration --days 30        # + 30 days of history, in seconds
    dev-system metrics --period 7d --db /tmp/demo.db

Live turns go through the real decorators: an ``orchestrator`` turn (a tool call and the root of
the turn's trace) calls the ``persona_runtime`` model to write a post, a search tool, and the
``viral_engine`` model to score it. The model calls are mocks that answer in the OpenAI and
Anthropic response shapes with realistic token counts and latencies; about 3% of them fail with a
rate limit and 1% with a timeout, as real providers do under load. Costs are computed by the real
calculators from the mock's model name and usage; a failed call names the model it asked for
(``annotate(model=...)``) and costs nothing, since no usage came back.

``--days N`` writes N days of history before now straight into the database (through
``insert_events``, with past timestamps): the same kinds of turns, a weekly rhythm, and a
couple of bad days (an error spike, a latency regression) so that alerts have something to show.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from dev_system.events import TelemetryEvent
from dev_system.record.context import annotate
from dev_system.record.pricing import default_cost
from dev_system.record.services import orchestrator_telemetry, persona_runtime_telemetry, viral_engine_telemetry
from dev_system.record.usage import Usage

__all__ = ["AgentSystem", "run_turns", "history_events", "write_history", "main"]

#: (model, provider, share of calls, typical input tokens, typical output tokens, median latency ms)
MODELS = (
    ("gpt-4o-mini", "openai", 0.45, 900, 250, 550),
    ("gpt-4o", "openai", 0.15, 1500, 400, 1000),
    ("claude-haiku-4-5", "anthropic", 0.25, 1100, 300, 650),
    ("claude-sonnet-4-5", "anthropic", 0.15, 2000, 600, 1400),
)
RATE_LIMIT_RATE = 0.03
TIMEOUT_RATE = 0.01
#: The client timeout of the simulated SDK, in ms: a timed-out call lasts this long.
TIMEOUT_MS = 20_000


class RateLimitError(Exception):
    """The mock provider's 429."""


class APITimeoutError(TimeoutError):
    """The mock provider took too long."""


# --- the mock provider -------------------------------------------------------------------------


def _pick_model(rng: random.Random) -> tuple:
    roll, total = rng.random(), 0.0
    for spec in MODELS:
        total += spec[2]
        if roll < total:
            return spec
    return MODELS[0]


def _tokens(rng: random.Random, typical: int) -> int:
    return max(1, int(rng.lognormvariate(math.log(typical), 0.45)))


def _latency_ms(rng: random.Random, median: float) -> float:
    return rng.lognormvariate(math.log(median), 0.4)


def mock_response(model: str, provider: str, input_tokens: int, output_tokens: int, text: str,
                  cached: int = 0) -> dict:
    """A response in the provider's own JSON shape (what ``model_dump()`` gives)."""
    if provider == "anthropic":
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": input_tokens - cached, "output_tokens": output_tokens,
                      "cache_read_input_tokens": cached, "cache_creation_input_tokens": 0},
        }
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                  "total_tokens": input_tokens + output_tokens, "prompt_tokens_details": {"cached_tokens": cached}},
    }


class MockProvider:
    """Answers like a model provider: realistic latency (scaled by ``time_scale``), token counts and failures."""

    def __init__(self, rng: random.Random, time_scale: float = 0.1, error_rate: float = 1.0) -> None:
        self.rng, self.time_scale, self.error_rate = rng, time_scale, error_rate

    def complete(self, prompt: str, *, size: float = 1.0) -> dict:
        model, provider, _, typical_in, typical_out, median_ms = _pick_model(self.rng)
        latency = _latency_ms(self.rng, median_ms)
        roll = self.rng.random()
        if roll < (RATE_LIMIT_RATE + TIMEOUT_RATE) * self.error_rate:
            annotate(model=model)  # the event of a failed call keeps the model it asked for
        if roll < RATE_LIMIT_RATE * self.error_rate:
            time.sleep(min(latency, 200) / 1000 * self.time_scale)
            raise RateLimitError(f"429: rate limit reached for {model}")
        if roll < (RATE_LIMIT_RATE + TIMEOUT_RATE) * self.error_rate:
            time.sleep(TIMEOUT_MS / 1000 * self.time_scale)
            raise APITimeoutError(f"{model} did not answer in time")
        time.sleep(latency / 1000 * self.time_scale)
        input_tokens = _tokens(self.rng, int(typical_in * size))
        cached = input_tokens // 2 if self.rng.random() < 0.3 else 0
        return mock_response(model, provider, input_tokens, _tokens(self.rng, int(typical_out * size)),
                             f"Reply to: {prompt[:40]}", cached)


# --- the instrumented agent system ------------------------------------------------------------


class AgentSystem:
    """Three services (orchestrator, persona runtime, viral engine), decorated with the service presets."""

    def __init__(self, seed: int | None = None, time_scale: float = 0.1, error_rate: float = 1.0) -> None:
        self.rng = random.Random(seed)
        self.provider = MockProvider(self.rng, time_scale, error_rate)
        self.time_scale = time_scale

        @persona_runtime_telemetry
        def generate_content(prompt: str, persona: str = "ava") -> dict:
            return self.provider.complete(f"[{persona}] {prompt}")

        @viral_engine_telemetry
        def score_virality(post: str) -> dict:
            return self.provider.complete(f"Score: {post}", size=0.4)

        @orchestrator_telemetry(function_name="search_trends")
        def search_trends(topic: str) -> list[str]:
            time.sleep(_latency_ms(self.rng, 120) / 1000 * self.time_scale)
            if self.rng.random() < 0.01:
                raise ConnectionError("trends service unreachable")
            return [f"{topic} #{n}" for n in range(3)]

        @orchestrator_telemetry
        def process_request(topic: str) -> dict:
            trends = search_trends(topic)
            post = generate_content(f"Write a post about {trends[0]}")
            score = score_virality(post["id"])
            return {"post": post, "score": score}

        self.generate_content = generate_content
        self.score_virality = score_virality
        self.search_trends = search_trends
        self.process_request = process_request

    def turn(self, topic: str) -> bool:
        """One agent turn (one trace); False when it failed (the failure is recorded, not raised)."""
        try:
            self.process_request(topic)
            return True
        except (RateLimitError, APITimeoutError, ConnectionError):
            return False


TOPICS = ("cats", "rust", "coffee", "marathons", "synthwave", "chess", "sourdough", "mars")


def run_turns(calls: int, *, seed: int | None = None, time_scale: float = 0.1, error_rate: float = 1.0) -> tuple[int, int]:
    """Run ``calls`` agent turns through the decorators; returns (succeeded, failed)."""
    system = AgentSystem(seed, time_scale, error_rate)
    ok = failed = 0
    for n in range(calls):
        if system.turn(TOPICS[n % len(TOPICS)]):
            ok += 1
        else:
            failed += 1
    return ok, failed


# --- history ---------------------------------------------------------------------------------


class _Prices:
    """Per-token prices of the example's models, computed once with the real calculator."""

    def __init__(self) -> None:
        self.per_token: dict[str, tuple[float, float] | None] = {}
        for model, provider, *_ in MODELS:
            per_input = default_cost(Usage(1_000_000, 0, model, {"provider": provider}))
            per_output = default_cost(Usage(0, 1_000_000, model, {"provider": provider}))
            self.per_token[model] = None if per_input is None or per_output is None else (
                per_input / 1e6, per_output / 1e6)

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        prices = self.per_token.get(model)
        return None if prices is None else input_tokens * prices[0] + output_tokens * prices[1]


def history_events(days: int, *, turns_per_day: int = 150, now: float | None = None,
                   seed: int = 0) -> Iterator[TelemetryEvent]:
    """Realistic events for the ``days`` days before ``now`` (oldest first), with a weekly rhythm,
    one error-spike day and one slow day."""
    rng = random.Random(seed)
    now = time.time() if now is None else now
    prices = _Prices()
    run_id = f"example-history-{seed}"
    bad_day = days // 3 if days >= 3 else -1
    slow_day = (2 * days) // 3 if days >= 3 else -1
    for day in range(days, 0, -1):
        day_start = now - day * 86400
        weekday = time.gmtime(day_start).tm_wday
        turns = max(1, int(turns_per_day * (0.45 if weekday >= 5 else 1.0) * rng.uniform(0.8, 1.2)))
        error_factor = 4.0 if day == bad_day else 1.0
        slow_factor = 2.5 if day == slow_day else 1.0
        starts = sorted(rng.uniform(0, 86400 - 60) for _ in range(turns))
        for start in starts:
            yield from _history_turn(rng, day_start + start, prices, run_id, error_factor, slow_factor)


def _history_turn(rng: random.Random, t: float, prices: _Prices, run_id: str,
                  error_factor: float, slow_factor: float) -> Iterator[TelemetryEvent]:
    trace_id = uuid.UUID(int=rng.getrandbits(128)).hex
    root_span = f"{rng.getrandbits(32):08x}"
    children: list[TelemetryEvent] = []
    clock = t
    failed: str | None = None

    def event(event_type: str, agent: str, function: str, latency: float, *, model: str | None = None,
              tokens: tuple[int, int] | None = None, error: str | None = None, usage_detail: dict | None = None,
              span: str | None = None, parent: str | None = root_span, start: float) -> TelemetryEvent:
        cost: float | None
        if event_type == "model_call" and error is None:
            cost = prices.cost(model, *tokens) if tokens and model else None
        else:
            cost = 0.0  # a tool call; or a failed model call: no usage came back, nothing was billed
        metadata: dict[str, Any] = {"example": True}
        if usage_detail:
            metadata["usage"] = usage_detail
        if error:
            metadata["error_message"] = {"RateLimitError": "429: rate limit reached",
                                         "APITimeoutError": "request timed out",
                                         "ConnectionError": "trends service unreachable"}[error]
        return TelemetryEvent(
            start, event_type, agent, function,
            tokens[0] if tokens else (None if event_type == "model_call" and error is None else 0),
            tokens[1] if tokens else (None if event_type == "model_call" and error is None else 0),
            latency, cost, error is None, error, trace_id, json.dumps(metadata, sort_keys=True),
            uuid.UUID(int=rng.getrandbits(128)).hex, span or f"{rng.getrandbits(32):08x}", parent, run_id, model,
        )

    # search tool
    latency = _latency_ms(rng, 120) * slow_factor
    error = "ConnectionError" if rng.random() < 0.01 * error_factor else None
    children.append(event("tool_call", "orchestrator", "search_trends", latency, error=error, start=clock))
    clock += latency / 1000
    failed = error
    for agent, function, size in (("persona_runtime", "generate_content", 1.0), ("viral_engine", "score_virality", 0.4)):
        if failed:
            break
        model, provider, _, typical_in, typical_out, median_ms = _pick_model(rng)
        latency = _latency_ms(rng, median_ms) * slow_factor
        roll = rng.random()
        if roll < RATE_LIMIT_RATE * error_factor:
            error, latency = "RateLimitError", min(latency, 200)
        elif roll < (RATE_LIMIT_RATE + TIMEOUT_RATE) * error_factor:
            error, latency = "APITimeoutError", float(TIMEOUT_MS)
        else:
            error = None
        tokens = None
        detail = None
        if error is None:
            tokens = (_tokens(rng, int(typical_in * size)), _tokens(rng, int(typical_out * size)))
            detail = {"provider": provider}
            if rng.random() < 0.3:
                detail["cached_input_tokens"] = tokens[0] // 2
        children.append(event("model_call", agent, function, latency, model=model,
                              tokens=tokens, error=error, usage_detail=detail, start=clock))
        clock += latency / 1000
        failed = error
    total_ms = (clock - t) * 1000 + rng.uniform(1, 5)
    root = event("tool_call", "orchestrator", "process_request", total_ms, error=failed, span=root_span,
                 parent=None, start=t)
    yield root
    yield from children


def write_history(db_path: str | Path, days: int, *, turns_per_day: int = 150, now: float | None = None,
                  seed: int = 0) -> int:
    """Write :func:`history_events` into the database at ``db_path``; returns the number of events
    stored (events already there, from an earlier run with the same seed, are not stored again)."""
    from dev_system.store import db as store
    from dev_system.store.events import insert_events

    conn = store.connect(db_path)
    try:
        before = conn.total_changes
        batch: list[TelemetryEvent] = []
        for item in history_events(days, turns_per_day=turns_per_day, now=now, seed=seed):
            batch.append(item)
            if len(batch) >= 20_000:
                insert_events(conn, batch)
                batch = []
        if batch:
            insert_events(conn, batch)
        return conn.total_changes - before
    finally:
        conn.close()


# --- command line ----------------------------------------------------------------------------


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dev_system.examples.example_integration",
        description="Record a mock agent system's model and tool calls, and optionally days of sample history.",
    )
    parser.add_argument("--calls", type=_non_negative_int, default=20, metavar="N",
                        help="live agent turns to run through the decorators (default 20; each is 4 events)")
    parser.add_argument("--days", type=_non_negative_int, default=0, metavar="N",
                        help="also write N days of history before now (default 0)")
    parser.add_argument("--turns-per-day", type=_non_negative_int, default=150, metavar="N",
                        help="agent turns per weekday in the history (default 150)")
    parser.add_argument("--db", type=Path, metavar="PATH",
                        help="telemetry database (default: the project's .dev-system/data/telemetry.db)")
    parser.add_argument("--seed", type=int, default=None, help="random seed, for repeatable data")
    parser.add_argument("--time-scale", type=_non_negative_float, default=0.05, metavar="X",
                        help="sleep X times the simulated latency in live turns (default 0.05; 1 = real time)")
    parser.add_argument("--error-rate", type=_non_negative_float, default=1.0, metavar="X",
                        help="multiply the simulated failure rates by X (default 1; 0 = no failures)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from dev_system import config
    from dev_system.ops.telemetry import configure, flush

    try:
        db_path = args.db if args.db is not None else config.load().db_path
    except config.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    say = (lambda *a: None) if args.quiet else print
    written = 0
    try:
        if args.days:
            seed = args.seed if args.seed is not None else random.randrange(2**32)
            written = write_history(db_path, args.days, turns_per_day=args.turns_per_day, seed=seed)
            say(f"wrote {written} events of history over {args.days} days")
        ok = failed = 0
        if args.calls:
            configure(enabled=True, db_path=db_path)
            ok, failed = run_turns(args.calls, seed=args.seed, time_scale=args.time_scale, error_rate=args.error_rate)
            flush()
            say(f"ran {args.calls} agent turns: {ok} succeeded, {failed} failed (rate limits, timeouts)")
    except Exception as exc:  # a user error (unwritable path, locked db) is one line, not a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    say(f"database: {db_path}")
    say(f"try: dev-system metrics --db {db_path} --period {max(args.days, 1)}d --by agent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
