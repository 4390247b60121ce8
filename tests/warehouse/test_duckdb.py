import dataclasses
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import duckdb
import polars as pl
import pytest

from lineflow.core.frames import arrow_stream
from lineflow.core.schema import conform
from lineflow.warehouse import DuckDBWarehouse
from lineflow.warehouse.duckdb import LandedRow, StagedFile, schema
from lineflow.warehouse.duckdb.connection import STORAGE_VERSION
from tests.conftest import ROOT

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
    assert wh.consolidate(D, fingerprint, "r1", T0).rows == 3
    kept = wh.query("SELECT DISTINCT file_id FROM prop_lines")["file_id"].to_list()
    assert kept == ["f2"]


def test_lines_are_kept_exact(wh):
    # x.5 and x must never collide (the original merge key truncated lines to integers).
    stage(wh, "f1", lines("f1", line=20.5))
    stage(wh, "f2", lines("f2", line=20.0))
    fingerprint, _ = wh.staging_fingerprint(D)
    assert wh.consolidate(D, fingerprint, "r1", T0).rows == 2
    assert sorted(wh.query("SELECT line FROM prop_lines")["line"].to_list()) == [20.0, 20.5]


def test_consolidate_twice_gives_the_same_table(wh):
    stage(wh, "f1", lines("f1", n=5))
    fingerprint, _ = wh.staging_fingerprint(D)
    wh.consolidate(D, fingerprint, "r1", T0)
    first = wh.query("SELECT * FROM prop_lines ORDER BY player_key")
    wh.consolidate(D, fingerprint, "r2", T0)
    assert wh.query("SELECT * FROM prop_lines ORDER BY player_key").equals(first)
    assert wh.consolidated_fingerprint(D) == fingerprint


def test_the_staging_fingerprint_is_the_digest_earlier_records_hold(wh):
    """Validations and consolidations store the staging fingerprint: it stays the digest
    DuckDB computed for them (md5 of the staged files' ids, sorted, comma-joined), or every
    partition would look changed and be validated and consolidated again."""
    assert wh.staging_fingerprint(D) == ("", 0)
    stage(wh, "f2", lines("f2", n=2))
    stage(wh, "f10", lines("f10", n=3))
    wh.stage_files([StagedFile(file("f0"), 0)], lines("f0", n=0), "r1", T0)  # staged nothing
    earlier = wh.query(
        "SELECT md5(string_agg(file_id, ',' ORDER BY file_id)) AS digest FROM processed_files "
        "WHERE slate_date = ? AND rows > 0",
        [D],
    ).item()
    assert wh.staging_fingerprint(D) == (earlier, 5)


def consolidate(wh) -> int:
    fingerprint, _ = wh.staging_fingerprint(D)
    return wh.consolidate(D, fingerprint, "r1", T0).rows


def prop_lines(wh) -> pl.DataFrame:
    return wh.query("SELECT * FROM prop_lines ORDER BY file_id, player_key, line")


def test_rows_are_stored_once_and_prop_lines_shows_the_consolidation(wh):
    stage(wh, "f1", lines("f1", n=3))
    assert consolidate(wh) == 3
    # A file landing after the consolidation (the 1-of-16 incident's late files) is staged
    # but not shown until the next consolidation takes it: readers see one consolidation.
    stage(wh, "f2", lines("f2", n=2, line=21.5))
    assert prop_lines(wh)["file_id"].to_list() == ["f1"] * 3
    assert consolidate(wh) == 5
    assert prop_lines(wh)["file_id"].to_list() == ["f1"] * 3 + ["f2"] * 2
    kinds = dict(
        wh.query(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_name IN ('prop_lines', 'stg_prop_lines')"
        ).iter_rows()
    )
    assert kinds == {"prop_lines": "VIEW", "stg_prop_lines": "BASE TABLE"}


