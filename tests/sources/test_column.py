"""`sources.base.column`: walked JSON values as a polars column, whatever the values are."""

from __future__ import annotations

import polars as pl
import pytest

from lineflow.sources.base import column


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([101, 202, None], ["101", "202", None]),  # ids written as JSON integers: their digits
        ([None, None, 303], [None, None, "303"]),  # the first integer after nulls counts too
        ([None, None], [None, None]),
        (["a", "b"], ["a", "b"]),
        ([None, "a", 7], [None, "a", "7"]),  # text first: value by value, the digits kept
        ([7, "a"], ["7", "a"]),  # an integer first, text later: value by value
        ([True, 7], ["true", "7"]),  # a bool is not an integer id: not 1
        ([7, True], ["7", "true"]),
        ([2**70, 5], [str(2**70), "5"]),  # past 64 bits: still its digits
        (["a", {"id": 1}, "b"], ["a", None, "b"]),  # an object where text belongs: null
        (["a", [1, 2]], ["a", None]),  # an array too
        ([{"id": 1}, 7, "c"], [None, "7", "c"]),
        ([7, [8]], ["7", None]),  # an integer first, then an array: not an id column
        (["a", 1.5], ["a", "1.5"]),
        (["a", "\ud800", {"id": 1}], ["a", None, None]),  # a lone surrogate is no text either
    ],
)
def test_text_columns_keep_what_the_provider_wrote(values, expected):
    assert column(values, pl.String(), "id").to_list() == expected
