"""The performance suite: ``python benchmarks/run.py [--quick] [--json PATH] [--only SECTIONS]``.

Each section runs in a fresh interpreter in a scratch folder, measures its figures side by side
with their anchors (see each ``bench_*.py``), and the ratios are checked against the targets.
Prints one table; exits 1 when a target is missed, 2 when a section could not run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, run_section

SECTIONS = ("overhead", "writer", "memory", "report", "report_scale", "pytest")


class Target:
    """``figure op limit`` where figure is a ratio (or a value) computed from the results."""

    def __init__(self, name: str, needs: tuple[str, ...], compute: Callable[[dict], float], op: str,
                 limit: float, shown: str, unit: str = "x") -> None:
        self.name, self.needs, self.compute, self.op, self.limit = name, needs, compute, op, limit
        self.shown, self.unit = shown, unit

    def limit_text(self) -> str:
        return f"{self.op} {self.limit:g}x" if self.unit == "x" else f"{self.op} {self.limit:g} {self.unit}"

    def check(self, r: dict) -> tuple[float | None, bool | None]:
        if any(key not in r for key in self.needs):
            return None, None
        value = self.compute(r)
        return value, (value <= self.limit if self.op == "<=" else value >= self.limit)


TARGETS = [
    Target("enabled vs floor_record", ("overhead_ns.enabled", "overhead_ns.floor_record"),
           lambda r: r["overhead_ns.enabled"] / r["overhead_ns.floor_record"], "<=", 3, "enabled / floor_record"),
    Target("otel_span vs enabled", ("overhead_ns.otel_span", "overhead_ns.enabled"),
           lambda r: r["overhead_ns.otel_span"] / r["overhead_ns.enabled"], ">=", 10, "otel_span / enabled"),
    Target("enabled_capture vs floor_record", ("overhead_ns.enabled_capture", "overhead_ns.floor_record"),
           lambda r: r["overhead_ns.enabled_capture"] / r["overhead_ns.floor_record"], "<=", 8,
           "enabled_capture / floor_record"),
    Target("disabled vs wraps", ("overhead_ns.disabled", "overhead_ns.wraps"),
           lambda r: r["overhead_ns.disabled"] / r["overhead_ns.wraps"], "<=", 2, "disabled / wraps"),
    Target("writer vs raw executemany", ("writer.events_per_s", "writer.executemany_rows_per_s"),
           lambda r: r["writer.events_per_s"] / r["writer.executemany_rows_per_s"], ">=", 0.6,
           "events_per_s / executemany_rows_per_s"),
    Target("callers never wait on the disk", ("writer.caller_max_us_db_locked", "writer.db_lock_ms"),
           lambda r: r["writer.caller_max_us_db_locked"] / (r["writer.db_lock_ms"] * 1000), "<=", 0.1,
           "slowest call / database lock time"),
    Target("report vs naive SQL", ("report.naive_sql_ms", "report.ours_ms"),
           lambda r: r["report.naive_sql_ms"] / r["report.ours_ms"], ">=", 2, "naive_sql_ms / ours_ms"),
    *[Target(f"{name} vs its floor", (f"report_scale.{key}_ms", f"report_scale.{key}_floor_ms"),
             lambda r, key=key: r[f"report_scale.{key}_ms"] / r[f"report_scale.{key}_floor_ms"], "<=", limit,
             f"{key}_ms / {key}_floor_ms")
      for name, key, limit in (
          ("metrics --period 30d", "metrics_30d", 1.5), ("metrics --by agent", "by_agent", 1.5),
          ("metrics --by model", "by_model", 1.5), ("metrics --by day", "by_day", 1.5),
          ("report --html (30 days)", "html", 2), ("events --failed", "failed", 1.5), ("trace ID", "trace", 1.5),
          ("compare A B (5,000 tests)", "compare", 2), ("runs (10,000 runs)", "runs", 2))],
    Target("combine vs ATTACH + INSERT", ("report_scale.combine_events_per_s", "report_scale.combine_floor_events_per_s"),
           lambda r: r["report_scale.combine_events_per_s"] / r["report_scale.combine_floor_events_per_s"], ">=", 0.5,
           "combine_events_per_s / combine_floor_events_per_s"),
    Target("5M history vs 1M (30-day report)", ("report_scale.history_5m_ms", "report_scale.history_1m_ms"),
           lambda r: r["report_scale.history_5m_ms"] / r["report_scale.history_1m_ms"], "<=", 1.2,
           "history_5m_ms / history_1m_ms"),
    Target("peak RSS of any report", ("report_scale.peak_rss_mb",), lambda r: r["report_scale.peak_rss_mb"], "<=", 100,
           "peak_rss_mb", "MB"),
    Target("pytest --telemetry vs plain", ("pytest.paired_ratio",),
           lambda r: r["pytest.paired_ratio"], "<=", 1.05, "median of paired telemetry_s / plain_s"),
    Target("plugin import", ("pytest.import_ms",), lambda r: r["pytest.import_ms"], "<=", 15, "import_ms", "ms"),
    Target("memory while recording", ("memory.rss_growth_mb",), lambda r: r["memory.rss_growth_mb"], "<=", 30,
           "rss_growth_mb", "MB"),
]

# The figures shown in the table, in order, with their unit.
FIGURES = [
    ("overhead_ns.bare", "ns"), ("overhead_ns.wraps", "ns"), ("overhead_ns.floor_record", "ns"),
    ("overhead_ns.disabled", "ns"), ("overhead_ns.enabled", "ns"), ("overhead_ns.enabled_capture", "ns"),
    ("overhead_ns.otel_span", "ns"), ("overhead_ns.enabled_sustained", "ns"),
    ("writer.events_per_s", "/s"), ("writer.executemany_rows_per_s", "/s"),
    ("writer.concurrent_events_per_s", "/s"), ("writer.caller_max_us_db_locked", "us"), ("writer.db_lock_ms", "ms"),
    ("memory.rss_growth_mb", "MB"), ("memory.events", ""), ("memory.dropped", ""),
    ("report.ours_ms", "ms"), ("report.naive_sql_ms", "ms"), ("report.window_events", ""),
    *[(f"report_scale.{key}{suffix}", "ms") for key in ("metrics_30d", "by_agent", "by_model", "by_day", "html",
                                                        "failed", "trace", "compare", "runs")
      for suffix in ("_ms", "_floor_ms")],
    ("report_scale.failed_reads_ms", "ms"), ("report_scale.trace_reads_ms", "ms"),
    ("report_scale.combine_events_per_s", "/s"), ("report_scale.combine_floor_events_per_s", "/s"),
    ("report_scale.history_1m_ms", "ms"), ("report_scale.history_5m_ms", "ms"), ("report_scale.peak_rss_mb", "MB"),
    ("pytest.plain_s", "s"), ("pytest.telemetry_s", "s"), ("pytest.paired_ratio", "x"), ("pytest.instructions_ratio", "x"),
    ("pytest.import_ms", "ms"), ("pytest.start_delta_ms", "ms"),
]


def fmt(value: Any, unit: str = "") -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float) and value < 100:
        text = f"{value:,.2f}" if value < 10 else f"{value:,.1f}"
    else:
        text = f"{value:,.0f}"
    return f"{text} {unit}".strip()


def table(results: dict, errors: dict[str, str]) -> tuple[str, bool]:
    from tabulate import tabulate

    rows = []
    used: set[str] = set()
    for key, unit in FIGURES:
        if key in results:
            rows.append([key, fmt(results[key], unit), "", "", ""])
            used.add(key)
    all_pass = True
    target_rows = []
    for t in TARGETS:
        value, ok = t.check(results)
        if ok is None:
            section = {"overhead_ns": "overhead"}.get(t.needs[0].split(".")[0], t.needs[0].split(".")[0])
            verdict = f"n/a ({section} failed)" if section in errors else "n/a (not run)"
            if section in errors:
                all_pass = False
            target_rows.append([t.name, t.shown, "", t.limit_text(), verdict])
            continue
        all_pass &= ok
        number = f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"
        shown = f"{number} {t.unit}" if t.unit != "x" else f"{number}x"
        target_rows.append([t.name, t.shown, shown, t.limit_text(), "PASS" if ok else "FAIL"])
    figures = tabulate([r[:2] for r in rows], headers=["figure", "median"], tablefmt="github", disable_numparse=True)
    targets = tabulate(target_rows, headers=["target", "measure", "value", "limit", "result"], tablefmt="github",
                       disable_numparse=True)
    return figures + "\n\n" + targets, all_pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and events (under a minute on 2 cores)")
    parser.add_argument("--json", metavar="PATH", help="also write every figure, the targets and the machine as JSON")
    parser.add_argument("--only", metavar="SECTIONS", help=f"comma-separated sections of {','.join(SECTIONS)}")
    args = parser.parse_args(argv)
    sections = SECTIONS if not args.only else tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")

    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    timings: dict[str, float] = {}
    started = time.perf_counter()
    for section in sections:
        print(f"running {section}...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            results.update(run_section(f"bench_{section}", args.quick))
        except Exception as exc:  # one broken section must not hide the others
            errors[section] = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print(f"{section} failed: {exc}", file=sys.stderr)
        timings[section] = round(time.perf_counter() - t0, 1)
    total = round(time.perf_counter() - started, 1)

    text, all_pass = table(results, errors)
    info = machine()
    print(f"pytest-devtelemetry benchmarks ({'quick' if args.quick else 'full'}, {total} s) on "
          f"{info['cpu']}, {info['cores']} cores, Python {info['python']}, SQLite {info['sqlite']}\n")
    print(text)
    if args.json:
        targets = {}
        for t in TARGETS:
            value, ok = t.check(results)
            targets[t.name] = {"measure": t.shown, "value": value, "op": t.op, "limit": t.limit, "pass": ok}
        Path(args.json).write_text(json.dumps({
            "results": results, "targets": targets, "errors": errors, "machine": info,
            "quick": args.quick, "seconds": timings, "total_s": total,
        }, indent=2, sort_keys=True))
    if errors:
        return 2
    return 0 if all_pass else 1


if __name__ == "__main__":
    sys.exit(main())
