"""The shape of the package, as a new maintainer relies on it: the stages in folders, in
layers that only import downward, small modules, no import cycle (lazy imports inside
functions count too: they are cycles that only wait for a caller), and only the entry
points import the orchestrator."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "digest"
MAX_LINES = 400
# The floors, lowest first. A module imports only from its own floor and those below;
# the ground floor is the package's top-level modules: shared rules and records.
LAYERS = ("", "config", "store", "intake", "fetch", "publish", "deliver", "run", "health", "cli")
ORCHESTRATOR = "digest.run.pipeline"
ENTRY_POINTS = ("digest.cli.", "digest.run.schedule", "digest.__main__")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in its body. Importing
    ``a.b.c`` names ``a.b.c`` only: that Python runs the parent packages first is not a
    dependency the module chose."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    wanted: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            wanted.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                wanted.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {module for module in wanted if module in modules and module != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _layer(module: str) -> int:
    """The floor of a module: its stage folder's, or the ground floor's."""
    parts = module.split(".")
    folder = (
        parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else ""
    )
    assert folder in LAYERS, f"{module} is in no known stage folder: add it to LAYERS"
    return LAYERS.index(folder)


def test_no_module_is_longer_than_a_reader_can_hold() -> None:
    long = {
        name: lines
        for name, path in _modules().items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_no_import_cycle_among_the_package_modules() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert graph["digest.cli.main"], "the import graph came out empty: the check itself is broken"
    assert _cycles(graph) == []


def test_the_cycle_check_sees_a_lazy_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_nothing_imports_upward_between_stage_folders() -> None:
    modules = _modules()
    upward = sorted(
        f"{name} imports {other}"
        for name, path in modules.items()
        if name != "digest.__main__"
        for other in _imports(name, path, modules)
        if _layer(other) > _layer(name)
    )
    assert upward == []


def test_the_layer_check_sees_an_upward_import() -> None:
    assert _layer("digest.store.sql.papers") > _layer("digest.model")
    assert _layer("digest.cli.run") > _layer("digest.run.pipeline") > _layer("digest.publish.feeds")
    assert _layer("digest.config") == _layer("digest.config.settings")


def test_only_the_entry_points_import_the_orchestrator() -> None:
    modules = _modules()
    importers = {
        name for name, path in modules.items() if ORCHESTRATOR in _imports(name, path, modules)
    }
    assert importers, "nothing imports the orchestrator: the check itself is broken"
    assert {name for name in importers if not name.startswith(ENTRY_POINTS)} == set()


def test_no_formatter_switched_off_to_fit_a_limit() -> None:
    """``# fmt: skip`` once folded lines to stay under the length limit; a room that is
    too long is split along its seams instead."""
    skipped = [
        f"{path.relative_to(PACKAGE.parent)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"#\s*fmt:\s*(skip|off)", line)
    ]
    assert skipped == []
