"""One body of a declarative source walked into flat columns: the only per-file Python work.

A mapping's paths are compiled once into getters, each placed at the shallowest scope it can be
read at: the file (`doc`, `root`, `meta` and the lookups matched there, joined once per body),
or a level of `rows` (with the lookups matched there joined per object).
Walking a body evaluates each getter once per object of its scope, not once per row, and emits
one tuple per row; everything after (conversions, filters, the main line) is `finish`'s polars
pass over a whole batch. Paths that lead nowhere give None, never an error: the rows they
leave empty are the filters' business. A `rows` level that is not a list is a ParseError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jmespath

from lineflow.sources.base import FileMeta, Flat, ParseError, ProviderOutage, decode_json, one_line
from lineflow.sources.declarative.spec import RowMapping, Step, parse_path

Getter = Callable[[dict[str, Any]], Any]
#: Where a lookup matched at the file reads its value: (anchor, steps).
_Match = tuple[str, tuple[Step, ...]]


def follow(value: Any, steps: tuple[Step, ...]) -> Any:
    """The value at `steps` from `value`; None where the path leads nowhere."""
    for step in steps:
        kind = step[0]
        if kind == "key":
            value = value.get(step[1]) if isinstance(value, dict) else None
        elif kind == "index":
            value = (
                value[step[1]]
                if isinstance(value, list) and -len(value) <= step[1] < len(value)
                else None
            )
        else:
            key, wanted = step[1], step[2]
            value = (
                next(
                    (
                        item
                        for item in value
                        if isinstance(item, dict) and text(item.get(key)) == wanted
                    ),
                    None,
                )
                if isinstance(value, list)
                else None
            )
        if value is None:
            return None
    return value


def text(value: Any) -> str | None:
    """A scalar as the text filters and maps compare: booleans as true/false."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if value is None or kind is dict or kind is list:
        return None
    if kind is bool:
        return "true" if value else "false"
    if kind is float and value.is_integer():
        return str(int(value))
    return str(value)


def getter(path: str) -> tuple[str, Getter]:
    anchor, steps = parse_path(path)
    if not steps:
        return anchor, lambda scope: scope.get(anchor)
    return anchor, lambda scope: follow(scope.get(anchor), steps)


class Walker:
    """A mapping compiled: `flatten(body, meta)` -> `Flat` with one column per path.

    `row_columns` / `file_columns` name the columns (`p0`, `p1`, ...) of each path, in the
    order `columns_of` gives for a path."""

    def __init__(self, mapping: RowMapping, what: str, paths: list[str], int_flags: set[str]):
        self.what = what
        self.unwrap = mapping.unwrap
        self.require = [(p, getter(p)) for p in mapping.require]
        self.outage = [(jmespath.compile(w.when), w.message) for w in mapping.outage_when]
        self.error = [(jmespath.compile(w.when), w.message) for w in mapping.error_when]
        levels = list(mapping.rows.items())
        depth = {"doc": -1, "root": -1, "meta": -1}
        for i, (name, _) in enumerate(levels):
            depth[name] = i
        # Each lookup's list is indexed once per body. One matched at a level of `rows` is
        # joined there, once per object of that level; one matched at the file (`doc`, `root`,
        # `meta` or such a lookup) is joined once per body, in `flatten`, before the walk.
        self.lookups: list[tuple[str, str, tuple[Step, ...], str, _Match | None]] = []
        level_lookups: list[list[tuple[str, str]]] = [[] for _ in levels]
        for name, lookup in mapping.lookups.items():
            anchor, steps = parse_path(lookup.match)
            depth[name] = depth[anchor]
            list_anchor, list_steps = parse_path(lookup.list)
            at_file = (anchor, steps) if depth[name] < 0 else None
            self.lookups.append((name, list_anchor, list_steps, lookup.key, at_file))
            if at_file is None:
                level_lookups[depth[name]].append((name, lookup.match))
        #: column name of each path; which are read per file
        self.columns: dict[str, str] = {}
        self.file_paths: list[tuple[str, Getter]] = []
        per_level: list[list[tuple[str, str]]] = [[] for _ in levels]
        for path in dict.fromkeys(paths):
            name = f"p{len(self.columns)}"
            self.columns[path] = name
            anchor, get = getter(path)
            level = depth[anchor]
            if level < 0:
                self.file_paths.append((name, get))
            else:
                per_level[level].append((name, path))
        self.int_flags = {self.columns[p] for p in int_flags}
        self.row_names = [name for level in per_level for name, _ in level]
        self._walk = _compile(
            [(name, path) for name, path in levels],
            level_lookups,
            [[path for _, path in level] for level in per_level],
            what,
        )

    def flatten(self, body: bytes, meta: FileMeta) -> Flat:
        root = decode_json(body, self.what)
        self._check(root)
        doc = root.get(self.unwrap, root) if self.unwrap and isinstance(root, dict) else root
        meta_values = {
            "fetched_at": meta.fetched_at,
            "slate_date": meta.slate_date,
            "source": meta.source,
        }
        scope: dict[str, Any] = {"doc": doc, "root": root, "meta": meta_values}
        for path, (_, get) in self.require:
            if get(scope) is None:
                raise ParseError(one_line(f"{self.what}: body lacks {path.split('.', 1)[-1]}"))
        indexes: dict[str, dict[str, Any]] = {}
        for name, anchor, steps, key, at_file in self.lookups:
            index = indexes[name] = self._index(follow(scope.get(anchor), steps), key)
            if at_file is not None:
                value = text(follow(scope.get(at_file[0]), at_file[1]))
                scope[name] = index.get(value) if value is not None else None
        lists: list[list[Any]] = [[] for _ in self.row_names]
        self._walk(scope, indexes, lists)
        out = dict(zip(self.row_names, lists, strict=True))
        for name in self.int_flags & set(out):
            out[f"{name}_int"] = [type(v) is int for v in out[name]]
        file = {name: get(scope) for name, get in self.file_paths}
        for name in self.int_flags & set(file):
            file[f"{name}_int"] = type(file[name]) is int
        return Flat(out, file)

    def _check(self, root: Any) -> None:
        for expression, message in self.error:
            if _truthy(expression.search(root)):
                raise ParseError(one_line(f"{self.what}: {message}"))
        for expression, message in self.outage:
            if _truthy(expression.search(root)):
                raise ProviderOutage(one_line(f"{self.what}: {message}"))

    @staticmethod
    def _index(items: Any, key: str) -> dict[str, Any]:
        """Objects of `items` by their key as text; one without a key is joined by nothing."""
        if not isinstance(items, list):
            return {}
        index = {}
        for item in items:
            if isinstance(item, dict) and (value := text(item.get(key))) is not None:
                index[value] = item
        return index


