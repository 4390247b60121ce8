"""Mutation operators: every one-line bug the harness plants, found by walking a module's AST.

A mutant is addressed by the position of its node in a deterministic walk (`ast.walk` of a fresh
parse) plus the operator's variant, so it can be re-applied to a new parse of the same source
without carrying trees between processes. The mutated tree is compiled directly: line numbers
stay those of the original file, and formatting never matters.

Not mutated, because no test could tell or a type checker already does: docstrings, imports,
annotations (strings under `from __future__ import annotations`), decorators, `Literal[...]`
arguments, the text of f-strings and of exception messages.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

_COMPARE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_ARITH: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.Mult,
    ast.Pow: ast.Mult,
    ast.BitAnd: ast.BitOr,  # polars: & and | combine boolean expressions
    ast.BitOr: ast.BitAnd,
}
#: Method names swapped for their opposite: `.last()` <-> `.first()`, `.max()` <-> `.min()`...
_SWAP = {
    "first": "last",
    "last": "first",
    "max": "min",
    "min": "max",
    "is_null": "is_not_null",
    "is_not_null": "is_null",
    "any": "all",
    "all": "any",
    "floor": "ceil",
    "ceil": "floor",
}
#: Chained calls that can be dropped and still leave runnable code (`x.sort(...)` -> `x`).
_DROPPABLE = {
    "sort",
    "fill_null",
    "drop_nulls",
    "unique",
    "round",
    "filter",
    "abs",
    "floor",
    "strip",
    "strip_chars",
    "lower",
    "to_lowercase",
    "replace",
    "replace_all",
    "normalize",
    "over",
    "head",
}
_NAMESPACES = {"str", "list", "dt", "arr"}
#: Names of modules: `re.sub(...)` is a function, not a step of a chain to drop.
_MODULES = {"pl", "re", "os", "time", "json", "math", "statistics", "unicodedata", "hashlib"}


@dataclass(frozen=True)
class Mutant:
    """One planted bug: where (node index in the walk, line), which operator, what it does."""

    index: int  # position of the mutated node in `ast.walk(ast.parse(source))`
    variant: int  # which of the node's mutations
    line: int
    operator: str
    description: str  # "a >= 100 -> a > 100"

    @property
    def key(self) -> str:
        return f"{self.line}:{self.operator}:{self.description}"


def _short(node: ast.AST) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= 70 else text[:67] + "..."


def _excluded(tree: ast.Module) -> set[int]:
    """ids of the nodes (and everything under them) the harness never mutates."""
    skip: list[ast.AST] = []
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            skip.append(body[0])
        if isinstance(node, ast.Import | ast.ImportFrom | ast.JoinedStr | ast.Raise | ast.Global):
            skip.append(node)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            skip.extend(node.decorator_list)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
            skip.append(node.returns)
        if isinstance(node, ast.arg) and node.annotation is not None:
            skip.append(node.annotation)
        if isinstance(node, ast.AnnAssign):
            skip.append(node.annotation)
            if node.value is None:
                skip.append(node)
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == "Literal"
        ):
            skip.append(node)
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            skip.append(node)
    return {id(n) for root in skip for n in ast.walk(root)}


#: id(child) -> (parent, field, index in the field's list or None)
Parents = dict[int, tuple[ast.AST, str, int | None]]


def _parents(tree: ast.AST) -> Parents:
    out: Parents = {}
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if isinstance(value, list):
                for i, child in enumerate(value):
                    if isinstance(child, ast.AST):
                        out[id(child)] = (parent, name, i)
            elif isinstance(value, ast.AST):
                out[id(value)] = (parent, name, None)
    return out


def _replace(parents: Parents, old: ast.AST, new: ast.AST) -> None:
    parent, name, i = parents[id(old)]
    if i is None:
        setattr(parent, name, new)
    else:
        getattr(parent, name)[i] = new


#: (operator, description, apply): `apply(node, parents)` edits `node` (or its parent) in place.
Change = tuple[str, str, Callable[[ast.AST, Parents], None]]


def _changes(node: ast.AST, parent: ast.AST | None) -> Iterator[Change]:
    """Each mutation of `node`: (operator, description, apply)."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in _COMPARE:

                def flip(n: ast.AST, _p: Parents, i: int = i) -> None:
                    n.ops[i] = _COMPARE[type(n.ops[i])]()  # type: ignore[attr-defined]

                yield _in_place("compare", node, flip)
    elif isinstance(node, ast.BinOp | ast.AugAssign) and type(node.op) in _ARITH:

        def arith(n: ast.AST, _p: Parents) -> None:
            n.op = _ARITH[type(n.op)]()  # type: ignore[attr-defined]

        yield _in_place("arithmetic", node, arith)
    elif isinstance(node, ast.BoolOp):

        def boolop(n: ast.AST, _p: Parents) -> None:
            n.op = ast.Or() if isinstance(n.op, ast.And) else ast.And()  # type: ignore[attr-defined]

        yield _in_place("boolean", node, boolop)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.Invert | ast.USub):

        def unary(n: ast.AST, p: Parents) -> None:
            _replace(p, n, n.operand)  # type: ignore[attr-defined]

        yield "negation", f"{_short(node)} -> {_short(node.operand)}", unary
    elif isinstance(node, ast.Constant):
        yield from _constant(node, parent)
    elif isinstance(node, ast.Return) and node.value is not None:
        if not (isinstance(node.value, ast.Constant) and node.value.value is None):

            def ret(n: ast.AST, _p: Parents) -> None:
                n.value = ast.Constant(None)  # type: ignore[attr-defined]

            yield "return", f"return {_short(node.value)} -> return None", ret
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):

        def remove(n: ast.AST, p: Parents) -> None:
            _replace(p, n, ast.Pass())

        yield "statement", f"{_short(node)} -> pass", remove
    elif isinstance(node, ast.Call):
        yield from _call(node)


