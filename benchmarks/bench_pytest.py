"""pytest.*: what the plugin costs a test run, with and without ``--telemetry``.

- ``pytest.plain_s`` / ``pytest.telemetry_s``: a generated suite of 2,000 trivial tests (20 files;
  each test calls one decorated function once), run by ``python -m pytest -q``: plain with the
  plugin not loaded at all (``-p no:devtelemetry``), then with ``--telemetry`` (every event tagged
  with its test, the run and its 2,000 test results stored, the summary printed). Wall time of
  the whole process; the two alternate; figures are medians.
- ``pytest.import_ms``: time added to pytest's start by the installed plugin when ``--telemetry``
  is not given: in a fresh interpreter where pytest has loaded its own plugins (``get_config()``),
  the time to import ``pytest_devtelemetry.plugin`` and run its start-up hooks (``addhooks``,
  ``addoption``); median over fresh interpreters.
- ``pytest.instructions_ratio`` (full runs, where ``valgrind`` is installed): the instructions
  of one ``--telemetry`` run divided by those of one plain run (``valgrind --tool=cachegrind
  --cache-sim=no``, ``PYTHONHASHSEED=0``): the plugin's cost without the machine's noise.
- ``pytest.start_delta_ms`` (no target; noisy): median wall time of ``pytest --co -q`` on an empty
  folder with the plugin, minus the same with ``-p no:devtelemetry``, alternating.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import clean_env, median, section_main

FILES = 20
TESTS_PER_FILE = 100

TEST_FILE = '''\
from dev_system.ops.telemetry import telemetry_decorator


@telemetry_decorator(agent_name="suite", event_type="tool_call")
def tool(x):
    return x + 1

'''

IMPORT_PROBE = textwrap.dedent("""
    import sys, time
    from _pytest.config import get_config
    config = get_config(["-p", "no:devtelemetry"])  # pytest with its own plugins loaded, not ours
    t0 = time.perf_counter()
    import pytest_devtelemetry.plugin as plugin
    plugin.pytest_addhooks(config.pluginmanager)
    plugin.pytest_addoption(config._parser)
    t1 = time.perf_counter()
    print((t1 - t0) * 1000)
""")


def make_suite(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(FILES):
        body = [TEST_FILE]
        for t in range(TESTS_PER_FILE):
            body.append(f"def test_{f}_{t}():\n    assert tool({t}) == {t + 1}\n\n")
        (folder / f"test_gen_{f:02d}.py").write_text("\n".join(body))
    (folder / "pytest.ini").write_text("[pytest]\n")


def run(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 5):
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}")
    return elapsed


def instructions(cmd: list[str], cwd: Path) -> int | None:
    """The instructions ``cmd`` executes, counted by cachegrind (``None``: no valgrind, or no count)."""
    if shutil.which("valgrind") is None:
        return None
    env = {**clean_env(), "PYTHONHASHSEED": "0"}
    proc = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                           *cmd], cwd=cwd, env=env, capture_output=True, text=True)
    match = re.search(r"I\s+refs:\s+([\d,]+)", proc.stderr)
    return int(match.group(1).replace(",", "")) if match and proc.returncode in (0, 5) else None


def import_ms(scratch: Path) -> float:
    proc = subprocess.run([sys.executable, "-c", IMPORT_PROBE], cwd=scratch,
                          env=clean_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"import probe failed:\n{proc.stderr[-3000:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def measure(quick: bool, scratch: Path) -> dict:
    suite = scratch / "suite"
    make_suite(suite)
    empty = scratch / "empty"
    empty.mkdir()
    (empty / "pytest.ini").write_text("[pytest]\n")
    db = scratch / "telemetry.db"
    py = [sys.executable, "-m", "pytest", "-q"]
    plain_cmd = py + ["-p", "no:devtelemetry"]
    # "--telemetry-db=PATH", one token: pytest chooses its rootdir before it knows the option, and
    # would take a separate PATH for a test path (rootdir: the scratch folder, not the suite)
    telemetry_cmd = py + ["--telemetry", f"--telemetry-db={db}"]
    repeats = 3 if quick else 15

    run(plain_cmd, suite)  # warm: bytecode caches, the database created
    run(telemetry_cmd, suite)
    plain, telemetry = [], []
    for _ in range(repeats):
        plain.append(run(plain_cmd, suite))
        telemetry.append(run(telemetry_cmd, suite))

    import sqlite3

    with sqlite3.connect(db) as conn:
        events = conn.execute("SELECT COUNT(*) FROM telemetry_events").fetchone()[0]
    if events != (repeats + 1) * FILES * TESTS_PER_FILE:
        raise RuntimeError(f"{events} events stored by {repeats + 1} runs of {FILES * TESTS_PER_FILE} tests")

    imports = [import_ms(scratch) for _ in range(5 if quick else 15)]

    with_plugin, without = [], []
    for _ in range(3 if quick else 15):
        with_plugin.append(run(py + ["--co"], empty))
        without.append(run(py + ["--co", "-p", "no:devtelemetry"], empty))

    counted = {}
    if not quick:
        plain_ins, telemetry_ins = instructions(plain_cmd, suite), instructions(telemetry_cmd, suite)
        if plain_ins and telemetry_ins:
            counted = {"pytest.instructions_plain": plain_ins, "pytest.instructions_telemetry": telemetry_ins,
                       "pytest.instructions_ratio": round(telemetry_ins / plain_ins, 3)}

    return {
        **counted,
        "pytest.plain_s": round(median(plain), 3),
        "pytest.telemetry_s": round(median(telemetry), 3),
        # The target: the median of the ratios of runs made one after the other (less moved by a
        # load that changes during the section than the ratio of the medians).
        "pytest.paired_ratio": round(median([t / p for t, p in zip(telemetry, plain)]), 3),
        "pytest.tests": FILES * TESTS_PER_FILE,
        "pytest.import_ms": round(median(imports), 2),
        "pytest.start_delta_ms": round((median(with_plugin) - median(without)) * 1000, 1),
        "pytest.start_s": round(median(without), 3),
        "pytest.repeats": repeats,
    }


if __name__ == "__main__":
    section_main(measure)
