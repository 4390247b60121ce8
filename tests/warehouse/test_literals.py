"""Parameters written into a statement as literals read as the bound parameters would."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import pytest

from lineflow.warehouse.duckdb.connection import frame
from lineflow.warehouse.duckdb.literals import inline, literal

VALUES = [
    None,
    True,
    False,
    0,
    -5,
    2**62,
    1.5,
    0.1,
    -0.0,
    1e-300,
    float("inf"),
    float("nan"),
    "",
    "it's",
    "a\x00b\x00",
    "é 😀 \\n '' -- /* ?",
    date(2026, 1, 23),
    datetime(2026, 1, 23, 3, 4, 5, 678901, tzinfo=UTC),
    datetime(2026, 1, 23, 3, 4, 5, tzinfo=ZoneInfo("America/New_York")),
    datetime(2026, 1, 23, 3, 4, 5, 6),
]


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    yield con
    con.close()


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_literal_reads_as_the_bound_value(con, value):
    written = con.execute(f"SELECT {literal(value)}, typeof({literal(value)})").fetchone()
    bound = con.execute("SELECT ?, typeof(?)", [value, value]).fetchone()
    if value is None:
        assert written[0] is None and bound[0] is None
    elif isinstance(value, float) and math.isnan(value):
        assert math.isnan(written[0]) and written[1] == bound[1]
    else:
        assert written == bound


def test_values_without_a_literal_are_refused():
    for value in ([1, 2], b"x", {"a": 1}):
        with pytest.raises(TypeError):
            literal(value)


@pytest.fixture
def table(con):
    con.execute(
        "CREATE TABLE t AS SELECT * FROM (VALUES (DATE '2026-01-23', 'a?b', 1, 0.5), "
        "(DATE '2026-01-24', 'it''s', 2, 1.5), (DATE '2026-01-23', '$1', 3, NULL)) "
        'v(d, "we?ird", n, x)'
    )
    return con


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELECT * FROM t WHERE d = ?", [date(2026, 1, 23)]),
        ("SELECT * FROM t WHERE d = $1 OR n = $2 OR d + 1 = $1", [date(2026, 1, 23), 2]),
        ("SELECT \"we?ird\", '?' AS q FROM t WHERE n > ? -- a ? here\n", [1]),
        ('SELECT * FROM t /* ? and $1 */ WHERE "we?ird" = ? AND n < ?', ["it's", 5]),
        ('SELECT * FROM t WHERE "we?ird" = ?', ["$1"]),
        ("SELECT ? AS s, ? AS x, ? AS t", ["a\x00b", 2.5, datetime(2026, 1, 23, tzinfo=UTC)]),
        ("SELECT * FROM t WHERE x IS NOT DISTINCT FROM ?", [None]),
    ],
)
def test_a_query_reads_the_same_with_its_parameters_written_in(table, sql, params):
    assert inline(sql, params) is not None
    bound = pl.DataFrame(table.sql(sql, params=params))
    written = frame(table, sql, params)
    assert written.schema == bound.schema
    assert written.to_dicts() == bound.to_dicts()


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELECT * FROM t WHERE d = $day", {"day": date(2026, 1, 23)}),  # named
        ("SELECT $$a?b$$, ?", [1]),  # a dollar-quoted string
        ("SELECT E'it\\'s ?', ?", [1]),  # an escape string
        ("SELECT ?, $1", [1]),  # both styles
        ("SELECT ?", [1, 2]),  # a value without a place
        ("SELECT ?, ?", [1]),  # a place without a value
        ("SELECT $2", [1]),
        ("SELECT list_contains(?, 1)", [[1, 2]]),  # no literal for a list
    ],
)
def test_parameters_it_cannot_place_for_sure_are_left_to_binding(sql, params):
    assert inline(sql, list(params) if isinstance(params, list) else params) is None


def test_a_mismatch_is_still_duckdbs_error(table):
    with pytest.raises(duckdb.InvalidInputException):
        frame(table, "SELECT * FROM t WHERE n = ?", [1, 2])
    assert frame(table, "SELECT count(*) AS n FROM t WHERE n IN (SELECT unnest(?))", [[1, 2]])[
        "n"
    ].to_list() == [2]
