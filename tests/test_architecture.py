"""The import-direction check (tools/check_imports.py): the real tree keeps the one direction and has
no import cycle, and the check catches what it promises on small trees written to disk."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = next(p for p in Path(__file__).resolve().parents if (p / "tools" / "check_imports.py").is_file())
CHECK = REPO / "tools" / "check_imports.py"


def run_check(root: Path | None = None) -> tuple[int, list[str]]:
    args = [sys.executable, str(CHECK)] + ([] if root is None else [str(root)])
    proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=60)
    return proc.returncode, proc.stdout.splitlines()


def make_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (path -> source) under ``root``; every folder of a module gets an empty
    ``__init__.py`` unless ``files`` gives one."""
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        for folder in path.relative_to(root).parents:
            if folder != Path(".") and not (root / folder / "__init__.py").exists():
                (root / folder / "__init__.py").write_text('"""A package."""\n')
    return root


def test_the_real_tree_points_one_way_and_has_no_cycle() -> None:
    code, lines = run_check()
    assert code == 0, "\n".join(lines)
    assert len(lines) == 1 and "one direction, no cycles" in lines[0]


def test_an_import_of_a_layer_to_the_right_fails_naming_both_modules_and_the_line(tmp_path: Path) -> None:
    make_tree(tmp_path, {
        "dev_system/render/text.py": "def table(): ...\n",
        "dev_system/store/runs.py": '"""Runs."""\n\nfrom dev_system.render.text import table\n',
    })
    code, lines = run_check(tmp_path)
    assert code == 1
    assert lines == ["dev_system/store/runs.py:3: dev_system.store.runs (store) imports "
                     "dev_system.render.text (render), a layer to its right"]


@pytest.mark.parametrize("statement", [
    "import dev_system.analysis.metrics",
    "from dev_system.analysis import metrics",
    "from dev_system.analysis.metrics import summarize",
    "from ..analysis import metrics",
    "from ..analysis.metrics import summarize",
])
def test_a_lazy_import_to_the_right_fails_whatever_its_spelling(tmp_path: Path, statement: str) -> None:
    make_tree(tmp_path, {
        "dev_system/analysis/metrics.py": "def summarize(): ...\n",
        "dev_system/record/decorator.py": f"def wrap():\n    {statement}\n    return 1\n",
    })
    code, lines = run_check(tmp_path)
    assert code == 1
    assert lines == ["dev_system/record/decorator.py:2: dev_system.record.decorator (record) lazily imports "
                     "dev_system.analysis.metrics (analysis), a layer to its right"]


def test_a_leaf_importing_a_stage_fails(tmp_path: Path) -> None:
    make_tree(tmp_path, {
        "dev_system/__init__.py": "",
        "dev_system/events.py": "import dev_system.record.raw\n",
        "dev_system/record/raw.py": "FIELDS = ()\n",
    })
    code, lines = run_check(tmp_path)
    assert code == 1
    assert lines == ["dev_system/events.py:1: dev_system.events (leaves) imports dev_system.record.raw (record), "
                     "a layer to its right"]


def test_imports_to_the_left_and_within_a_layer_pass(tmp_path: Path) -> None:
    make_tree(tmp_path, {
        "dev_system/__init__.py": '"""The package."""\n__version__ = "1"\n',
        "dev_system/events.py": "from dev_system import problems\n",
        "dev_system/problems.py": "",
        "dev_system/record/raw.py": "from dev_system.events import *\n",
        "dev_system/store/sink.py": "from dev_system.record import raw\nfrom dev_system import __version__\n",
        "dev_system/analysis/metrics.py": "import dev_system.store.sink\n",
        "dev_system/render/text.py": "from dev_system.analysis.metrics import *\nfrom dev_system.render import html\n",
        "dev_system/render/html/page.py": "from dev_system.render.text import *\n",
        "dev_system/cli/__init__.py": "def main():\n    from dev_system.render.html import page\n",
        "dev_system/ops/telemetry.py": "from dev_system.cli import main\n",
        "pytest_devtelemetry/plugin.py": "def load():\n    import dev_system.cli\n    import dev_system.ops.telemetry\n",
    })
    code, lines = run_check(tmp_path)
    assert code == 0, lines
    assert lines == ["import check: 18 modules, 11 imports, one direction, no cycles"]