def _in_place(operator: str, node: ast.AST, apply: Callable[[ast.AST, Parents], None]) -> Change:
    """A change that edits the node itself: described by applying it to a copy."""
    clone = copy.deepcopy(node)
    apply(clone, {})
    return operator, f"{_short(node)} -> {_short(clone)}", apply


def _constant(node: ast.Constant, parent: ast.AST | None) -> Iterator[Change]:
    value = node.value
    new: object
    if isinstance(value, bool):
        new = not value
        operator = "keyword" if isinstance(parent, ast.keyword) else "constant"
    elif isinstance(value, int):
        new = {0: 1, 1: 0}.get(value, value + 1)
        operator = "constant"
    elif isinstance(value, float):
        new = value + 1.0
        operator = "constant"
    elif isinstance(value, str):
        new = f"{value}x"  # lowercase: names are lowercased before their patterns apply
        operator = "string"
    else:
        return

    def const(n: ast.AST, _p: Parents) -> None:
        n.value = new  # type: ignore[attr-defined]

    yield operator, f"{value!r} -> {new!r}", const


def _call(node: ast.Call) -> Iterator[Change]:
    func = node.func
    if isinstance(func, ast.Name) and func.id in ("max", "min", "any", "all"):

        def builtin(n: ast.AST, _p: Parents) -> None:
            n.func.id = _SWAP[n.func.id]  # type: ignore[attr-defined]

        yield "call", f"{func.id}(...) -> {_SWAP[func.id]}(...)", builtin
    if not isinstance(func, ast.Attribute):
        return
    if func.attr in _SWAP:

        def swap(n: ast.AST, _p: Parents) -> None:
            n.func.attr = _SWAP[n.func.attr]  # type: ignore[attr-defined]

        yield "method", f".{func.attr}() -> .{_SWAP[func.attr]}()", swap
    # `x.sort(...)` -> `x`, `x.str.strip_chars()` -> `x`: one step of a chain dropped
    namespaced = isinstance(func.value, ast.Attribute) and func.value.attr in _NAMESPACES
    chain = func.value.value if namespaced else func.value  # type: ignore[attr-defined]
    step = isinstance(chain, ast.Call | ast.Subscript) or (
        isinstance(chain, ast.Name) and chain.id not in _MODULES
    )
    if func.attr in _DROPPABLE and step:

        def drop(n: ast.AST, p: Parents) -> None:
            f = n.func  # type: ignore[attr-defined]
            inner = f.value.value if namespaced else f.value
            _replace(p, n, inner)

        yield "call", f".{func.attr}({_short_args(node)}) removed", drop


def _short_args(node: ast.Call) -> str:
    parts = [_short(a) for a in node.args] + [_short(k) for k in node.keywords]
    text = ", ".join(parts)
    return text if len(text) <= 30 else text[:27] + "..."


def _scoped(tree: ast.Module, functions: Collection[str]) -> set[int]:
    """ids of the nodes inside the named functions (`Class.method` or `function`)."""
    inside: set[int] = set()

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                if name in functions:
                    inside.update(id(n) for n in ast.walk(child))
                visit(child, f"{name}.")

    visit(tree, "")
    return inside


def mutants(source: str, functions: Collection[str] = ()) -> list[Mutant]:
    """Every mutant of a module's source (or of the named functions only), in a stable order."""
    tree = ast.parse(source)
    skip = _excluded(tree)
    scope = _scoped(tree, functions) if functions else None
    parents = _parents(tree)
    found = []
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skip or (scope is not None and id(node) not in scope):
            continue
        parent = parents.get(id(node), (None, "", None))[0]
        for variant, (operator, description, _apply) in enumerate(_changes(node, parent)):
            found.append(Mutant(index, variant, getattr(node, "lineno", 0), operator, description))
    return sorted(found, key=lambda m: (m.line, m.index, m.variant))


def mutated_tree(source: str, mutant: Mutant) -> ast.Module:
    """A fresh parse of `source` with `mutant` applied."""
    tree = ast.parse(source)
    parents = _parents(tree)
    for index, node in enumerate(ast.walk(tree)):
        if index == mutant.index:
            parent = parents.get(id(node), (None, "", None))[0]
            changes = list(_changes(node, parent))
            _operator, _description, apply = changes[mutant.variant]
            apply(node, parents)
            return ast.fix_missing_locations(tree)
    raise LookupError(f"no node {mutant.index} in the source")
