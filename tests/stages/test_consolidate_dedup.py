"""The consolidate stage on a real DuckDB warehouse: dedup on the natural key (newest wins),
quarantined rows left out, and a rerun that changes nothing rewrites nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import lineflow.warehouse.duckdb.staging as staging
from lineflow.pipeline import figures
from lineflow.pipeline.stages import consolidate
from lineflow.pipeline.stages.base import Handover
from lineflow.warehouse import DuckDBWarehouse
from tests.warehouse.test_duckdb import T0, D, lines, stage


def minute(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


@dataclass
class Rules:
    version: str = "rules-1"

    def rules_version(self) -> str:
        return self.version


@dataclass
class Context:
    """What the stage reads of a run: its partition, warehouse, settings, id, clock and what
    an earlier stage handed over (nothing here: no validate ran before it)."""

    warehouse: DuckDBWarehouse
    settings: Rules
    run_id: str = "run-1"
    partition: object = D
    handover: Handover = field(default_factory=Handover)

    ticks: int = 0

    def clock(self) -> datetime:
        """A minute later at every reading."""
        self.ticks += 1
        return minute(self.ticks)


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    with DuckDBWarehouse(tmp_path / "lineflow.duckdb") as warehouse:
        yield warehouse


def run(wh: DuckDBWarehouse, run_id: str = "run-1", rules: str = "rules-1"):
    (result,) = consolidate.run(Context(wh, Rules(rules), run_id))  # type: ignore[arg-type]
    # counted from what the consolidation wrote, or read back: what `status` reads agrees
    assert result.figures == figures.consolidated(wh, D)
    return result


def last_run(wh: DuckDBWarehouse) -> str:
    return wh.query("SELECT run_id FROM consolidations WHERE slate_date = ?", [D]).item()


def prop_lines(wh: DuckDBWarehouse) -> list[tuple]:
    return wh.query(
        "SELECT player_key, file_id, last_update FROM prop_lines ORDER BY player_key"
    ).rows()


def hold(wh: DuckDBWarehouse, rows: pl.DataFrame) -> None:
    with wh.session():
        wh.con.register("_held", rows)
        wh.con.execute(
            "INSERT INTO quarantine SELECT 'r', 'v', TIMESTAMPTZ '2026-01-23', * FROM _held"
        )
        wh.con.unregister("_held")


def test_the_newest_copy_of_a_line_wins_and_counts_are_reported(wh: DuckDBWarehouse) -> None:
    newer = T0 + timedelta(minutes=20)
    stage(wh, "f1", lines("f1", n=3))
    stage(wh, "f2", lines("f2", n=2, last_update=newer))  # p_0 and p_1 again, updated later
    result = run(wh)
    assert (result.processor, result.phase, result.status) == (
        "consolidate",
        "consolidate",
        "success",
    )
    assert (result.rows, result.files, result.notes) == (3, 2, [])
    # read the clock: at the start, for the consolidation's own record, at the end
    assert (result.started_at, result.finished_at) == (minute(1), minute(3))
    assert wh.query("SELECT * FROM consolidations").row(0)[2:] == (3, minute(2), "run-1")
    assert [(key, fid) for key, fid, _ in prop_lines(wh)] == [
        ("p_0", "f2"),
        ("p_1", "f2"),
        ("p_2", "f1"),
    ]


def test_a_rerun_with_nothing_changed_rewrites_nothing(wh: DuckDBWarehouse) -> None:
    stage(wh, "f1", lines("f1", n=3))
    run(wh, "run-1")
    again = run(wh, "run-2")
    assert again.notes == ["unchanged since the last consolidation"]
    assert (again.rows, again.files) == (3, 1)
    assert (again.started_at, again.finished_at) == (minute(1), minute(2))
    assert last_run(wh) == "run-1"


def test_a_new_file_new_rules_or_a_new_quarantine_consolidate_again(wh: DuckDBWarehouse) -> None:
    stage(wh, "f1", lines("f1", n=3))
    run(wh, "run-1")
    stage(wh, "f2", lines("f2", n=1, line=30.5))
    assert (run(wh, "run-2").rows, last_run(wh)) == (4, "run-2")
    assert run(wh, "run-3", rules="rules-2").notes == []
    assert last_run(wh) == "run-3"
    hold(wh, lines("f1", n=3).filter(pl.col("player_key") == "p_1"))
    held = run(wh, "run-4", rules="rules-2")
    assert (held.rows, held.notes, last_run(wh)) == (3, ["1 quarantined rows left out"], "run-4")
    assert [key for key, _, _ in prop_lines(wh)] == ["p_0", "p_0", "p_2"]


def test_an_empty_partition_consolidates_to_nothing(wh: DuckDBWarehouse) -> None:
    result = run(wh)
    assert (result.rows, result.files, result.notes) == (0, 0, [])
    assert prop_lines(wh) == []


def test_another_partitions_files_are_not_counted(wh: DuckDBWarehouse) -> None:
    stage(wh, "f1", lines("f1", n=2))
    other = lines("g1", n=4).with_columns(slate_date=pl.lit(D + timedelta(days=1)))
    stage(wh, "g1", other)
    result = run(wh)
    assert (result.rows, result.files) == (2, 1)


def test_the_crash_points_sit_inside_and_after_the_consolidation(
    wh: DuckDBWarehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The crash tests kill a real run at these points (tests/test_crash_safety.py); here: they
    # are passed in order, and a rerun that rewrites nothing passes none.
    passed: list[str] = []
    monkeypatch.setattr(consolidate, "kill_point", passed.append)
    monkeypatch.setattr(staging, "kill_point", passed.append)
    stage(wh, "f1", lines("f1", n=1))
    run(wh)
    assert passed == ["mid_consolidate", "after_consolidate"]
    run(wh, "run-2")
    assert passed == ["mid_consolidate", "after_consolidate"]
