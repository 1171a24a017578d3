"""The package's import graph: one way, no cycles, and nothing imports the package face."""

from __future__ import annotations

import ast
from pathlib import Path

import lstm_sentiment

PACKAGE = Path(lstm_sentiment.__file__).parent


def _imports(path: Path) -> set[str]:
    """The package modules ``path`` imports at run time (typing-only imports excluded)."""
    tree = ast.parse(path.read_text())
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only or not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 1:  # from . import x / from .x import y
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif node.module and node.module.startswith("lstm_sentiment"):
            parts = node.module.split(".")
            found.add(parts[1] if len(parts) > 1 else "__init__")
    return found


def _graph() -> dict[str, set[str]]:
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    return {p.stem: _imports(p) & (modules | {"__init__"}) - {p.stem}
            for p in PACKAGE.glob("*.py")}


def test_no_module_imports_the_package_face() -> None:
    offenders = sorted(name for name, deps in _graph().items()
                       if "__init__" in deps and name != "__main__")
    assert offenders == []


def test_imports_run_one_way() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for dep in sorted(graph.get(name, ())):
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep):], dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_the_lowest_layers_know_nothing_of_models() -> None:
    graph = _graph()
    model_layer = {"model", "predict", "trainer", "pipeline", "serve", "cli", "score", "export"}
    for low in ("errors", "fileio", "config", "streams", "tables", "text", "data", "head"):
        assert not graph[low] & model_layer, (low, graph[low] & model_layer)
