"""The house's shape: no circle among server's modules, and the hooks through which the
lifecycle asks closure are registered wherever the app is made (import-linter checks the
contexts' order and the nevers; see pyproject.toml)."""

from __future__ import annotations

import sys

import grimp


def _circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for module in sorted(graph.modules):
            if module not in index:
                visit(module)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_the_import_graph_has_no_circle() -> None:
    graph = grimp.build_graph("server", cache_dir=None)
    assert _circles(graph) == []


def test_closure_registers_its_approval_gate_and_seal(app) -> None:  # type: ignore[no-untyped-def]
    from server.domain.cases import hooks
    from server.domain.closure import checklist

    assert hooks.approval_gate._target is checklist.approval_gate
    assert hooks.approval_seal._target is not None
