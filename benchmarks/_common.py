"""Helpers shared by the benchmark sections: medians, timers, memory, the machine, subprocesses."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def clean_env() -> dict[str, str]:
    """The environment for a measured subprocess: no DEV_SYSTEM_* settings leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEV_SYSTEM_")}
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_PLUGINS", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # users' runs keep their bytecode (and pytest's rewritten tests)
    return env


def run_section(module: str, quick: bool, timeout: float = 900) -> dict[str, Any]:
    """Run ``benchmarks/<module>.py`` in a fresh interpreter (in a scratch folder) and return its figures."""
    if hasattr(os, "sync"):
        # The report and memory sections write hundreds of megabytes: written back while a later
        # section runs, they would slow that section's own fsyncs (SQLite's checkpoints) and not
        # its anchor's. Each section starts with nothing left to write.
        os.sync()
    with tempfile.TemporaryDirectory(prefix="devtel-bench-") as scratch:
        out = Path(scratch) / "result.json"
        cmd = [sys.executable, str(HERE / f"{module}.py"), "--out", str(out)]
        if quick:
            cmd.append("--quick")
        proc = subprocess.run(cmd, cwd=scratch, env=clean_env(), timeout=timeout,
                              capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"{module} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return json.loads(out.read_text())


def section_main(measure) -> None:
    """The ``__main__`` of a section: ``measure(quick, scratch) -> dict`` written to ``--out`` as JSON."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="devtel-section-") as scratch:
        result = measure(ns.quick, Path(scratch))
    text = json.dumps(result, indent=2, sort_keys=True)
    if ns.out:
        Path(ns.out).write_text(text)
    else:
        print(text)


def rss_kb() -> int:
    """Resident memory of this process now, in KiB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def peak_rss_kb() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs``); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = None
    try:
        with open("/proc/meminfo") as handle:
            mem_gb = round(int(handle.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    import sqlite3

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
