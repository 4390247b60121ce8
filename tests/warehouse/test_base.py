"""The warehouse protocol's schema rules, and the canonical shape DuckDB derives."""

from __future__ import annotations

import pytest

from lineflow.core.schema import PROP_LINES
from lineflow.warehouse import Column, DuckDBWarehouse, SchemaMismatch
from lineflow.warehouse.base import columns_to_add

OLD = [Column("slate_date", "DATE"), Column("run_id", "STRING", nullable=False)]


def test_only_new_nullable_columns_are_added():
    new = [*OLD, Column("note", "STRING")]
    assert columns_to_add("t", OLD, new) == [Column("note", "STRING")]
    assert columns_to_add("t", OLD, OLD) == []


@pytest.mark.parametrize(
    ("desired", "expected"),
    [
        ([OLD[0], Column("run_id", "INT64", False)], "column run_id changes type STRING -> INT64"),
        ([OLD[0]], "columns missing from the new schema: run_id"),
        ([*OLD, Column("n", "INT64", False)], "new column n is REQUIRED"),
        ([Column("slate_date", "DATE", False), OLD[1]], "slate_date changes mode"),
    ],
)
def test_every_other_change_stops_naming_table_and_column(desired, expected):
    with pytest.raises(SchemaMismatch, match="table run_history: incompatible") as error:
        columns_to_add("run_history", OLD, desired)
    assert expected in str(error.value)


def test_prop_lines_shape_follows_the_canonical_schema(tmp_path):
    spec = DuckDBWarehouse(tmp_path / "w.duckdb").table_spec("prop_lines", ("source",))
    assert spec is not None
    assert spec.column_names == list(PROP_LINES)
    types = {c.name: c.type for c in spec.columns}
    assert types["slate_date"] == "DATE"
    assert types["commence_time"] == types["snapshot_at"] == "TIMESTAMP"
    assert types["price_american"] == "INT64"
    assert types["line"] == "FLOAT64"
    assert types["is_main_line"] == "BOOL"
    assert (spec.partition_by, spec.cluster_by) == ("slate_date", ("source",))


def test_a_table_the_warehouse_lacks_has_no_spec(tmp_path):
    assert DuckDBWarehouse(tmp_path / "w.duckdb").table_spec("predictions") is None
