"""The import-direction check: ``python tools/check_imports.py [ROOT]``.

The code is a pipeline, and imports point one way along it (see docs/architecture.md)::

    leaves < record < store < analysis < render < front ends

A module may import modules of its own layer or of a layer to its left, never of a layer to its
right. Every import counts, also one inside a function (a lazy import is fine for speed, not to
hide a dependency); only an import under ``if TYPE_CHECKING:`` is exempt, and a string naming a
module (``importlib.import_module("...")``, a plugin list) is not an import. No import cycle may
exist between modules, counting every import edge, lazy ones too.

What is an edge: ``import a.b`` and ``from a import b`` (``b`` a submodule) point at the module
``a.b``; ``from a import name`` points at ``a`` itself. A package's ``__init__`` that runs no code
(only a docstring and ``from __future__`` imports) is no edge target, and the parent packages
Python runs on the way to a submodule are not edges either.

Prints one line per violation (``path:line: importer (layer) imports imported (layer) ...``) and
one line per cycle, and exits 1 if there is any; else prints one summary line and exits 0.
ROOT is the folder holding the packages (default: this repository). Standard library only, so it
runs before anything is installed.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGES = ("dev_system", "pytest_devtelemetry")

# Left to right. A module belongs to the layer of the longest prefix naming it (a prefix is a
# module or a package with everything below it).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("leaves", ("dev_system.__init__", "dev_system.events", "dev_system.problems", "dev_system.hookspecs",
                "dev_system.config", "dev_system.structs", "dev_system.messages", "dev_system.formatting",
                "dev_system.json_fields")),
    ("record", ("dev_system.record",)),
    ("store", ("dev_system.store",)),
    ("analysis", ("dev_system.analysis",)),
    ("render", ("dev_system.render",)),
    ("front ends", ("dev_system.cli", "dev_system.ops", "dev_system.examples", "dev_system.__main__",
                    "pytest_devtelemetry")),
)


class Module:
    """One source file: its dotted name, path, whether it is a package and runs code."""

    def __init__(self, name: str, path: Path, is_package: bool, tree: ast.Module) -> None:
        self.name = name
        self.path = path
        self.is_package = is_package
        self.tree = tree
        self.runs_code = any(not _inert(stmt, i) for i, stmt in enumerate(tree.body))


def _inert(stmt: ast.stmt, index: int) -> bool:
    if index == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return isinstance(stmt.value.value, str)  # the docstring
    return isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"


def find_modules(root: Path) -> dict[str, Module]:
    """Every ``*.py`` file of :data:`PACKAGES` under ``root``, by dotted module name."""
    modules: dict[str, Module] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            name = ".".join(parts)
            tree = ast.parse(path.read_bytes(), filename=str(path))
            modules[name] = Module(name, path, is_package, tree)
    return modules


def layer_of(module: Module) -> int | None:
    """The index in :data:`LAYERS` of the module's layer, or None when no layer names it."""
    name = module.name + ".__init__" if module.name in PACKAGES else module.name
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _imports(tree: ast.Module) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement outside ``if TYPE_CHECKING:`` blocks, with whether it sits in a function."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(nodes: list[ast.AST], lazy: bool) -> None:
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append((node, lazy))
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                visit(node.orelse, lazy)
            else:
                inner = lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                visit(list(ast.iter_child_nodes(node)), inner)

    visit(tree.body, False)
    return found


def _targets(module: Module, node: ast.Import | ast.ImportFrom, modules: dict[str, Module]) -> list[str]:
    """The modules of ours that ``node`` points at (see the module docstring for what counts)."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            parts = alias.name.split(".")
            # The deepest module of ours the dotted name reaches.
            for end in range(len(parts), 0, -1):
                candidate = ".".join(parts[:end])
                if candidate in modules:
                    names.append(candidate)
                    break
        return names
    if node.level:
        package = module.name if module.is_package else module.name.rpartition(".")[0]
        base_parts = package.split(".")
        if node.level > 1:
            base_parts = base_parts[: len(base_parts) - (node.level - 1)]
        base = ".".join(base_parts + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        if submodule in modules:
            names.append(submodule)
        elif base in modules:
            names.append(base)
    return names


def check(root: Path) -> tuple[list[str], int, int]:
    """The problems found under ``root`` (one line each), the number of modules and of edges."""
    modules = find_modules(root)
    problems: list[str] = []
    # edges[a][b] = (line, lazy) of the first import of b by a
    edges: dict[str, dict[str, tuple[int, bool]]] = {name: {} for name in modules}
    layers = {name: layer_of(module) for name, module in modules.items()}
    for name, module in modules.items():
        if layers[name] is None:
            problems.append(f"{_where(root, module, 1)}: {name} belongs to no layer: "
                            f"add it to LAYERS in tools/check_imports.py and to docs/architecture.md")
    for name, module in modules.items():
        for node, lazy in _imports(module.tree):
            for target in dict.fromkeys(_targets(module, node, modules)):
                if target == name or (modules[target].is_package and not modules[target].runs_code):
                    continue
                edges[name].setdefault(target, (node.lineno, lazy))
                mine, theirs = layers[name], layers[target]
                if mine is not None and theirs is not None and theirs > mine:
                    verb = "lazily imports" if lazy else "imports"
                    problems.append(f"{_where(root, module, node.lineno)}: {name} ({LAYERS[mine][0]}) {verb} "
                                    f"{target} ({LAYERS[theirs][0]}), a layer to its right")
    for cycle, component in _cycles(edges):
        steps = ", ".join(f"{a} line {edges[a][b][0]}{' (lazy)' if edges[a][b][1] else ''}"
                          for a, b in zip(cycle, cycle[1:]))
        others = sorted(component - set(cycle))
        also = f"; also in this tangle: {', '.join(others)}" if others else ""
        problems.append(f"{_where(root, modules[cycle[0]], edges[cycle[0]][cycle[1]][0])}: import cycle: "
                        f"{' -> '.join(cycle)} ({steps}){also}")
    return problems, len(modules), sum(len(targets) for targets in edges.values())


def _where(root: Path, module: Module, line: int) -> str:
    return f"{module.path.relative_to(root).as_posix()}:{line}"


def _cycles(edges: dict[str, dict[str, tuple[int, bool]]]) -> list[tuple[list[str], set[str]]]:
    """One shortest cycle (first module repeated at the end) per strongly connected component, with
    the component."""
    cycles = []
    for component in _components(edges):
        start = min(component)
        # Breadth-first from start, inside the component, back to start.
        previous: dict[str, str] = {}
        queue, seen, end = [start], {start}, None
        while queue and end is None:
            nxt = []
            for node in queue:
                for target in sorted(edges[node]):
                    if target == start:
                        end = node
                        break
                    if target in component and target not in seen:
                        seen.add(target)
                        previous[target] = node
                        nxt.append(target)
                if end is not None:
                    break
            queue = nxt
        path = [end]
        while path[-1] != start:
            path.append(previous[path[-1]])
        cycles.append(([*reversed(path), start], component))
    return cycles


def _components(edges: dict[str, dict[str, tuple[int, bool]]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan's, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(edges[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(component)
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else Path(__file__).resolve().parent.parent
    problems, module_count, edge_count = check(root)
    for line in problems:
        print(line)
    if problems:
        print(f"import check: {len(problems)} problem(s) in {module_count} modules", file=sys.stderr)
        return 1
    print(f"import check: {module_count} modules, {edge_count} imports, one direction, no cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
