"""Every problem code the server can answer, found by reading its source: the codes given
to DomainError and its subclasses, to problem(), to any function with a `code` parameter
(require_role and the like), HTTP_CODES, and the media codes an evidence refusal carries
(evidence.<reason>). A test checks each has words in both languages."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SERVER = Path(__file__).parents[1] / "server"
CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
BASES = {"DomainError"}


def _trees() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(encoding="utf-8"))
            for path in SERVER.rglob("*.py") if "migrations" not in path.parts}


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else \
        func.attr if isinstance(func, ast.Attribute) else None


def _constants(node: ast.AST | None) -> set[str]:
    """The dotted codes a code expression may take ("a" if x else "b" gives both)."""
    if node is None:
        return set()
    return {n.value for n in ast.walk(node)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and CODE.match(n.value)}


def _assigned(scope: ast.AST, name: str) -> set[str]:
    """The codes a local variable `code = ...` is given in the function around the call."""
    found: set[str] = set()
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            found |= _constants(node.value)
    return found


def _error_classes(trees: dict[Path, ast.Module]) -> set[str]:
    classes, grew = set(BASES), True
    while grew:
        grew = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in classes and any(
                        _name(b) in classes for b in node.bases):
                    classes.add(node.name)
                    grew = True
    return classes


def _passes_code(function: ast.FunctionDef | ast.AsyncFunctionDef,
                 callees: set[str]) -> bool:
    """Whether the function hands its `code` parameter on to an error (or to a function
    that does)."""
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and _name(node.func) in callees and any(
                isinstance(a, ast.Name) and a.id == "code"
                for a in [*node.args, *(k.value for k in node.keywords)]):
            return True
    return False


def _code_params(trees: dict[Path, ast.Module], classes: set[str]) -> dict[str, int]:
    """Functions that raise with the `code` they are given (require_role and the like):
    name -> the parameter's position."""
    found: dict[str, int] = {}
    grew = True
    while grew:
        grew = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                names = [a.arg for a in node.args.posonlyargs + node.args.args]
                if "code" in names and node.name not in found and node.name != "__init__" \
                        and _passes_code(node, classes | set(found)):
                    found[node.name] = names.index("code")
                    grew = True
    return found


def raised_codes() -> dict[str, str]:
    """code -> where (path:line) it is first given."""
    from server.media.errors import CODES as MEDIA_CODES

    trees = _trees()
    classes = _error_classes(trees)
    params = _code_params(trees, classes)
    codes: dict[str, str] = {}
    for path, tree in trees.items():
        functions = [n for n in ast.walk(tree)
                     if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _name(node.func)
            arg: ast.expr | None = None
            if name in classes:
                arg = node.args[0] if node.args else None
            elif name == "problem":
                arg = node.args[1] if len(node.args) > 1 else None
            elif name in params:
                position = params[name]
                arg = node.args[position] if len(node.args) > position else None
                arg = next((k.value for k in node.keywords if k.arg == "code"), arg)
            if arg is None:
                continue
            found = _constants(arg)
            if isinstance(arg, ast.Name):
                around = [f for f in functions if f.lineno <= node.lineno <= (f.end_lineno or 0)]
                if around:
                    found |= _assigned(around[-1], arg.id)
            if isinstance(arg, ast.JoinedStr) and ast.unparse(arg).startswith("f'evidence."):
                found |= {"evidence." + c.split(".", 1)[1] for c in MEDIA_CODES}
            for code in found:
                codes.setdefault(code, f"{path.relative_to(SERVER.parent)}:{node.lineno}")
    from server.api.problems import HTTP_CODES
    for code in HTTP_CODES.values():
        codes.setdefault(code, "server/api/problems.py HTTP_CODES")
    return codes
