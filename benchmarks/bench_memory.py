"""memory.rss_growth_mb: resident memory growth while one thread records N events flat out.

A fresh interpreter records 10,000 events first (imports done, database open, caches warm), then
the kernel's peak-RSS mark is reset and 1,000,000 events are recorded (``--quick``: 200,000; the
buffer is full long before either) with the default decorator (three small arguments captured)
as fast as the thread can call. The figure is the peak RSS during that run minus the RSS before
it. The buffer is bounded (``buffer_size``, 50,000 records): when the writer falls behind, the
calling thread waits for room (back-pressure) or, after a bounded wait, counts a drop.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import peak_rss_kb, reset_peak_rss, rss_kb, section_main


def target(prompt, temperature, max_tokens):
    return prompt


def measure(quick: bool, scratch: Path) -> dict:
    from dev_system.ops import telemetry
    from dev_system.record.recorder import get_recorder

    n = 200_000 if quick else 1_000_000
    settings = telemetry.configure(enabled=True, db_path=scratch / "memory.db")
    fn = telemetry.telemetry_decorator("bench", "tool_call")(target)
    for _ in range(10_000):
        fn("hello", 0.2, 128)
    telemetry.flush()
    gc.collect()
    rec = get_recorder()
    stored0, dropped0 = rec.stored, rec.dropped

    # The kernel's peak mark when it can be reset, else a sampler thread (every 20 ms).
    sampled = [0]
    stop = threading.Event()
    exact = reset_peak_rss()
    base = rss_kb()
    if not exact:
        def sample():
            while not stop.wait(0.02):
                sampled[0] = max(sampled[0], rss_kb())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
    max_buffered = 0
    t0 = time.perf_counter()
    for i in range(n):
        fn("hello", 0.2, 128)
        if not i & 4095:
            max_buffered = max(max_buffered, len(rec.buffer))
    record_s = time.perf_counter() - t0
    telemetry.flush()
    total_s = time.perf_counter() - t0
    if exact:
        peak = peak_rss_kb()
    else:
        stop.set()
        peak = max(sampled[0], rss_kb())
    stored, dropped = rec.stored - stored0, rec.dropped - dropped0
    if stored + dropped != n:
        raise RuntimeError(f"{n} events recorded, {stored} stored and {dropped} dropped")
    telemetry.configure(enabled=False)
    return {
        "memory.rss_growth_mb": round((peak - base) / 1024, 1),
        "memory.events": n,
        "memory.stored": stored,
        "memory.dropped": dropped,
        "memory.buffer_limit": settings.buffer_size,
        "memory.max_buffered": max_buffered,
        "memory.record_s": round(record_s, 2),
        "memory.total_s": round(total_s, 2),
        "memory.peak_from_kernel": exact,
    }


if __name__ == "__main__":
    section_main(measure)