def _truthy(value: Any) -> bool:
    """JMESPath's truth: false, null, empty strings, lists and objects are false."""
    return value is not None and value is not False and value not in ("", [], {})


# -- the walk, compiled ------------------------------------------------------------------------


def _compile(
    levels: list[tuple[str, str]],
    lookups: list[list[tuple[str, str]]],
    values: list[list[str]],
    what: str,
) -> Callable[..., None]:
    """The nested loops of a mapping's `rows` as one Python function that fills the columns,
    each path inlined as dict lookups, an outer level's values repeated over the rows below it
    at once (as the module parsers do): walking is most of a declarative parse, and a generic
    path interpreter called per value took twice the module parsers' time (docs/sources.md)."""
    lines = ["def walk(scope, indexes, cols):"]
    names: dict[str, str] = {anchor: f"scope[{anchor!r}]" for anchor in ("doc", "root", "meta")}
    temps = iter(range(1_000_000))
    indent = "    "
    column = 0
    outer: list[tuple[int, str]] = []  # (column, local name) of the values of outer levels
    last = len(levels) - 1
    for i, (name, path) in enumerate(levels):
        anchor, steps = parse_path(path)
        var = f"_l{i}"
        lines.append(f"{indent}{var}s = {_expression(names[anchor], steps, temps)}")
        lines.append(f"{indent}if {var}s is None:")
        lines.append(f"{indent}    return" if i == 0 else f"{indent}    continue")
        lines.append(f"{indent}if type({var}s) is not list:")
        lines.append(
            f"{indent}    raise ParseError({_shape(what, name)!r} + type({var}s).__name__)"
        )
        if i == last and outer:
            lines.append(f"{indent}_n = len({var}s)")
            lines += [f"{indent}cols[{c}] += [{local}] * _n" for c, local in outer]
        lines.append(f"{indent}for {var} in {var}s:")
        indent += "    "
        names[name] = var
        for k, (lookup, match) in enumerate(lookups[i]):
            m_anchor, m_steps = parse_path(match)
            found = _expression(names[m_anchor], m_steps, temps)
            lines.append(f"{indent}_k{i}_{k} = indexes[{lookup!r}].get(text({found}))")
            names[lookup] = f"_k{i}_{k}"
        for p in values[i]:
            p_anchor, p_steps = parse_path(p)
            expr = _expression(names[p_anchor], p_steps, temps)
            if i == last:
                lines.append(f"{indent}cols[{column}].append({expr})")
            else:
                local = f"_v{column}"
                lines.append(f"{indent}{local} = {expr}")
                outer.append((column, local))
            column += 1
        if i == last and not values[i]:
            lines.append(f"{indent}pass")
    namespace: dict[str, Any] = {"ParseError": ParseError, "text": text, "match": _match}
    exec(compile("\n".join(lines), f"<declarative walk: {what}>", "exec"), namespace)  # noqa: S102
    return namespace["walk"]  # type: ignore[no-any-return]


def _expression(base: str, steps: tuple[Step, ...], temps: Any) -> str:
    """Python source reading `steps` from the value named `base`: None where it leads nowhere."""
    expr = base
    for step in steps:
        temp = f"_t{next(temps)}"
        if step[0] == "key":
            expr = f"({temp}.get({step[1]!r}) if type({temp} := {expr}) is dict else None)"
        elif step[0] == "index":
            n = int(step[1])
            expr = (
                f"({temp}[{n}] if type({temp} := {expr}) is list "
                f"and -len({temp}) <= {n} < len({temp}) else None)"
            )
        else:
            expr = f"match({expr}, {step[1]!r}, {step[2]!r})"
    return expr


def _match(value: Any, key: str, wanted: str) -> Any:
    if type(value) is not list:
        return None
    for item in value:
        if type(item) is dict:
            found = item.get(key)
            if found == wanted or (type(found) is not str and text(found) == wanted):
                return item
    return None


def _shape(what: str, name: str) -> str:
    return f"{what}: rows {name!r} should be a list, not "