def test_the_same_line_twice_in_one_file_is_kept_once(wh):
    twice = pl.concat([lines("f1", n=2), lines("f1", n=1)])  # p_0's line appears twice
    stage(wh, "f1", twice)
    assert consolidate(wh) == 2
    assert prop_lines(wh)["player_key"].to_list() == ["p_0", "p_1"]
    assert wh.query("SELECT row_no FROM consolidation_drops")["row_no"].to_list() == [2]


def test_quarantined_rows_stay_out_until_released(wh):
    stage(wh, "f1", lines("f1", n=3))
    held = lines("f1", n=3).filter(pl.col("player_key") == "p_1")
    with wh.session():
        wh.con.register("_held", held)
        wh.con.execute(
            "INSERT INTO quarantine SELECT 'r', 'v', TIMESTAMPTZ '2026-01-23', * FROM _held"
        )
    assert consolidate(wh) == 2
    assert prop_lines(wh)["player_key"].to_list() == ["p_0", "p_2"]
    wh.query("DELETE FROM quarantine")
    assert consolidate(wh) == 3


def test_a_validation_is_recorded_and_said_again_word_for_word(wh):
    """What validate concluded goes in as literals where it can: quotes, NUL characters,
    non-ASCII text and NULLs come back as they were; an empty quarantine replaces a held one."""
    from lineflow.core.schema import PROP_LINES
    from lineflow.rules import Evaluation
    from lineflow.rules.gate import LINE_QUALITY
    from lineflow.warehouse.duckdb import Validated

    def record(outcome, run_id, quarantined):
        wh.record_validation(
            D,
            run_id,
            T0,
            Evaluation([]).results(),
            quarantined,
            pl.DataFrame(schema=LINE_QUALITY),
            outcome,
        )

    held = lines("f1", n=2).select(list(PROP_LINES)).with_columns(rule_id=pl.lit("r"))
    first = Validated("ab'c", "partial", "rule 'x' failed: O'Neal\x00 é\n", ["a'b", "\x00"], 2)
    record(first, "run-'1'\x00", held.select("rule_id", *PROP_LINES))
    assert wh.last_validation(D) == dataclasses.replace(first, run_id="run-'1'\x00")
    assert wh.query("SELECT count(*) AS n FROM quarantine")["n"].item() == 2
    again = Validated("d", "success", None, [], 0)
    record(again, "run-2", pl.DataFrame(schema={"rule_id": pl.String(), **PROP_LINES}))
    assert wh.last_validation(D) == Validated("d", "success", None, [], 0, "run-2")
    assert wh.query("SELECT count(*) AS n FROM quarantine")["n"].item() == 0
    times = wh.query("SELECT validated_at FROM validations")["validated_at"].to_list()
    assert times == [T0]


def test_a_warehouse_whose_prop_lines_was_a_table_is_upgraded_in_place(tmp_path):
    """Warehouses written before prop_lines became a view: the same rows after the upgrade,
    late files still waiting for their consolidation, and consolidations go on."""
    path = tmp_path / "lineflow.duckdb"
    with DuckDBWarehouse(path) as wh:
        stage(wh, "f1", pl.concat([lines("f1", n=2), lines("f1", n=1)]))
        newer = datetime(2026, 1, 23, 14, 30, tzinfo=UTC)
        stage(wh, "f2", lines("f2", n=1, line=22.5, last_update=newer))
        consolidate(wh)
        stage(wh, "f3", lines("f3", n=1, line=30.5))  # landed after the consolidation
        before = prop_lines(wh)
    con = duckdb.connect(str(path))  # the layout before: a table, staging without row numbers
    con.execute("CREATE TABLE old_lines AS SELECT * FROM prop_lines")
    con.execute("DROP VIEW prop_lines")
    con.execute("ALTER TABLE old_lines RENAME TO prop_lines")
    con.execute("ALTER TABLE stg_prop_lines DROP COLUMN row_no")
    con.execute("DROP TABLE consolidated_files")
    con.execute("DROP TABLE consolidation_drops")
    con.close()
    with DuckDBWarehouse(path) as wh:
        assert prop_lines(wh).equals(before)
        assert before.height == 3 and "f3" not in before["file_id"].to_list()
        numbers = wh.query("SELECT file_id, row_no FROM stg_prop_lines ORDER BY file_id, row_no")
        assert numbers.rows() == [("f1", 0), ("f1", 1), ("f1", 2), ("f2", 0), ("f3", 0)]
        assert consolidate(wh) == 4
        assert "f3" in prop_lines(wh)["file_id"].to_list()


