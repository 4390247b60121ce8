"""Expressions written in rule files: DuckDB SQL conditions and polars expressions.

Both are evaluated over a whole frame at once. SQL runs in a private in-memory DuckDB over the
frame (never against the warehouse); polars expressions are Python text evaluated with nothing
but `pl` in scope (rule files are configuration, trusted like code).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import duckdb
import polars as pl

from lineflow.core.frames import arrow_stream
from lineflow.core.schema import SQL_TYPES

_db: duckdb.DuckDBPyConnection | None = None


def _private_db() -> duckdb.DuckDBPyConnection:
    """One in-memory database for every rule of the process; each call gets its own cursor
    (a connection to it), which is thread-safe and cheap, unlike a new database per rule."""
    global _db
    if _db is None:
        _db = duckdb.connect(":memory:")
        _db.execute("SET TimeZone = 'UTC'")
    return _db


def sql_holds(frame: pl.DataFrame, condition: str) -> pl.Series:
    """Per row, whether the SQL condition is true (false or NULL count as not holding).

    Only the columns the condition names are handed to DuckDB (a third of the time for a
    partition's 35k rows and 20 columns), and the answer comes back in the frame's row order
    (DuckDB keeps insertion order unless told otherwise). Frames go both ways as Arrow C
    streams, without pyarrow (`lineflow.core.frames`): a condition is a row's expression, so
    `t` is scanned once (`check_sql` refuses a query of a table `t`)."""
    sql = f"SELECT coalesce(({condition}), false) AS holds FROM t"
    con = _private_db().cursor()
    try:
        con.register("t", arrow_stream(frame.select(_named_columns(frame, condition))))
        try:
            holds = pl.DataFrame(con.sql(sql))
        except duckdb.BinderException:  # names a column some other way, e.g. COLUMNS('re')
            con.unregister("t")
            con.register("t", arrow_stream(frame))
            holds = pl.DataFrame(con.sql(sql))
    finally:
        con.close()
    return holds.get_column("holds").alias("holds")


#: Conditions whose columns are not all named in their text (`COLUMNS('re')`, `*`): each is
#: answered alone over its own columns (`sql_holds`), never beside other conditions' columns.
_UNNAMED = re.compile(r"\*|\bcolumns\s*\(", re.IGNORECASE)


def sql_holds_each(frame: pl.DataFrame, conditions: Sequence[str]) -> dict[str, pl.Series]:
    """`sql_holds` of each condition, all of them in one query (one column each), by condition.

    A query costs 1.5-2 ms over a partition's rows however few its columns; five conditions
    a partition cost five. Each condition is a row's expression over the columns it names, so
    a column of the one query says what the condition's own query would. An error in any
    condition fails the whole query; the caller answers them alone to find whose it is."""
    distinct = list(dict.fromkeys(conditions))
    together = [c for c in distinct if _UNNAMED.search(c) is None]
    answers = {c: sql_holds(frame, c) for c in distinct if c not in together}
    if not together:
        return answers
    named = {column for c in together for column in _named_columns(frame, c)}
    items = ", ".join(f"coalesce(({c}), false) AS c{i}" for i, c in enumerate(together))
    con = _private_db().cursor()
    try:
        con.register("t", arrow_stream(frame.select([c for c in frame.columns if c in named])))
        holds = pl.DataFrame(con.sql(f"SELECT {items} FROM t"))
    finally:
        con.close()
    answers.update({c: holds.get_column(f"c{i}").alias("holds") for i, c in enumerate(together)})
    return answers


def _named_columns(frame: pl.DataFrame, condition: str) -> list[str]:
    """The frame's columns the condition's text names (identifiers are case-insensitive; a
    name that only appears in a string literal costs a column, nothing more). At least one
    column, so that the rows are all there for a condition that names none."""
    named = [
        column
        for column in frame.columns
        if re.search(rf"(?<![\w$]){re.escape(column)}(?![\w$])", condition, re.IGNORECASE)
    ]
    return named or frame.columns[:1]


def polars_expr(text: str) -> pl.Expr:
    """The polars expression a rule file wrote, e.g. `pl.col("price_decimal") > 1`."""
    value = eval(text, {"__builtins__": {}, "pl": pl})  # noqa: S307 - trusted configuration
    if not isinstance(value, pl.Expr):
        raise TypeError(f"not a polars expression: {text!r}")
    return value


def checked_by() -> str:
    """What `check_sql`'s and `check_polars`' verdicts depend on besides the expression and the
    table's columns: the engines that run them (a composition's cache records it)."""
    return f"duckdb {duckdb.__version__}, polars {pl.__version__}"


def check_sql(condition: str, schema: dict[str, Any], what: str) -> str | None:
    """None when the condition runs on an empty table of `schema`; else the problem, one line.

    The empty table is written in SQL, not handed over as a frame: handing a frame to DuckDB
    loads pyarrow, a third of a second of every command that composes the configuration."""
    empty = ", ".join(f'NULL::{SQL_TYPES[dtype]} AS "{name}"' for name, dtype in schema.items())
    sql = f"SELECT coalesce(({condition}), false) AS holds FROM (SELECT {empty}) t WHERE false"
    con = _private_db().cursor()
    try:
        con.execute(sql).fetchall()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        return f"{what}: bad SQL {condition!r}: {first}"
    finally:
        con.close()
    return None


def check_polars(text: str, schema: dict[str, Any]) -> str | None:
    """None when the expression evaluates to booleans on an empty frame of `schema`."""
    try:
        expr = polars_expr(text)
        out = pl.DataFrame(schema=schema).select(expr.alias("ok"))
    except Exception as exc:  # any failure here is a mistake in the rule file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"polars: bad expression {text!r}: {first}"
    if out.schema["ok"] != pl.Boolean:
        return f"polars: {text!r} gives {out.schema['ok']}, not booleans"
    return None
