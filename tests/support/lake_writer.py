"""A writer process for the lake tests: replaces one partition of a lake's table, and can stop
just before its commit until told to go on, so a test orders commits without sleeping.

    python -m tests.support.lake_writer CONFIG_JSON TABLE PARTITION ROWS [pause]

With `pause` it prints `ready` inside its first transaction, after its DELETE and INSERT, and
commits when a line arrives on stdin. At the end it prints how many times the write ran (a
commit that conflicted with another process's runs again). CONFIG_JSON is a `warehouse:`
section; the catalog's conninfo comes from the environment, as in production.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import duckdb
import polars as pl

from lineflow.config import WarehouseConfig
from lineflow.warehouse.base import Column, TableSpec
from lineflow.warehouse.ducklake import DuckLakeWarehouse

SPEC_COLUMNS = (Column("slate_date", "DATE"), Column("player", "STRING"), Column("line", "FLOAT64"))


def spec(table: str) -> TableSpec:
    return TableSpec(table, SPEC_COLUMNS)


def rows(partition: date, count: int, line: float) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "slate_date": [partition] * count,
            "player": [f"player_{i}" for i in range(count)],
            "line": [line] * count,
        }
    )


class PausingLake(DuckLakeWarehouse):
    """The lake warehouse, stopping before its first commit until stdin says go."""

    pause = False
    runs = 0

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with super().transaction() as con:
            yield con
            type(self).runs += 1
            if self.pause and self.runs == 1:
                print("ready", flush=True)
                sys.stdin.readline()


def main(argv: list[str]) -> int:
    config = WarehouseConfig.model_validate_json(argv[0])
    table, partition, count = argv[1], date.fromisoformat(argv[2]), int(argv[3])
    lake = PausingLake.configured(config)
    PausingLake.pause = argv[4:] == ["pause"]
    lake.replace_partition(spec(table), partition, rows(partition, count, float(count)))
    print(f"runs {PausingLake.runs}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
