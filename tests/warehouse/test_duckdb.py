from datetime import UTC, date, datetime

import duckdb
import polars as pl
import pytest

from lineflow.schema import conform
from lineflow.warehouse import DuckDBWarehouse
from lineflow.warehouse.duckdb import StagedFile

D = date(2026, 1, 23)
T0 = datetime(2026, 1, 23, 14, 8, tzinfo=UTC)


def lines(file_id: str, *, line: float = 20.5, last_update: datetime = T0, n: int = 1):
    return conform(
        pl.DataFrame(
            {
                "slate_date": [D] * n,
                "source": ["odds_api"] * n,
                "event_id": ["e1"] * n,
                "bookmaker": ["draftkings"] * n,
                "market": ["player_points"] * n,
                "player_name": [f"P {i}" for i in range(n)],
                "player_key": [f"p_{i}" for i in range(n)],
                "side": ["over"] * n,
                "line": [line] * n,
                "price_american": [-110] * n,
                "last_update": [last_update] * n,
                "snapshot_at": [T0] * n,
                "file_id": [file_id] * n,
                "run_id": ["r1"] * n,
            }
        )
    )


def file(fid: str) -> dict:
    return {"file_id": fid, "slate_date": D, "source": "odds_api", "endpoint": "player_props"}


@pytest.fixture
def wh(tmp_path):
    with DuckDBWarehouse(tmp_path / "lineflow.duckdb") as warehouse:
        yield warehouse


def stage(wh, name, frame):
    """One file's rows staged and the file marked processed, as `process` does."""
    wh.stage_files([StagedFile(file(name), frame.height)], frame, "r1", T0)


def test_consolidate_keeps_one_row_per_natural_key(wh):
    stage(wh, "f1", lines("f1", n=3))
    # The same lines again from another file, with a newer last_update: that copy wins.
    newer = datetime(2026, 1, 23, 14, 30, tzinfo=UTC)
    stage(wh, "f2", lines("f2", n=3, last_update=newer))
    fingerprint, staged = wh.staging_fingerprint(D)
    assert staged == 6
    assert wh.consolidate(D, fingerprint, "r1", T0) == 3
    kept = wh.query("SELECT DISTINCT file_id FROM prop_lines")["file_id"].to_list()
    assert kept == ["f2"]


def test_lines_are_kept_exact(wh):
    # x.5 and x must never collide (the original merge key truncated lines to integers).
    stage(wh, "f1", lines("f1", line=20.5))
    stage(wh, "f2", lines("f2", line=20.0))
    fingerprint, _ = wh.staging_fingerprint(D)
    assert wh.consolidate(D, fingerprint, "r1", T0) == 2
    assert sorted(wh.query("SELECT line FROM prop_lines")["line"].to_list()) == [20.0, 20.5]


def test_consolidate_twice_gives_the_same_table(wh):
    stage(wh, "f1", lines("f1", n=5))
    fingerprint, _ = wh.staging_fingerprint(D)
    wh.consolidate(D, fingerprint, "r1", T0)
    first = wh.query("SELECT * FROM prop_lines ORDER BY player_key")
    wh.consolidate(D, fingerprint, "r2", T0)
    assert wh.query("SELECT * FROM prop_lines ORDER BY player_key").equals(first)
    assert wh.consolidated_fingerprint(D) == fingerprint


def test_a_failed_stage_write_leaves_nothing_half_done(wh):
    bad = lines("f1").with_columns(pl.lit("x").alias("line"))  # wrong type: insert fails
    with pytest.raises(duckdb.Error):
        stage(wh, "f1", bad)
    assert wh.query("SELECT count(*) AS n FROM processed_files")["n"][0] == 0
    assert wh.query("SELECT count(*) AS n FROM stg_prop_lines")["n"][0] == 0
