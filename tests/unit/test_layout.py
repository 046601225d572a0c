"""The layout DESIGN.md keeps: dependencies point one way, and no module or function is too long to hold.

Imports are read from the source (module level and inside functions alike) and counted at
the level of `app.<package>` (or `app.<module>`), `graphs`, `tools`, `evals` and `prompts`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("app", "graphs", "tools", "evals", "prompts")
# The parts every other part may use; they use none of the parts that compose them.
COMPONENTS = ("app.access", "app.conversations", "app.ingestion", "app.ledgers", "app.llm", "app.observability",
              "app.retrieval", "app.safety")
COMPOSERS = ("app.gateway", "app.cli", "app.chatbot", "app.main", "app.chat", "app.services", "graphs", "evals")
MAX_LINES, MAX_FUNCTION_LINES = 400, 60


def unit(module: str) -> str | None:
    """The part a module belongs to: `app.<name>`, or the top-level package."""
    parts = module.split(".")
    if parts[0] not in SOURCES:
        return None
    return ".".join(parts[:2]) if parts[0] == "app" and len(parts) > 1 else parts[0]


def source_files() -> list[Path]:
    return sorted(p for top in SOURCES for p in (ROOT / top).rglob("*.py") if "migrations" not in p.parts)


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
    return found


def dependencies() -> dict[str, set[str]]:
    """part -> the parts it imports."""
    edges: dict[str, set[str]] = {}
    for path in source_files():
        own = unit(module_name(path))
        targets = {unit(name) for name in imports(path)} - {None, own}
        edges.setdefault(own, set()).update(t for t in targets if t is not None and _exists(t))
    return edges


def _exists(part: str) -> bool:
    path = ROOT / part.replace(".", "/")
    return path.is_dir() or path.with_suffix(".py").is_file()


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected parts (Tarjan): each list is a cycle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_parts():
    assert cycles(dependencies()) == []


def test_components_never_import_what_composes_them():
    edges = dependencies()
    wrong = {part: sorted(edges.get(part, set()) & set(COMPOSERS)) for part in COMPONENTS}
    assert {part: targets for part, targets in wrong.items() if targets} == {}


@pytest.mark.parametrize("part", ["graphs", "tools"])
def test_the_graph_and_the_tools_never_import_the_gateway_or_the_cli(part):
    assert dependencies()[part] & {"app.gateway", "app.cli", "app.chat", "app.chatbot"} == set()


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_or_function_is_too_long_to_hold():
    long_files, long_functions = [], []
    for path in source_files():
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(ROOT))
        if text.count("\n") > MAX_LINES:
            long_files.append(f"{name} ({text.count(chr(10))})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}:{node.lineno} {node.name} ({length})")
    assert (long_files, long_functions) == ([], [])