def test_a_type_checking_import_to_the_right_passes(tmp_path: Path) -> None:
    make_tree(tmp_path, {
        "dev_system/hookspecs.py": """\
            from __future__ import annotations

            import typing
            from typing import TYPE_CHECKING

            if TYPE_CHECKING:
                from dev_system.store.db import Connection
            if typing.TYPE_CHECKING:
                import dev_system.render.text
        """,
        "dev_system/store/db.py": "class Connection: ...\n",
        "dev_system/render/text.py": "",
    })
    assert run_check(tmp_path) == (0, ["import check: 6 modules, 0 imports, one direction, no cycles"])


def test_the_else_branch_of_type_checking_runs_and_counts(tmp_path: Path) -> None:
    make_tree(tmp_path, {
        "dev_system/config.py": """\
            from typing import TYPE_CHECKING

            if TYPE_CHECKING:
                pass
            else:
                from dev_system.store.db import Connection
        """,
        "dev_system/store/db.py": "class Connection: ...\n",
    })
    code, lines = run_check(tmp_path)
    assert code == 1
    assert lines == ["dev_system/config.py:6: dev_system.config (leaves) imports dev_system.store.db (store), "
                     "a layer to its right"]


def test_a_string_naming_a_module_is_not_an_import(tmp_path: Path) -> None:
    make_tree(tmp_path, {
        "dev_system/hookspecs.py": """\
            import importlib

            BUILTIN_PLUGINS = ("dev_system.store.sink",)

            def manager():
                return [importlib.import_module(name) for name in BUILTIN_PLUGINS]
        """,
        "dev_system/store/sink.py": "",
    })
    assert run_check(tmp_path)[0] == 0


def test_a_cycle_fails_and_is_printed_even_when_one_import_is_lazy(tmp_path: Path) -> None:
    make_tree(tmp_path, {
        "pytest_devtelemetry/plugin.py": "def configure():\n    from pytest_devtelemetry import session\n",
        "pytest_devtelemetry/session.py": "from pytest_devtelemetry.plugin import configure\n",
    })
    code, lines = run_check(tmp_path)
    assert code == 1
    assert lines == ["pytest_devtelemetry/plugin.py:2: import cycle: pytest_devtelemetry.plugin -> "
                     "pytest_devtelemetry.session -> pytest_devtelemetry.plugin (pytest_devtelemetry.plugin "
                     "line 2 (lazy), pytest_devtelemetry.session line 1)"]


def test_a_longer_cycle_is_printed_whole(tmp_path: Path) -> None:
    make_tree(tmp_path, {
        "dev_system/store/a.py": "import dev_system.store.b\n",
        "dev_system/store/b.py": "import dev_system.store.c\n",
        "dev_system/store/c.py": "def f():\n    import dev_system.store.a\n",
        "dev_system/store/d.py": "import dev_system.store.a\n",
    })
    code, lines = run_check(tmp_path)
    assert code == 1
    assert len(lines) == 1
    assert "import cycle: dev_system.store.a -> dev_system.store.b -> dev_system.store.c -> dev_system.store.a" in lines[0]
    assert "dev_system.store.d" not in lines[0]


def test_a_package_init_counts_only_when_it_runs_code(tmp_path: Path) -> None:
    files = {
        "dev_system/record/__init__.py": '"""The record stage."""\n\nfrom __future__ import annotations\n',
        "dev_system/record/decorator.py": "from dev_system.record import spans\n",
        "dev_system/record/spans.py": "import dev_system.record\n",
    }
    assert run_check(make_tree(tmp_path / "inert", files))[0] == 0

    files["dev_system/record/__init__.py"] = "from dev_system.record.decorator import *\n"
    code, lines = run_check(make_tree(tmp_path / "runs", files))
    assert code == 1
    assert len(lines) == 1
    assert "import cycle: dev_system.record -> dev_system.record.decorator -> dev_system.record.spans -> " \
           "dev_system.record" in lines[0]


def test_a_module_in_no_layer_fails(tmp_path: Path) -> None:
    make_tree(tmp_path, {"dev_system/helpers.py": ""})
    code, lines = run_check(tmp_path)
    assert code == 1
    assert lines[0].startswith("dev_system/helpers.py:1: dev_system.helpers belongs to no layer")
