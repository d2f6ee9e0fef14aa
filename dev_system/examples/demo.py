"""The demo behind ``just demo``: telemetry set up in the current project, a sample agent's calls
recorded live, a few days of history, the reports a developer reads, and then the main job: an
example agent's test suite run under ``pytest --telemetry``, before and after a change
(:mod:`dev_system.examples.testrun_demo`).

    python -m dev_system.examples.demo [--calls N] [--days N]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from dev_system import cli, config
from dev_system.examples import example_integration, testrun_demo


def _section(title: str) -> None:
    print(f"\n$ {title}", flush=True)


def _latest_trace(db_path: str) -> str | None:
    with sqlite3.connect(db_path) as conn:
        row = conn.execute(
            "SELECT trace_id FROM telemetry_events WHERE parent_span_id IS NULL AND agent_name = 'orchestrator'"
            " ORDER BY timestamp DESC LIMIT 1").fetchone()
    return row[0] if row else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev_system.examples.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30, metavar="N", help="live agent turns to record (default 30)")
    parser.add_argument("--days", type=int, default=7, metavar="N", help="days of history to write (default 7)")
    args = parser.parse_args(argv)

    _section("dev-system init --telemetry")
    if cli.main(["init", "--telemetry"]) != 0:
        return 1
    db_path = str(config.load().db_path)

    _section(f"python -m dev_system.examples.example_integration --calls {args.calls} --days {args.days}")
    status = example_integration.main(["--calls", str(args.calls), "--days", str(args.days), "--db", db_path])
    if status != 0:
        return status

    for command in (["metrics", "--period", "today"],
                    ["metrics", "--period", f"{max(args.days, 1)}d", "--by", "agent"],
                    ["events", "--failed", "--limit", "5"]):
        _section("dev-system " + " ".join(command))
        if cli.main(command) not in (0, 1):
            return 1
    trace_id = _latest_trace(db_path)
    if trace_id:
        _section(f"dev-system trace {trace_id}")
        cli.main(["trace", trace_id])
    folder = config.find_project_root() / ".dev-system" / "demo" / "support-agent"
    if testrun_demo.run(Path(db_path).resolve(), folder.resolve(), cli.main) != 0:
        return 1
    print(f"\nThe events are in {db_path}. Next: `just dev-system runs`, `just dev-system history --tests`,"
          " or `pytest --telemetry` in your own project.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
