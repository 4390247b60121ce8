"""The package's layers, as docs/ARCHITECTURE.md draws them: imports point down, never in a circle.

Every `import` in lineflow/ is read with `ast`, including those inside functions (a lazy import
is still a dependency), and each module is placed in its layer by its dotted name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lineflow"

#: Lowest first. A module may import its own layer and the layers below it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("lineflow.core",)),
    ("config", ("lineflow.config", "lineflow.rules.model", "lineflow.rules.expressions")),
    (
        "storage, sources and rules",
        (
            "lineflow.state",
            "lineflow.http",
            "lineflow.landing",
            "lineflow.warehouse",
            "lineflow.sources",
            "lineflow.rules",
            "lineflow.models",
        ),
    ),
    ("pipeline", ("lineflow.pipeline",)),
    ("reporting", ("lineflow.reporting",)),
    ("ops", ("lineflow.ops",)),
    ("cli", ("lineflow.cli",)),
    ("package", ("lineflow.__main__", "lineflow.api", "lineflow")),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    best, rank = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    assert rank >= 0, f"{module} is in no layer: add it to LAYERS and to docs/ARCHITECTURE.md"
    return rank


def modules() -> dict[str, set[str]]:
    """module -> the lineflow modules it imports (a `from pkg import name` of a submodule counts
    as importing that submodule)."""
    found = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in found.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    anchor = name.split(".")
                    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                    base = ".".join([*anchor, base] if base else anchor)
                submodules = {f"{base}.{a.name}" for a in node.names} & found.keys()
                targets.update(submodules)
                if len(submodules) < len(node.names):  # names defined in `base` itself
                    targets.add(base)
        graph[name] = {t for t in targets if t in found and t != name}
    return graph


def test_every_import_points_down_or_sideways() -> None:
    upward = []
    for module, targets in sorted(modules().items()):
        for target in sorted(targets):
            if layer_of(target) > layer_of(module):
                upward.append(
                    f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} "
                    f"({LAYERS[layer_of(target)][0]})"
                )
    assert not upward, "imports that point up:\n" + "\n".join(upward)


def test_no_import_cycles() -> None:
    graph = modules()
    # A package's __init__ re-exporting its own submodules is not a cycle of the design.
    edges = {
        m: {t for t in ts if not (m == t.rsplit(".", 1)[0] or t == m.rsplit(".", 1)[0])}
        for m, ts in graph.items()
    }
    cycles, state = [], dict.fromkeys(edges, 0)

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state[target] == 1:
                cycles.append(" -> ".join([*trail[trail.index(target) :], target]))
            elif state[target] == 0:
                visit(target, [*trail, target])
        state[node] = 2

    for node in sorted(edges):
        if state[node] == 0:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("low", ["lineflow.reporting", "lineflow.pipeline", "lineflow.ops"])
def test_nothing_below_the_command_line_imports_it(low: str) -> None:
    offenders = [
        f"{m} imports {t}"
        for m, ts in modules().items()
        if m.startswith(low)
        for t in ts
        if t.startswith("lineflow.cli")
    ]
    assert not offenders, "\n".join(offenders)


def test_the_reader_sees_every_kind_of_import() -> None:
    graph = modules()
    assert layer_of("lineflow.core.odds") < layer_of("lineflow.pipeline.runner")
    # `from lineflow import sources` is an import of the sources package, not of lineflow
    assert "lineflow.sources" in graph["lineflow.pipeline.runner"]
    assert "lineflow" not in graph["lineflow.pipeline.runner"]
    # an import inside a function counts (the gcs landing loads only for a bucket)
    assert "lineflow.landing.gcs" in graph["lineflow.landing"]
