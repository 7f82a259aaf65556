"""The timeline's list of event kinds (timeline.KINDS) is whole: every kind the server
appends is in it, and every kind in it is appended somewhere. The app's labels for each
kind are checked against it in the browser (tests/e2e/test_timeline_labels.py)."""

from __future__ import annotations

import ast
from pathlib import Path

from server.domain.audit.timeline import KINDS
from server.domain.cases.lifecycle import TRANSITIONS

SERVER = Path(__file__).parents[1] / "server"


def _outcomes(node: ast.expr, names: dict[str, str]) -> list[str]:
    """The strings an expression may evaluate to (a constant, a module's named constant,
    either arm of a ternary)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in names:
        return [names[node.id]]
    if isinstance(node, ast.IfExp):
        return _outcomes(node.body, names) + _outcomes(node.orelse, names)
    return []


def _constants(tree: ast.Module) -> dict[str, str]:
    """A module's top-level NAME = "text" assignments (DECISION = "revisit_decision")."""
    return {target.id: node.value.value for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            for target in node.targets if isinstance(target, ast.Name)}


def appended_kinds() -> dict[str, str]:
    """kind -> where, for every timeline.append/record/link/append_many call (a kind given
    as an expression counts each string it may be: "escalated" if ... else "reminded")."""
    found: dict[str, str] = {}
    for path in SERVER.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = _constants(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "timeline"):
                continue
            if node.func.attr == "append_many" and node.args:
                # [(case, kind, data), ...] or a comprehension of such tuples
                items = node.args[0]
                rows = [items.elt] if isinstance(items, ast.ListComp) else \
                    list(getattr(items, "elts", []))
                kinds = [row.elts[1] for row in rows
                         if isinstance(row, ast.Tuple) and len(row.elts) > 1]
            elif node.func.attr in ("append", "record", "link") and len(node.args) > 1:
                kinds = [node.args[1]]
            else:
                continue
            for kind in (k for expr in kinds for k in _outcomes(expr, names)):
                found.setdefault(kind, f"{path.relative_to(SERVER.parent)}:{node.lineno}")
    for action in TRANSITIONS:
        found.setdefault(action.event, "server/domain/cases/lifecycle.py TRANSITIONS")
    return found


def test_every_appended_kind_is_listed() -> None:
    found = appended_kinds()
    assert "escalated" in found and "sealed" in found and "approved" in found
    missing = {k: w for k, w in found.items() if k not in KINDS}
    assert not missing, ("Timeline kinds appended but not in timeline.KINDS (add them, and "
                         f"their labels in pwa/js/i18n.js): {missing}")


def test_every_listed_kind_is_appended() -> None:
    stale = set(KINDS) - set(appended_kinds())
    assert not stale, f"In timeline.KINDS but never appended: {sorted(stale)}"
