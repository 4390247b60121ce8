"""One body of a declarative source walked into flat columns: the only per-file Python work.

A mapping's paths are compiled once into getters, each placed at the shallowest scope it can be
read at: the file (`doc`, `root`, `meta`), or a level of `rows` (with the lookups joined there).
Walking a body evaluates each getter once per object of its scope, not once per row, and emits
one tuple per row; everything after (conversions, filters, the main line) is `finish`'s polars
pass over a whole batch. Paths that lead nowhere give None, never an error: the rows they
leave empty are the filters' business. A `rows` level that is not a list is a ParseError.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jmespath

from lineflow.sources.base import FileMeta, Flat, ParseError, ProviderOutage, decode_json, one_line
from lineflow.sources.declarative.spec import RowMapping, Step, parse_path

Getter = Callable[[dict[str, Any]], Any]


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
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def getter(path: str) -> tuple[str, Getter]:
    anchor, steps = parse_path(path)
    if not steps:
        return anchor, lambda scope: scope.get(anchor)
    return anchor, lambda scope: follow(scope.get(anchor), steps)


@dataclass(frozen=True)
class _Level:
    name: str
    parent: str
    steps: tuple[Step, ...]
    #: lookups joined at this level: (name, list index name, match getter)
    lookups: tuple[tuple[str, Getter], ...]
    #: the row values read at this level, in column order
    values: tuple[Getter, ...]


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
        lookup_specs = {}
        for name, lookup in mapping.lookups.items():
            anchor, _ = parse_path(lookup.match)
            depth[name] = depth[anchor]
            list_anchor, list_steps = parse_path(lookup.list)
            lookup_specs[name] = (depth[name], list_anchor, list_steps, lookup.key, lookup.match)
        self.lookup_lists = [
            (name, anchor, steps, key) for name, (_, anchor, steps, key, _) in lookup_specs.items()
        ]
        #: column name of each path; which are read per file
        self.columns: dict[str, str] = {}
        self.file_paths: list[tuple[str, Getter]] = []
        per_level: list[list[tuple[str, Getter]]] = [[] for _ in levels]
        for path in dict.fromkeys(paths):
            name = f"p{len(self.columns)}"
            self.columns[path] = name
            anchor, get = getter(path)
            level = depth[anchor]
            if level < 0:
                self.file_paths.append((name, get))
            else:
                per_level[level].append((name, get))
        self.int_flags = {self.columns[p] for p in int_flags}
        self.row_names = [name for level in per_level for name, _ in level]
        self.levels = tuple(
            _Level(
                name,
                parse_path(path)[0],
                parse_path(path)[1],
                tuple(
                    (lk, getter(spec[4])[1]) for lk, spec in lookup_specs.items() if spec[0] == i
                ),
                tuple(get for _, get in per_level[i]),
            )
            for i, (name, path) in enumerate(levels)
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
        indexes = {
            name: self._index(follow(scope.get(anchor), steps), key)
            for name, anchor, steps, key in self.lookup_lists
        }
        rows: list[tuple[Any, ...]] = []
        self._walk(0, scope, (), indexes, rows)
        columns = dict(zip(self.row_names, zip(*rows, strict=True), strict=True)) if rows else {}
        out = {name: list(columns.get(name, ())) for name in self.row_names}
        for name in self.int_flags & set(out):
            out[f"{name}_int"] = [type(v) is int for v in out[name]]
        file = {name: get(scope) for name, get in self.file_paths}
        for name in self.int_flags & set(file):
            file[f"{name}_int"] = type(file[name]) is int
        return Flat(out, file)

    def _walk(
        self,
        i: int,
        scope: dict[str, Any],
        prefix: tuple[Any, ...],
        indexes: dict[str, dict[str, Any]],
        rows: list[tuple[Any, ...]],
    ) -> None:
        level = self.levels[i]
        items = follow(scope.get(level.parent), level.steps)
        if items is None:
            return
        if not isinstance(items, list):
            where = level.name
            raise ParseError(
                f"{self.what}: rows {where!r} should be a list, not {type(items).__name__}"
            )
        last = i == len(self.levels) - 1
        name, lookups, values = level.name, level.lookups, level.values
        for item in items:
            scope[name] = item
            for lookup, match in lookups:
                scope[lookup] = indexes[lookup].get(text(match(scope)))  # type: ignore[arg-type]
            row = prefix + tuple(get(scope) for get in values)
            if last:
                rows.append(row)
            else:
                self._walk(i + 1, scope, row, indexes, rows)

    def _check(self, root: Any) -> None:
        for expression, message in self.error:
            if _truthy(expression.search(root)):
                raise ParseError(one_line(f"{self.what}: {message}"))
        for expression, message in self.outage:
            if _truthy(expression.search(root)):
                raise ProviderOutage(one_line(f"{self.what}: {message}"))

    @staticmethod
    def _index(items: Any, key: str) -> dict[str, Any]:
        if not isinstance(items, list):
            return {}
        return {text(item.get(key)): item for item in items if isinstance(item, dict)}


def _truthy(value: Any) -> bool:
    """JMESPath's truth: false, null, empty strings, lists and objects are false."""
    return value not in (None, False, "", [], {})
