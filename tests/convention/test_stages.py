"""The stage packages under ``tasks/`` import each other without a cycle (a stage may use the stages before it,
never one that uses it back): the folders tell the pipeline's order. Imports inside functions count too."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def stage_imports() -> dict[str, dict[str, str]]:
    """For each stage, the other stages it imports, each with one file that does."""
    edges: dict[str, dict[str, str]] = defaultdict(dict)
    for path in sorted((ROOT / "tasks").rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if len(parts) < 3:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                pieces = name.split(".")
                if pieces[0] == "tasks" and len(pieces) > 1 and pieces[1] != parts[1]:
                    edges[parts[1]].setdefault(pieces[1], str(path.relative_to(ROOT)))
    return edges


def find_cycle(edges: dict[str, dict[str, str]]) -> list[str] | None:
    """One cycle of stages (as a path that returns to its start), or None."""
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in edges.get(node, {}):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt, [*path, nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_the_finder_finds_a_cycle():
    assert find_cycle({"a": {"b": ""}, "b": {"c": ""}, "c": {"a": ""}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": ""}, "b": {}}) is None


def test_stage_packages_are_acyclic():
    edges = stage_imports()
    assert edges["registry"] and edges["scoring"]  # the scan sees imports at all
    cycle = find_cycle(edges)
    where = [f"{a} -> {b} ({edges[a][b]})" for a, b in zip(cycle, cycle[1:], strict=False)] if cycle else []
    assert cycle is None, "stage packages import each other in a cycle: " + "; ".join(where)
