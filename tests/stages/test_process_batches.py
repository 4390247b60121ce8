"""process: a partition's parsed batches, every source's, are staged in one transaction; a file
whose content an earlier batch of that transaction has is left out, as the ledger would."""

from __future__ import annotations

from types import SimpleNamespace

import polars as pl
import pytest

from lineflow.core.schema import number_rows
from lineflow.pipeline.stages import process
from lineflow.pipeline.stages.base import StageResult
from lineflow.warehouse import DuckDBWarehouse
from lineflow.warehouse.duckdb import StagedFile, landed_frame
from tests.warehouse.test_duckdb import T0, D, lines


def parsed(source: str, files: dict[str, int]) -> tuple[list, pl.DataFrame]:
    """A parsed batch of `source`: files (content id -> rows) and their numbered rows."""
    batch = [
        (0, StagedFile({"file_id": f, "slate_date": D, "source": source, "endpoint": "x"}, n))
        for f, n in files.items()
    ]
    return batch, number_rows(pl.concat([lines(f, n=n) for f, n in files.items()]))


@pytest.fixture
def ctx(tmp_path):
    with DuckDBWarehouse(tmp_path / "lineflow.duckdb") as warehouse:
        yield SimpleNamespace(warehouse=warehouse, run_id="r1", clock=lambda: T0, work=None)


def staged(ctx) -> list[tuple[str, str, int]]:
    return ctx.warehouse.query(
        "SELECT p.source, p.file_id, count(s.file_id)::INT FROM processed_files p "
        "LEFT JOIN stg_prop_lines s USING (file_id) GROUP BY ALL ORDER BY ALL"
    ).rows()


def test_every_sources_batches_are_staged_together_and_a_content_once(ctx):
    handed: list[pl.DataFrame] = []
    batches = process._Batches(ctx, handed)
    odds, props = StageResult("process:odds_api", "process"), StageResult("process:bp", "process")
    batches.add(*parsed("odds_api", {"f1": 2}), odds, [])
    # The other source has a file of the same content, and one of its own.
    batches.add(*parsed("bettingpros", {"f1": 2, "f2": 3}), props, [])
    assert staged(ctx) == [], "nothing is written before the partition's transaction"

    batches.flush()

    assert staged(ctx) == [("bettingpros", "f2", 3), ("odds_api", "f1", 2)]
    assert (odds.files, odds.rows, props.files, props.rows) == (1, 2, 1, 3)
    assert [frame.height for frame in handed] == [5]  # the rows validate judges
    batches.flush()  # nothing waits: nothing written again
    assert staged(ctx) == [("bettingpros", "f2", 3), ("odds_api", "f1", 2)]


def test_a_content_the_ledger_has_is_not_staged_again(ctx):
    first = process._Batches(ctx, None)
    first.add(*parsed("odds_api", {"f1": 2}), StageResult("process:odds_api", "process"), [])
    first.flush()
    again = StageResult("process:odds_api", "process")
    later = process._Batches(ctx, None)
    # With manifest rows (dropped files: none here), the ledger is asked for the contents.
    later.add(*parsed("odds_api", {"f1": 2, "f3": 1}), again, [], landed_frame([]))
    later.flush()
    assert staged(ctx) == [("odds_api", "f1", 2), ("odds_api", "f3", 1)]
    assert (again.files, again.rows) == (1, 1)


def test_batches_are_written_once_batch_files_wait(ctx, monkeypatch):
    monkeypatch.setattr(process, "BATCH_FILES", 2)
    batches = process._Batches(ctx, None)
    result = StageResult("process:odds_api", "process")
    batches.add(*parsed("odds_api", {"f1": 1}), result, [])
    assert staged(ctx) == []
    batches.add(*parsed("odds_api", {"f2": 1}), result, [])
    assert staged(ctx) == [("odds_api", "f1", 1), ("odds_api", "f2", 1)]
    assert result.files == 2
