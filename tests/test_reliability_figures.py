"""The figures of the reliability campaign ("N faults injected, N survived, 0 events lost").

The fault, load, bad-input and security tests call :func:`note_fault` when a fault they injected
was survived: the user's code went on, and every event recorded under the fault was either
stored or counted as dropped. With ``DEV_SYSTEM_FAULT_LEDGER`` set, each note is appended to that
file as one JSON line; otherwise noting costs nothing. Run this file as a script to run those
tests and print the figures (``--markdown`` for the table in docs/reliability.md)::

    python tests/test_reliability_figures.py [--markdown] [pytest args...]

A failing test counts as one fault not survived. This module holds no tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

LEDGER_ENV = "DEV_SYSTEM_FAULT_LEDGER"
CAMPAIGN = ["tests/test_reliability.py", "tests/test_load.py", "tests/test_bad_input.py", "tests/test_security.py"]


def note_fault(fault: str, *, recorded: int | None = None, stored: int | None = None, dropped: int = 0,
               count: int = 1) -> None:
    """Note that ``count`` injections of ``fault`` were survived; with ``recorded`` events made under
    the fault, ``stored`` of them in the database and ``dropped`` counted as dropped (lost = the rest)."""
    path = os.environ.get(LEDGER_ENV)
    if not path:
        return
    lost = None if recorded is None or stored is None else recorded - stored - dropped
    line = json.dumps({"fault": fault, "count": count, "recorded": recorded, "stored": stored,
                       "dropped": dropped, "lost": lost}, ensure_ascii=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def _failures(junit: Path) -> list[str]:
    failed = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(f"{case.get('classname')}::{case.get('name')}")
    return failed


def summarise(notes: list[dict], failed: list[str]) -> dict:
    """The campaign's figures from the ledger's notes and the failed tests."""
    by_fault: dict[str, dict] = {}
    for note in notes:
        entry = by_fault.setdefault(note["fault"], {"count": 0, "recorded": 0, "stored": 0, "dropped": 0, "lost": 0})
        entry["count"] += note["count"]
        for key in ("recorded", "stored", "dropped", "lost"):
            entry[key] += note.get(key) or 0
    survived = sum(e["count"] for e in by_fault.values())
    return {
        "injected": survived + len(failed),
        "survived": survived,
        "kinds": len(by_fault),
        "recorded": sum(e["recorded"] for e in by_fault.values()),
        "stored": sum(e["stored"] for e in by_fault.values()),
        "dropped": sum(e["dropped"] for e in by_fault.values()),
        "lost": sum(e["lost"] for e in by_fault.values()),
        "failed_tests": failed,
        "by_fault": by_fault,
    }


def render(figures: dict, markdown: bool) -> str:
    headline = (f"{figures['injected']:,} faults injected ({figures['kinds']} kinds), {figures['survived']:,} survived, "
                f"{figures['lost']:,} events lost ({figures['recorded']:,} events recorded under fault: "
                f"{figures['stored']:,} stored, {figures['dropped']:,} counted as dropped)")
    if not markdown:
        lines = [headline]
        lines += [f"  FAILED {name}" for name in figures["failed_tests"]]
        return "\n".join(lines) + "\n"
    lines = [f"**{headline}**", "", "| fault | injected | events recorded | stored | counted as dropped | lost |",
             "|---|---:|---:|---:|---:|---:|"]
    for fault, e in sorted(figures["by_fault"].items()):
        recorded = f"{e['recorded']:,}" if e["recorded"] else "–"
        lines.append(f"| {fault} | {e['count']:,} | {recorded} | {e['stored']:,} | {e['dropped']:,} | {e['lost']:,} |")
    for name in figures["failed_tests"]:
        lines.append(f"| FAILED: {name} | 1 | | | | not survived |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    markdown = "--markdown" in argv
    extra = [a for a in argv if a != "--markdown"]
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        ledger, junit = Path(tmp) / "ledger.jsonl", Path(tmp) / "junit.xml"
        env = {**os.environ, LEDGER_ENV: str(ledger)}
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 f"--junitxml={junit}", *CAMPAIGN, *extra], cwd=root, env=env)
        notes = [json.loads(line) for line in ledger.read_text().splitlines()] if ledger.exists() else []
        failed = _failures(junit) if junit.exists() else ["(pytest did not run)"]
    sys.stdout.write(render(summarise(notes, failed), markdown))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
