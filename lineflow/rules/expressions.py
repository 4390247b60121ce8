"""Expressions written in rule files: DuckDB SQL conditions and polars expressions.

Both are evaluated over a whole frame at once. SQL runs in a private in-memory DuckDB over the
frame (never against the warehouse); polars expressions are Python text evaluated with nothing
but `pl` in scope (rule files are configuration, trusted like code).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from lineflow.core.errors import LineflowError
from lineflow.core.frames import arrow_stream
from lineflow.core.schema import SQL_TYPES

if TYPE_CHECKING:  # loaded where SQL runs: importing the config (a parse worker does) needs none
    import duckdb

_db: duckdb.DuckDBPyConnection | None = None


def _private_db() -> duckdb.DuckDBPyConnection:
    """One in-memory database for every rule of the process; each call gets its own cursor
    (a connection to it), which is thread-safe and cheap, unlike a new database per rule."""
    import duckdb

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
    import duckdb

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


def sql_holds_each(frame: pl.DataFrame, conditions: Sequence[str]) -> dict[str, pl.Expr]:
    """Per condition, an expression saying for each row of `frame` what `sql_holds` says.

    polars answers the conditions it answers exactly as DuckDB does (`polars_condition`: simple
    comparisons, 1.5 ms less a partition); DuckDB the others, all of them in one query (one
    column each; a query costs 1.5-2 ms over a partition's rows however few its columns, five
    conditions a partition cost five). Each condition is a row's expression over the columns it
    names, so a column of the one query says what the condition's own query would. An error in
    any condition fails the whole query; the caller answers them alone to find whose it is."""
    distinct = list(dict.fromkeys(conditions))
    answers = {c: e for c in distinct if (e := polars_condition(c, frame.schema)) is not None}
    asked = [c for c in distinct if c not in answers]
    together = [c for c in asked if _UNNAMED.search(c) is None]
    answers.update({c: pl.lit(sql_holds(frame, c)) for c in asked if c not in together})
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
    answers.update({c: pl.lit(holds.get_column(f"c{i}")) for i, c in enumerate(together)})
    return answers


#: The tokens of a condition `polars_condition` can answer: numbers (an optional minus, no
#: exponent), strings without quotes inside, bare names, comparisons, parentheses and commas.
_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)(?![\w.])|'(?P<str>[^']*)'|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<op><=|>=|<>|!=|=|<|>|\(|\)|,))"
)
_COMPARE = {"=", "<>", "!=", "<", "<=", ">", ">="}
_KEYWORDS = {"and", "or", "not", "is", "null", "in", "true", "false"}
#: Integers compared as doubles are exact below 2**53; so are decimals of up to 15 digits.
_EXACT = 2**53
#: Integer columns compared as polars and DuckDB both would (unsigned ones and 128-bit ones
#: not: their common type with a signed literal differs), and floats of double precision.
_SIGNED = (pl.Int8, pl.Int16, pl.Int32, pl.Int64)


class _Untranslatable(LineflowError):
    """The condition is not one `polars_condition` answers exactly as DuckDB does (raised and
    caught inside it: the condition goes to DuckDB then)."""


def polars_condition(condition: str, schema: pl.Schema) -> pl.Expr | None:
    """The polars expression that answers a SQL condition, row by row, exactly as
    `coalesce((condition), false)` does in DuckDB; None when the condition is not one of the
    few forms that are sure to: comparisons (numbers with numbers, strings and booleans by
    equality only), IN lists, IS [NOT] NULL, AND, OR, NOT, parentheses, over the frame's
    columns, each comparison naming one. DuckDB answering a query costs ~1.5 ms a partition
    of 33k rows, polars the expression ~0.1 ms (tests/rules/test_expressions.py compares the
    two on generated conditions and rows)."""
    tokens = _tokens(condition)
    if tokens is None:
        return None
    columns: dict[str, list[str]] = {}
    for name in schema:
        columns.setdefault(name.lower(), []).append(name)
    try:
        parser = _Parser(tokens, schema, columns)
        kind, expr = parser.expression()
        if parser.pos != len(tokens):
            return None
        expr = _boolean(kind, expr)
    except _Untranslatable:
        return None
    return expr.fill_null(False)


def _tokens(condition: str) -> list[tuple[str, str]] | None:
    tokens, pos, end = [], 0, len(condition.rstrip())
    while pos < end:
        found = _TOKEN.match(condition, pos)
        if found is None or found.end() == pos:
            return None
        kind = found.lastgroup or ""
        tokens.append((kind, found.group(kind)))
        pos = found.end()
    return tokens


class _Parser:
    """Recursive descent over `_tokens`, SQL's precedence: OR < AND < NOT < comparison. Each
    step gives (kind, expression): kind is bool, num, str, int (an integer literal), dec (a
    decimal literal) or col:<kind> for a column."""

    def __init__(
        self, tokens: list[tuple[str, str]], schema: pl.Schema, columns: dict[str, list[str]]
    ) -> None:
        self.tokens, self.schema, self.columns, self.pos = tokens, schema, columns, 0

    def peek(self, *words: str) -> bool:
        if self.pos >= len(self.tokens):
            return False
        kind, text = self.tokens[self.pos]
        return kind in ("op", "name") and text.lower() in words

    def take(self, *words: str) -> str:
        if not self.peek(*words):
            raise _Untranslatable
        self.pos += 1
        return self.tokens[self.pos - 1][1].lower()

    def expression(self) -> tuple[str, pl.Expr]:
        kind, expr = self.conjunction()
        while self.peek("or"):
            self.take("or")
            expr = _boolean(kind, expr) | _boolean(*self.conjunction())
            kind = "bool"
        return kind, expr

    def conjunction(self) -> tuple[str, pl.Expr]:
        kind, expr = self.negation()
        while self.peek("and"):
            self.take("and")
            expr = _boolean(kind, expr) & _boolean(*self.negation())
            kind = "bool"
        return kind, expr

    def negation(self) -> tuple[str, pl.Expr]:
        if self.peek("not"):
            self.take("not")
            return "bool", ~_boolean(*self.negation())
        return self.comparison()

    def comparison(self) -> tuple[str, pl.Expr]:
        left = self.operand()
        if self.peek(*_COMPARE):
            op = self.take(*_COMPARE)
            return "bool", _compare(op, left, self.operand())
        if self.peek("is"):
            self.take("is")
            negated = self.peek("not") and bool(self.take("not"))
            self.take("null")
            if not left[0].startswith("col:"):
                raise _Untranslatable
            return "bool", left[1].is_not_null() if negated else left[1].is_null()
        if self.peek("not", "in"):
            negated = self.peek("not") and bool(self.take("not"))
            self.take("in")
            self.take("(")
            items = [_compare("=", left, self.operand())]
            while self.peek(","):
                self.take(",")
                items.append(_compare("=", left, self.operand()))
            self.take(")")
            anyone = items[0]
            for item in items[1:]:
                anyone = anyone | item  # x IN (a, b) is x = a OR x = b, NULLs and all
            return "bool", ~anyone if negated else anyone
        return left

    def operand(self) -> tuple[str, pl.Expr]:
        if self.pos >= len(self.tokens):
            raise _Untranslatable
        kind, text = self.tokens[self.pos]
        self.pos += 1
        if kind == "op" and text == "(":
            inner = self.expression()
            self.take(")")
            return inner
        if kind == "num":
            return _number(text)
        if kind == "str":
            return "str", pl.lit(text, dtype=pl.String)
        if kind == "name" and text.lower() in ("true", "false"):
            return "bool", pl.lit(text.lower() == "true")
        if kind == "name" and text.lower() not in _KEYWORDS:
            named = self.columns.get(text.lower(), [])
            if len(named) != 1:
                raise _Untranslatable  # unknown (DuckDB says so) or ambiguous
            dtype = self.schema[named[0]]
            if dtype == pl.Boolean:
                return "col:bool", pl.col(named[0])
            if dtype == pl.String:
                return "col:str", pl.col(named[0])
            if dtype == pl.Float64:
                return "col:float", pl.col(named[0])
            if dtype in _SIGNED:
                return "col:int", pl.col(named[0])
        raise _Untranslatable  # another type: DuckDB's casts might answer differently


def _number(text: str) -> tuple[str, pl.Expr]:
    if "." not in text:
        value = int(text)
        if abs(value) >= _EXACT:
            raise _Untranslatable
        return "int", pl.lit(value)
    if len(text.lstrip("-").replace(".", "")) > 15:
        raise _Untranslatable  # DuckDB's decimal, cast to a double, might round otherwise
    return "dec", pl.lit(float(text))


def _boolean(kind: str, expr: pl.Expr) -> pl.Expr:
    if kind not in ("bool", "col:bool"):
        raise _Untranslatable  # DuckDB would cast it, or refuse
    return expr


def _compare(op: str, left: tuple[str, pl.Expr], right: tuple[str, pl.Expr]) -> pl.Expr:
    """One comparison, where polars and DuckDB agree: numbers with numbers (a decimal literal
    only against a float column, which DuckDB compares as doubles), strings and booleans by
    equality; one side at least a column."""
    (lk, le), (rk, re_) = left, right
    if not (lk.startswith("col:") or rk.startswith("col:")):
        raise _Untranslatable
    kinds = {lk.removeprefix("col:"), rk.removeprefix("col:")}
    numeric = kinds <= {"int", "float", "dec"} and ("dec" not in kinds or "float" in kinds)
    equal_only = len(kinds) == 1 and kinds <= {"str", "bool"} and op in ("=", "<>", "!=")
    if not (numeric or equal_only):
        raise _Untranslatable
    if op == "=":
        return le == re_
    if op in ("<>", "!="):
        return le != re_
    return {"<": le < re_, "<=": le <= re_, ">": le > re_, ">=": le >= re_}[op]


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
    import duckdb

    return f"duckdb {duckdb.__version__}, polars {pl.__version__}"


def check_sql(condition: str, schema: dict[str, Any], what: str) -> str | None:
    """None when the condition runs on an empty table of `schema`; else the problem, one line.

    The empty table is written in SQL, not handed over as a frame: handing a frame to DuckDB
    loads pyarrow, a third of a second of every command that composes the configuration."""
    empty = ", ".join(f'NULL::{SQL_TYPES[dtype]} AS "{name}"' for name, dtype in schema.items())
    import duckdb

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
