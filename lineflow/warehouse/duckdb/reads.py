"""The warehouse protocol (`lineflow.warehouse.base.Warehouse`) over DuckDB: table specs,
partition reads and replacements of publish targets, and ad-hoc queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import polars as pl

from lineflow.core.errors import LineflowError
from lineflow.warehouse.base import PARTITION_COLUMN, Column, TableSpec, columns_to_add
from lineflow.warehouse.duckdb import schema
from lineflow.warehouse.duckdb.connection import SharedConnection, frame, in_session, writes


class Tables(SharedConnection):
    """Tables read and written by name, as the publish stage and reports use them."""

    @in_session
    def table_spec(self, table: str, cluster_by: tuple[str, ...] = ()) -> TableSpec | None:
        rows = self.con.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        if not rows:
            return None
        columns = tuple(
            Column(name, schema.protocol_type(table, name, kind), nullable == "YES")
            for name, kind, nullable in rows
        )
        return TableSpec(table, columns, PARTITION_COLUMN, cluster_by)

    @writes
    def ensure_table(self, spec: TableSpec) -> list[Column]:
        existing = self.table_spec(spec.name)
        if existing is None:
            self.con.execute(schema.create_table_sql(spec))
            return []
        added = columns_to_add(spec.name, list(existing.columns), list(spec.columns))
        for column in added:
            self.con.execute(schema.add_column_sql(spec.name, column))
        return added

    @in_session
    def read_partition(self, table: str, partition: date) -> pl.DataFrame:
        spec = self.table_spec(table)
        if spec is None:
            raise LineflowError(f"table {table}: not in the warehouse {self.where}")
        if spec.partition_by not in spec.column_names:
            raise LineflowError(f"table {table}: has no {spec.partition_by} column to partition by")
        types = dict(
            self.con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'main' AND table_name = ?",
                [table],
            ).fetchall()
        )
        select = ", ".join(
            f"CAST(to_json({c}) AS VARCHAR) AS {c}" if types[c].endswith("[]") else c
            for c in spec.column_names
        )
        return frame(
            self.con, f"SELECT {select} FROM {table} WHERE {spec.partition_by} = ?", [partition]
        )

    @writes
    def replace_partition(self, spec: TableSpec, partition: date, rows: pl.DataFrame) -> int:
        columns = ", ".join(spec.column_names)
        with self.transaction() as con:
            con.execute(f"DELETE FROM {spec.name} WHERE {spec.partition_by} = ?", [partition])
            if rows.height:
                con.register("_partition_rows", rows.select(spec.column_names))
                try:
                    con.execute(
                        f"INSERT INTO {spec.name} ({columns}) SELECT {columns} FROM _partition_rows"
                    )
                finally:
                    con.unregister("_partition_rows")
        return rows.height

    @in_session
    def query(self, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
        return frame(self.con, sql, params)

    def read(self, sql: str, params: Sequence[Any] = (), at: str | None = None) -> pl.DataFrame:
        """An ad-hoc query for readers outside the pipeline (`lineflow query`, a notebook): a
        read-only connection taken in turn (`reading()`), so a run waits at most as long as
        the query takes, and nothing the query says can write. `at` (a snapshot id or an ISO
        time): the tables as they were then, which only a lake keeps."""
        if at is not None:
            raise LineflowError(
                f"at={at}: a DuckDB warehouse keeps no snapshots (time travel needs "
                "warehouse.kind=ducklake)"
            )
        with self.reading() as con:
            return frame(con, sql, params)