def test_a_checkpoint_leaves_stored_rows_where_they_are(tmp_path):
    """Staged rows are compressed and written once: a later batch and its checkpoint do not
    rewrite the row groups already in the file (DuckDB's vacuum merged the partly filled row
    group each batch ends in with the next batch's, compressing the rows a second time)."""
    path = tmp_path / "lineflow.duckdb"
    where = (
        "SELECT row_group_id, column_id, block_id, block_offset "
        "FROM pragma_storage_info('stg_prop_lines') WHERE block_id >= 0"
    )
    with DuckDBWarehouse(path) as wh:
        stage(wh, "f1", lines("f1", n=10_000))  # a full row group and a partly filled one
    with DuckDBWarehouse(path) as wh:
        first = set(wh.con.execute(where).fetchall())
        assert {row_group for row_group, *_ in first} == {0, 1}
    with DuckDBWarehouse(path) as wh:
        stage(wh, "f2", lines("f2", n=10_000))
    with DuckDBWarehouse(path) as wh:
        assert first <= set(wh.con.execute(where).fetchall())
        assert wh.query("SELECT count(*) AS n FROM stg_prop_lines").item() == 20_000


def test_a_file_of_an_older_storage_format_is_upgraded_and_keeps_its_rows(tmp_path):
    """A warehouse file DuckDB wrote in its default (older) storage format: its rows read the
    same after lineflow connects, new rows are stored beside them, and the file is now in
    the format lineflow writes (`connection.STORAGE_VERSION`)."""
    path = tmp_path / "lineflow.duckdb"
    tags = "SELECT tags['storage_version'] FROM duckdb_databases() WHERE path = ?"
    con = duckdb.connect(str(path))
    schema.ensure(con)
    old = lines("f1", n=3).with_columns(row_no=pl.int_range(3, dtype=pl.Int32))
    con.register("old", arrow_stream(old))
    con.execute("INSERT INTO stg_prop_lines SELECT * FROM old")
    assert con.execute(tags, [str(path)]).fetchone() != (f"{STORAGE_VERSION}+",)
    con.close()
    with DuckDBWarehouse(path) as wh:
        stage(wh, "f2", lines("f2", n=10_000))
    con = duckdb.connect(str(path), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    assert con.execute(tags, [str(path)]).fetchone() == (f"{STORAGE_VERSION}+",)
    staged = pl.DataFrame(con.sql("SELECT * FROM stg_prop_lines WHERE file_id = 'f1'"))
    assert staged.equals(old)
    assert con.execute("SELECT count(*) FROM stg_prop_lines").fetchone() == (10_003,)
    con.close()


def test_a_read_session_reads_without_writing_the_file(tmp_path):
    """`status` reads in a read-only session: the same rows, the file's bytes untouched (no
    schema check, no checkpoint), and a write inside it fails rather than land."""
    path = tmp_path / "lineflow.duckdb"
    with DuckDBWarehouse(path) as wh:
        stage(wh, "f1", lines("f1", n=3))
        consolidate(wh)
        expected = prop_lines(wh)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    wh = DuckDBWarehouse(path)
    with wh.read_session():
        assert prop_lines(wh).equals(expected)
        with pytest.raises(duckdb.Error, match="read-only"):
            wh.record_landed_many([landed("late.json")])
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert not path.with_name("lineflow.duckdb.wal").exists()
    wh.record_landed_many([landed("late.json")])  # an ordinary session writes again
    assert landed_count(wh) == 1


def test_a_read_session_on_an_older_layout_brings_it_up_to_date_first(tmp_path):
    path = tmp_path / "lineflow.duckdb"
    with DuckDBWarehouse(path) as wh:
        stage(wh, "f1", lines("f1", n=2))
        consolidate(wh)
        expected = prop_lines(wh)
    con = duckdb.connect(str(path))  # as an older lineflow left it: no row numbers
    con.execute("DROP VIEW prop_lines")
    con.execute("ALTER TABLE stg_prop_lines DROP COLUMN row_no")
    con.close()
    wh = DuckDBWarehouse(path)
    with wh.read_session():
        assert prop_lines(wh).equals(expected)
        rows = wh.query("SELECT row_no FROM stg_prop_lines ORDER BY row_no")
        assert rows["row_no"].to_list() == [0, 1]


def test_a_failed_stage_write_leaves_nothing_half_done(wh):
    bad = lines("f1").with_columns(pl.lit("x").alias("line"))  # wrong type: insert fails
    with pytest.raises(duckdb.Error):
        stage(wh, "f1", bad)
    assert wh.query("SELECT count(*) AS n FROM processed_files")["n"][0] == 0
    assert wh.query("SELECT count(*) AS n FROM stg_prop_lines")["n"][0] == 0


def landed(path: str) -> LandedRow:
    return LandedRow(path, "f", "odds_api", "events", D, "p1", 1, None, None, T0, "r1")


def landed_count(wh) -> int:
    return int(wh.query("SELECT count(*) AS n FROM landed_files").item())


def test_a_path_keeps_its_first_manifest_row(wh):
    """The path is the manifest's key: a path twice in one insert lands once, with its first
    row, and a path already in the manifest keeps the row it has."""
    first = LandedRow("a.json", "f1", "odds_api", "events", D, "p1", 1, None, None, T0, "r1")
    again = LandedRow("a.json", "f2", "odds_api", "events", D, "p2", 2, None, None, T0, "r1")
    other = LandedRow("b.json", "f3", "odds_api", "events", D, "p1", 3, None, None, T0, "r1")
    wh.record_landed_many([first, again])
    wh.record_landed_many([again, other])
    rows = wh.query("SELECT path, file_id, pass_id FROM landed_files ORDER BY path").rows()
    assert rows == [("a.json", "f1", "p1"), ("b.json", "f3", "p1")]


def test_a_partitions_manifest_reads_as_its_rows_with_their_types(wh):
    """`landed` gives the partition's manifest rows of a source in path order, with the
    manifest's column types whether there are rows or none, as a query read through Arrow."""
    other = LandedRow("b.json", "f3", "odds_api", "events", D, "p'1", 3, "u", 200, T0, "r1")
    wh.record_landed_many([landed("c.json"), other, landed("a.json")])
    elsewhere = dataclasses.replace(landed("d.json"), source="bettingpros")
    wh.record_landed_many([elsewhere, dataclasses.replace(landed("e.json"), slate_date=date.min)])
    read = wh.query(
        "SELECT * FROM landed_files WHERE slate_date = ? AND source = 'odds_api' ORDER BY path",
        [D],
    )
    assert wh.landed(D, "odds_api").equals(read)
    assert wh.landed(D, "odds_api")["path"].to_list() == ["a.json", "b.json", "c.json"]
    assert wh.landed(D).height == 4
    assert wh.landed(date(2030, 1, 1), "odds_api").schema == read.schema


def test_a_partition_is_settled_when_every_file_is_registered_and_processed(wh):
    """The partition-complete record's last check: files on disk all in the manifest, and
    every manifest file of the partition in the processing ledger."""
    path = "odds_api/player_props/2026-01-23/live-20260123T140800Z/a.json"
    row = LandedRow(path, "f1", "odds_api", "player_props", D, "p1", 1, None, None, T0, "r1")
    wh.record_landed_many([row])
    assert not wh.settled(D, {"odds_api": [path]})  # registered, not processed yet
    assert not wh.settled(D, {"odds_api": []})  # landed, not processed: the run's work
    assert wh.settled(D, {"bettingpros": []})  # another source's partition has nothing
    stage(wh, "f1", lines("f1"))
    assert wh.settled(D, {"odds_api": [path]})
    assert wh.settled(D, {"odds_api": []})  # nothing on disk: nothing left to register
    dropped = path.replace("a.json", "b.json")  # on disk, not registered (a dead letter)
    assert not wh.settled(D, {"odds_api": [path, dropped]})
    assert not wh.settled(D, {"odds_api": [path], "bettingpros": [dropped]})
    assert wh.settled(D, {"odds_api": [path], "bettingpros": []})
    other = LandedRow(dropped, "f2", "bettingpros", "props", D, "p1", 1, None, None, T0, "r1")
    wh.record_landed_many([other])  # another source's file, landed, not processed
    assert wh.settled(D, {"odds_api": [path]})
    assert not wh.settled(D, {"odds_api": [path], "bettingpros": [dropped]})


def test_threads_share_the_connection_one_session_at_a_time(tmp_path):
    """A backfill's partitions run in threads: their sessions take turns on one connection."""
    wh = DuckDBWarehouse(tmp_path / "lineflow.duckdb")

    def write(thread: int) -> None:
        mine = DuckDBWarehouse(tmp_path / "lineflow.duckdb")  # as each run builds its own
        for i in range(40):
            with mine.session():
                mine.record_landed_many([landed(f"t{thread}/{i}.json")])

    with wh.hold(), ThreadPoolExecutor(2) as pool:
        list(pool.map(write, range(2)))
        assert landed_count(wh) == 80
    assert not (tmp_path / "lineflow.duckdb.wal").exists(), "the hold ended with a checkpoint"


WAITER = """
import sys
from pathlib import Path
from lineflow.warehouse import DuckDBWarehouse
from lineflow.warehouse.duckdb import LandedRow
from datetime import UTC, date, datetime
wh = DuckDBWarehouse(Path(sys.argv[1]), lock_timeout_s=60)
with wh.session():
    n = wh.query("SELECT count(*) AS n FROM landed_files").item()
    wh.record_landed_many([LandedRow("other.json", "g", "odds_api", "events", date(2026, 1, 23),
        "p1", 1, None, None, datetime(2026, 1, 23, tzinfo=UTC), "r2")])
print(n)
"""


def test_a_hold_lets_another_process_in_between_sessions(tmp_path):
    """A process keeping the connection (a backfill between partitions, a run parsing) hands
    the warehouse to another process that asks, then takes it back for its next session."""
    path = tmp_path / "lineflow.duckdb"
    wh = DuckDBWarehouse(path)
    with wh.hold():
        with wh.session():
            wh.record_landed_many([landed("mine.json")])
        # The connection is still open (no session): the other process must still get in.
        other = subprocess.run(
            [sys.executable, "-c", WAITER, str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert other.returncode == 0, other.stderr
        assert other.stdout.strip() == "1", "it saw the holder's committed row"
        with wh.session():
            assert landed_count(wh) == 2, "and the holder sees the other's row"


def test_run_rows_are_stored_as_given(wh):
    # Written into the statement as literals, not bound: quotes, a NUL, a missing date and
    # error, an offset other than UTC and microseconds come back as they went in.
    from zoneinfo import ZoneInfo

    from lineflow.warehouse.duckdb import RunRow

    started = datetime(2026, 1, 23, 9, 8, 7, 654321, tzinfo=ZoneInfo("America/New_York"))
    rows = [
        RunRow(
            "r1",
            "process:odds_api",
            "process",
            D,
            "partial",
            started,
            T0,
            3,
            40,
            0,
            "file 'a.json': bad\x00byte; -- not SQL",
        ),
        RunRow("r1", "consolidate", "consolidate", None, "success", T0, T0, 0, 2**40, 7, None),
    ]
    wh.record_runs(rows)
    stored = wh.con.execute("SELECT * FROM run_history ORDER BY processor DESC").fetchall()
    assert [RunRow(*row) for row in stored] == rows
