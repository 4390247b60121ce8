"""Values written into a statement's text as DuckDB SQL literals, instead of bound parameters.

Binding costs more than it should in DuckDB's Python client: it looks for pandas twice for
every parameter (pandas is not installed, so each look is a failed search of `sys.path`, about
0.1 ms a parameter), and `con.sql` with parameters runs the query at once into a materialised
relation, whose rows reach polars at about 10 us a row (a partition's 32k staged rows: 300 ms
with the date bound, 24 ms with it written in; docs/benchmarks.md). A literal has the type the
bound value would have (`literal`), and `inline` writes a statement's parameters into it where
it can tell their places for sure; elsewhere the caller binds them as before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime

#: What a statement's text may hold around its parameters: quoted strings and names (a `?` in
#: them is no parameter), comments, positional parameters (`?`, `$1`) and other uses of `$`
#: (a named parameter, a dollar-quoted string), which `inline` leaves to binding.
_TOKENS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|\?|\$\d+|\$""", re.S)
#: An escape string (`E'\n'`), whose quotes `_TOKENS` cannot tell.
_ESCAPE_STRING = re.compile(r"(?<![\w$])[eE]'")


def literal(value: object) -> str:
    """`value` as a DuckDB literal of the type a bound parameter of it has. Strings are quoted
    the SQL way (DuckDB reads no escapes in them); a NUL, which ends a statement's text, is
    written as `chr(0)`. Other types (lists, bytes, decimals) raise `TypeError`."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"'{value!r}'::DOUBLE"  # read as text: a decimal literal would round twice
    if isinstance(value, datetime):  # before date: a datetime is a date
        kind = "TIMESTAMP" if value.tzinfo is None else "TIMESTAMPTZ"
        return f"{kind} '{value.isoformat()}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        parts = ["'" + part.replace("'", "''") + "'" for part in value.split("\0")]
        return parts[0] if len(parts) == 1 else f"({' || chr(0) || '.join(parts)})"
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def inline(sql: str, params: Sequence[object]) -> str | None:
    """`sql` with its positional parameters (`?`, or `$1`, `$2`, ...) written in as literals;
    None where that cannot be done for sure (a named parameter or another `$`, an escape
    string, a value without a literal, parameters that do not match the places): bind them
    then, and DuckDB says what does not match."""
    try:
        values = [literal(value) for value in params]
    except TypeError:
        return None
    if _ESCAPE_STRING.search(sql):
        return None
    out: list[str] = []
    places: list[int] = []
    kinds: set[str] = set()
    start = 0
    for token in _TOKENS.finditer(sql):
        text = token.group()
        if text == "?":
            place, kind = len(places), "?"
        elif text.startswith("$") and len(text) > 1:
            place, kind = int(text[1:]) - 1, "$"
        elif text == "$":
            return None
        else:
            continue  # a string, a name or a comment: as it is
        if not 0 <= place < len(values):
            return None
        kinds.add(kind)
        places.append(place)
        out += [sql[start : token.start()], values[place]]
        start = token.end()
    if len(kinds) > 1 or set(places) != set(range(len(values))):
        return None  # mixed styles, or a value without a place: binding raises DuckDB's error
    return "".join([*out, sql[start:]])
