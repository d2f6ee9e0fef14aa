"""overhead_ns.*: the cost of one call of a trivial function, bare and under each wrapper.

Every variant is measured side by side in this one process: each round times a burst of calls of
every variant in turn, and a figure is the median over rounds of (burst time / calls). A burst
(1,000 calls) stays below the recorder's wake-up mark, and what a burst recorded is flushed (the
floor's list emptied, the OpenTelemetry processor flushed) outside the timed region, so each
figure is the cost paid by the calling thread. The writer's own cost is measured by bench_writer.
``enabled_sustained`` (no target) is the per-call time of long bursts with the writer running
concurrently: the total cost of a process doing nothing but recording.
"""

from __future__ import annotations

import functools
import gc
import sys
import time
from itertools import repeat
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, section_main

ARGS = ("hello", 0.2, 128)  # three small arguments: a prompt, a temperature, a token limit


def target(prompt, temperature, max_tokens):
    return prompt


def wraps_wrapper(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


def floor_record_wrapper(fn, sink: list):
    """The floor of any recording decorator: two perf_counter calls, try/finally, a small tuple appended."""
    perf = time.perf_counter
    append = sink.append
    name = fn.__name__

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = perf()
        try:
            return fn(*args, **kwargs)
        finally:
            append((name, start, perf() - start))

    return wrapper


def otel_setup():
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

        def shutdown(self):
            pass

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    tracer = provider.get_tracer("devtelemetry-bench")

    def otel_wrapper(fn):
        name = fn.__name__

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with tracer.start_as_current_span(
                name, attributes={"agent.name": "bench", "event.type": "tool_call", "function.name": name}
            ):
                return fn(*args, **kwargs)

        return wrapper

    return provider, otel_wrapper


def burst(fn, n: int) -> float:
    a, b, c = ARGS
    perf = time.perf_counter_ns
    t0 = perf()
    for _ in repeat(None, n):
        fn(a, b, c)
    return (perf() - t0) / n


def measure(quick: bool, scratch: Path) -> dict:
    from dev_system.ops import telemetry

    db = scratch / "overhead.db"
    rounds = 40 if quick else 150
    n = 1000
    floor_sink: list = []
    provider, otel_wrapper = otel_setup()

    bare = target
    wraps = wraps_wrapper(target)
    floor = floor_record_wrapper(target, floor_sink)
    enabled = telemetry.telemetry_decorator("bench", "tool_call", capture_args=False)(target)
    captured = telemetry.telemetry_decorator("bench", "tool_call", capture_args=True)(target)
    otel = otel_wrapper(target)

    def off():
        telemetry.configure(enabled=False)

    def on():
        telemetry.configure(enabled=True, db_path=db, capture_args=True)

    # (name, function, state needed, cleanup after each burst)
    variants = [
        ("bare", bare, None, None),
        ("wraps", wraps, None, None),
        ("floor_record", floor, None, floor_sink.clear),
        ("disabled", enabled, "off", None),
        ("enabled", enabled, "on", telemetry.flush),
        ("enabled_capture", captured, "on", telemetry.flush),
        ("otel_span", otel, None, provider.force_flush),
    ]
    samples: dict[str, list[float]] = {name: [] for name, *_ in variants}

    on()  # warm up every variant once
    for _name, fn, state, cleanup in variants:
        if state == "off":
            off()
        burst(fn, n)
        if cleanup:
            cleanup()
        on()

    state_now = "on"
    for r in range(rounds):
        # Rotate the order so that no variant always follows the same one.
        order = variants[r % len(variants):] + variants[: r % len(variants)]
        for name, fn, state, cleanup in order:
            if state is not None and state != state_now:
                (on if state == "on" else off)()
                state_now = state
            samples[name].append(burst(fn, n))
            if cleanup:
                cleanup()
    off()
    on()
    stats_before = telemetry.stats()

    # Sustained: long bursts with the writer running in parallel (no target; for information).
    sustained = []
    for _ in range(2 if quick else 5):
        sustained.append(burst(enabled, 20_000 if quick else 50_000))
        telemetry.flush()
    stats = telemetry.stats()
    telemetry.configure(enabled=False)
    provider.shutdown()

    out = {f"overhead_ns.{name}": round(median(values), 1) for name, values in samples.items()}
    out["overhead_ns.enabled_sustained"] = round(median(sustained), 1)
    out["overhead.rounds"] = rounds
    out["overhead.burst_calls"] = n
    out["overhead.dropped"] = stats["dropped"]
    out["overhead.gc_enabled"] = gc.isenabled()
    del stats_before
    return out


if __name__ == "__main__":
    section_main(measure)
