"""Every import path the README and the docs show keeps working, whatever the code's layout.

The paths are read from the documents themselves, so a path added to the docs is checked too.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FROM_IMPORT = re.compile(r"^\s*from ((?:dev_system|pytest_devtelemetry)[\w.]*) import ([\w, ()]+)$", re.MULTILINE)
_DOTTED = re.compile(r"`((?:dev_system|pytest_devtelemetry)(?:\.\w+)+)(?:\(\))?`")


def _documented_imports() -> list[tuple[str, str, str]]:
    found = []
    for document in DOCUMENTS:
        for module, names in _FROM_IMPORT.findall(document.read_text(encoding="utf-8")):
            for name in names.strip("() ").split(","):
                found.append((document.name, module, name.strip()))
    return sorted(set(found))


def _documented_dotted() -> list[tuple[str, str]]:
    found = set()
    for document in DOCUMENTS:
        for dotted in _DOTTED.findall(document.read_text(encoding="utf-8")):
            found.add((document.name, dotted))
    return sorted(found)


def _resolve(dotted: str) -> object:
    """The module or attribute ``dotted`` names: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            target = getattr(target, name)
        return target
    raise ImportError(dotted)


def test_the_documents_show_import_paths():
    assert len(_documented_imports()) >= 10
    assert any(module == "dev_system.ops.telemetry" for _, module, _ in _documented_imports())


@pytest.mark.parametrize(("document", "module", "name"), _documented_imports())
def test_a_documented_from_import_works(document, module, name):
    imported = importlib.import_module(module)
    assert hasattr(imported, name) or importlib.import_module(f"{module}.{name}")


# Column names of the event table are written as `dev_system.<column>` in the OTLP docs: not paths.
_NOT_PATHS = {"dev_system.cost_usd", "dev_system.event_id", "dev_system.event_type", "dev_system.run_id",
              "dev_system.trace_id", "dev_system.score_id"}


@pytest.mark.parametrize(("document", "dotted"), [d for d in _documented_dotted() if d[1] not in _NOT_PATHS])
def test_a_documented_dotted_path_resolves(document, dotted):
    assert _resolve(dotted) is not None


def test_the_documented_python_example_of_the_command_runs(tmp_path):
    """docs/cli.md "From Python": the block runs as written against a real database."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    block = text.split("## From Python", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    setup = (
        "from dev_system.ops.telemetry import configure, flush, telemetry_decorator\n"
        "configure(enabled=True, db_path='.dev-system/data/telemetry.db', run_id='run-1')\n"
        "@telemetry_decorator(agent_name='persona_runtime', event_type='tool_call')\n"
        "def step(x):\n"
        "    return x\n"
        "for i in range(5):\n"
        "    step(i)\n"
        "flush()\n"
    )
    check = "\nassert summary.events == 5, summary\nassert run.events == 5, run\nprint('ran')\n"
    code = setup + block.replace('run_id="..."', 'run_id="run-1"') + check
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ran")
