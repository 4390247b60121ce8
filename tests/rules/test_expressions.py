"""SQL conditions from rule files: one answer per row, in the frame's order."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lineflow.rules.expressions import check_sql, polars_condition, sql_holds

#: Rows in pieces (as a concatenation leaves them), which DuckDB scans on several threads: with
#: insertion order not kept, the answers came back shuffled.
ROWS, PIECES = 600_000, 12


@pytest.fixture(scope="module")
def lines() -> pl.DataFrame:
    n = pl.int_range(ROWS, eager=True)
    whole = pl.DataFrame(
        {
            "line": (n % 997).cast(pl.Float64) / 10,
            "market": pl.Series(["player_points", "player_assists", None])[n % 3],
            "implied_prob": (n % 13).cast(pl.Float64) / 10,
            "note": pl.Series(["x"] * ROWS),
        }
    )
    size = ROWS // PIECES
    pieces = [whole.slice(k, size) for k in range(0, ROWS, size)]
    return pl.concat(pieces, rechunk=False)


def test_each_row_gets_its_own_answer_in_order(lines: pl.DataFrame) -> None:
    assert lines.n_chunks() == PIECES
    holds = sql_holds(lines, "line > 50 AND market = 'player_points'")
    expected = (pl.col("line") > 50) & (pl.col("market") == "player_points")
    assert holds.to_list() == lines.select(expected.fill_null(False))["line"].to_list()


def test_null_counts_as_not_holding(lines: pl.DataFrame) -> None:
    holds = sql_holds(lines, "market <> 'player_points'")
    assert holds.sum() == ROWS // 3  # the assists rows; the NULL markets do not hold
    assert not holds.gather(pl.int_range(2, ROWS, 3, eager=True)).any()


def test_column_names_are_case_insensitive_as_in_sql(lines: pl.DataFrame) -> None:
    assert sql_holds(lines, "IMPLIED_PROB < 1").to_list() == (lines["implied_prob"] < 1).to_list()


def test_a_condition_naming_no_column_answers_every_row(lines: pl.DataFrame) -> None:
    holds = sql_holds(lines, "1 = 1")
    assert holds.len() == ROWS and holds.all()


def test_columns_named_by_pattern_are_found(lines: pl.DataFrame) -> None:
    holds = sql_holds(lines, "COLUMNS('implied_.*') >= 1.2")
    assert holds.to_list() == (lines["implied_prob"] >= 1.2).to_list()


def test_a_name_inside_a_literal_is_harmless(lines: pl.DataFrame) -> None:
    holds = sql_holds(lines, "note = 'line'")
    assert holds.len() == ROWS and not holds.any()


def test_a_misspelt_column_is_reported_in_one_line() -> None:
    problem = check_sql("implied_porb > 0", {"implied_prob": pl.Float64}, "rule r")
    assert problem is not None and "implied_porb" in problem and "\n" not in problem


# -- conditions answered by polars (`polars_condition`) -------------------------------------------

FLOATS = [None, float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 0.1, 0.5, 1.0, 1.5, -1.0]
FLOATS += [1e300, 5e-324, 2.0**53, 0.30000000000000004, 1 / 3, 20.0, 99.5]
INTS = [None, 0, 1, -1, 100, -110, 2**31 - 1, -(2**31), 7]
TEXTS = [None, "", "a", "A", "player_points", "é", "a ", "under", "over"]


@pytest.fixture(scope="module")
def edges() -> pl.DataFrame:
    """Every edge value of each type, in rows that pair them up differently column by column."""
    n = 97  # prime: the columns' cycles line up differently in every row
    return pl.DataFrame(
        {
            "f": [FLOATS[k % len(FLOATS)] for k in range(n)],
            "g": [FLOATS[(k * 5 + 3) % len(FLOATS)] for k in range(n)],
            "i": pl.Series([INTS[k % len(INTS)] for k in range(n)], dtype=pl.Int32),
            "j": pl.Series([INTS[(k * 7) % len(INTS)] for k in range(n)], dtype=pl.Int64),
            "s": [TEXTS[k % len(TEXTS)] for k in range(n)],
            "t": [TEXTS[(k * 4 + 1) % len(TEXTS)] for k in range(n)],
            "b": [[True, False, None][k % 3] for k in range(n)],
            "c": [[True, None, False, True][k % 4] for k in range(n)],
        }
    )


NUMBER_COLUMNS, TEXT_COLUMNS, BOOL_COLUMNS = ["f", "g", "i", "j"], ["s", "t"], ["b", "c"]
COMPARE = ["=", "<>", "!=", "<", "<=", ">", ">="]


def _cased(draw: st.DrawFn, word: str) -> str:
    return draw(st.sampled_from([word, word.upper(), word.capitalize()]))


@st.composite
def _number(draw: st.DrawFn, column: str) -> str:
    """A literal to compare a number column with: integers, and decimals for a float column."""
    integers = st.sampled_from(["0", "1", "-1", "100", "-110", "7", "2147483647", "3000000000"])
    if column in ("f", "g"):
        decimals = st.sampled_from(["0.1", "0.5", "1.0", "-0.0", "1.5", "99.5", "0.3333333333"])
        return draw(st.one_of(integers, decimals, st.integers(-(2**52), 2**52).map(str)))
    return draw(integers)


@st.composite
def _atom(draw: st.DrawFn) -> str:
    shape = draw(st.sampled_from(["num", "num_rev", "num_cols", "text", "texts", "bool"]))
    if shape in ("num", "num_rev"):
        column = draw(st.sampled_from(NUMBER_COLUMNS))
        left, right = _cased(draw, column), draw(_number(column))
        if shape == "num_rev":
            left, right = right, left
        return f"{left} {draw(st.sampled_from(COMPARE))} {right}"
    if shape == "num_cols":
        a, b = draw(st.lists(st.sampled_from(NUMBER_COLUMNS), min_size=2, max_size=2))
        return f"{a} {draw(st.sampled_from(COMPARE))} {b}"
    if shape in ("text", "texts"):
        column = draw(st.sampled_from(TEXT_COLUMNS))
        op = draw(st.sampled_from(["=", "<>", "!="]))
        literal = "'" + draw(st.sampled_from([t for t in TEXTS if t is not None])) + "'"
        if shape == "texts":
            kind = _cased(draw, draw(st.sampled_from(["in", "not in"])))
            items = draw(st.lists(st.sampled_from(["'a'", "'over'", "''", "'é'"]), min_size=1))
            return f"{column} {kind} ({', '.join(items)})"
        return f"{column} {op} {literal}" if draw(st.booleans()) else f"{literal} {op} {column}"
    column = draw(st.sampled_from([*BOOL_COLUMNS, *NUMBER_COLUMNS, *TEXT_COLUMNS]))
    if column in BOOL_COLUMNS and draw(st.booleans()):
        value = draw(st.sampled_from(["", " = TRUE", " <> false", " = c"]))
        return f"{column}{value}"
    return f"{column} {_cased(draw, draw(st.sampled_from(['is null', 'is not null'])))}"


def _condition(depth: int = 2) -> st.SearchStrategy[str]:
    if depth == 0:
        return _atom()
    inner = _condition(depth - 1)
    return st.one_of(
        _atom(),
        st.tuples(inner, st.sampled_from(["AND", "or", "And"]), inner).map(" ".join),
        inner.map(lambda c: f"NOT ({c})"),
        inner.map(lambda c: f"not {c}"),
        inner.map(lambda c: f"({c})"),
    )


@settings(max_examples=400, deadline=None)
@given(condition=_condition())
def test_polars_answers_a_condition_as_duckdb_does(edges: pl.DataFrame, condition: str) -> None:
    expr = polars_condition(condition, edges.schema)
    assert expr is not None, f"{condition!r} is of the forms polars answers"
    mine = edges.select(expr.alias("holds"))["holds"]
    assert mine.dtype == pl.Boolean and mine.null_count() == 0
    assert mine.to_list() == sql_holds(edges, condition).to_list(), condition


@pytest.mark.parametrize(
    "condition",
    [
        "1 = 1",  # no column: DuckDB answers it
        "f > 0.30000000000000004",  # 17 digits: DuckDB's decimal might round otherwise
        "i > 0.5",  # a decimal against integers: DuckDB compares decimals
        "s < 'b'",  # strings only by equality
        "s = 1",  # a string against a number: DuckDB casts
        "f",  # a number is no condition
        "f + 1 > 2",
        "f > 1e3",
        "upper(s) = 'A'",
        "s = 'it''s'",
        "s LIKE 'a%'",
        "f BETWEEN 0 AND 1",
        "f IS TRUE",
        "COLUMNS('f') > 0",
        "missing > 0",
        "f > 9007199254740992",  # 2**53: not exact as a double
        "d = d",
        "u > -1",
        "x32 > 0.5",
        "f > 0 -- a comment",
        '"f" > 0',
        "",
    ],
)
def test_other_conditions_are_left_to_duckdb(edges: pl.DataFrame, condition: str) -> None:
    schema = pl.Schema({**edges.schema, "d": pl.Date(), "u": pl.UInt32(), "x32": pl.Float32()})
    assert polars_condition(condition, schema) is None, condition
