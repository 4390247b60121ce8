"""What a warehouse is to lineflow: tables described one way, and partitions replaced whole.

DuckDB (local, default) keeps every table; BigQuery is the publish target in prod. Both speak
this protocol, with column types named in BigQuery's vocabulary (STRING, INT64, FLOAT64, BOOL,
DATE, TIMESTAMP, DATETIME, NUMERIC, BYTES, JSON), the widest both understand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

import polars as pl

from lineflow.core.errors import LineflowError

#: Every table lineflow publishes is partitioned on this column (the slate date).
PARTITION_COLUMN = "slate_date"


class SchemaMismatch(LineflowError):
    """The target's table differs from ours in a way that adding nullable columns cannot fix."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # BigQuery standard SQL type name
    nullable: bool = True


@dataclass(frozen=True)
class TableSpec:
    """A table's canonical shape: columns, DAY partitioning on `partition_by`, clustering."""

    name: str
    columns: tuple[Column, ...]
    partition_by: str = PARTITION_COLUMN
    cluster_by: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


class Warehouse(Protocol):
    """A place whose tables can be described, and whose partitions are replaced atomically."""

    def table_spec(self, table: str, cluster_by: tuple[str, ...] = ()) -> TableSpec | None:
        """The table's shape, or None when this warehouse has no such table."""
        ...

    def ensure_table(self, spec: TableSpec) -> list[Column]:
        """Create the table when missing, add missing nullable columns; return those added.

        Raises `SchemaMismatch` for any other difference."""
        ...

    def read_partition(self, table: str, partition: date) -> pl.DataFrame:
        """Every row of `table` whose partition column equals `partition`."""
        ...

    def replace_partition(self, spec: TableSpec, partition: date, rows: pl.DataFrame) -> int:
        """Make `rows` the whole partition of the table, all or nothing; return the row count."""
        ...


def columns_to_add(table: str, existing: list[Column], desired: list[Column]) -> list[Column]:
    """The columns to add so `existing` becomes `desired`, when that is all that differs.

    Adding nullable columns is the one change applied in place; a dropped, retyped, newly
    required or reordered-into-required column stops with a message naming table and columns.
    """
    have = {c.name: c for c in existing}
    want = {c.name: c for c in desired}
    problems: list[str] = []
    dropped = [name for name in have if name not in want]
    if dropped:
        problems.append(f"columns missing from the new schema: {', '.join(dropped)}")
    for name, column in want.items():
        old = have.get(name)
        if old is None:
            if not column.nullable:
                problems.append(f"new column {name} is REQUIRED (only NULLABLE can be added)")
        elif old.type != column.type:
            problems.append(f"column {name} changes type {old.type} -> {column.type}")
        elif old.nullable and not column.nullable:
            problems.append(f"column {name} changes mode NULLABLE -> REQUIRED")
    if problems:
        raise SchemaMismatch(f"table {table}: incompatible schema change: {'; '.join(problems)}")
    return [column for name, column in want.items() if name not in have]
