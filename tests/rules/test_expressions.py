"""SQL conditions from rule files: one answer per row, in the frame's order."""

from __future__ import annotations

import polars as pl
import pytest

from lineflow.rules.expressions import check_sql, sql_holds

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
