"""Arrows one way (issue 11): the import graph of the apps follows the layers and has no cycles."""

from __future__ import annotations

import ast
import collections
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Lower layers never import higher ones. audit/ imports nothing from governance/.
LAYERS = ("audit", "common", "accounts", "registry", "evaluations", "workflow", "reports", "api")
RANK = {name: rank for rank, name in enumerate(LAYERS)}


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _app(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "audit":
        return "audit"
    if parts[0] == "governance" and len(parts) > 1 and parts[1] in RANK:
        return parts[1]
    return None


def _imports() -> dict[str, set[str]]:
    """Every import (module level or inside a function) of every non-migration module."""
    graph: dict[str, set[str]] = collections.defaultdict(set)
    for path in [*ROOT.joinpath("governance").rglob("*.py"), *ROOT.joinpath("audit").rglob("*.py")]:
        if "migrations" in path.parts:
            continue
        module = _module(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                graph[module].add(node.module)
                graph[module].update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                graph[module].update(alias.name for alias in node.names)
    return graph


def test_no_arrow_from_a_lower_app_to_a_higher_one():
    upward = sorted(
        (module, target)
        for module, targets in _imports().items()
        for target in targets
        if _app(module) and _app(target) and RANK[_app(target)] > RANK[_app(module)]
    )
    assert upward == []


def test_the_module_graph_has_no_cycles():
    graph = _imports()
    modules = set(graph)
    edges = {m: {t for t in targets if t in modules and t != m} for m, targets in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for module in sorted(modules):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_services_and_tasks_do_not_import_each_other_both_ways():
    graph = _imports()
    for app in ("evaluations", "workflow", "reports"):
        services, tasks = f"governance.{app}.services", f"governance.{app}.tasks"
        assert tasks not in graph[services], f"{services} imports its tasks; announce a domain event instead"


def test_one_test_layout_api_tests_live_beside_their_app():
    """docs/architecture.md "One test layout": tests/<app>/ for every door, no tests/api/ beside it."""
    assert not (ROOT / "tests" / "api").exists(), "API tests live beside their app: tests/<app>/test_..._api.py"
