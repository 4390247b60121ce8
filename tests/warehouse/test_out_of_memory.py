"""A write that runs out of DuckDB's `memory_limit` on the held connection: run once more on a
fresh one, and past that a one-line error naming `warehouse.memory_limit`. The failures are
DuckDB's own: the held connection's limit is lowered under what the write needs."""

import duckdb
import polars as pl
import pytest

from lineflow.warehouse import DuckDBWarehouse
from lineflow.warehouse.duckdb import connection
from lineflow.warehouse.duckdb.connection import WarehouseOutOfMemory, out_of_memory, size_bytes
from tests.test_cli import lineflow
from tests.warehouse.test_duckdb import T0, lines, stage

#: Below what staging 3,000 rows needs (DuckDB allocates blocks of the file's size: 64 KiB,
#: `connection.BLOCK_SIZE`), above what the held connection has in use when it is set.
TIGHT = "1MB"


def squeeze(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"SET memory_limit = '{TIGHT}'")


def staged(wh: DuckDBWarehouse, file_id: str) -> tuple[int, int]:
    with wh.session():
        rows = wh.con.execute("SELECT count(*) FROM stg_prop_lines WHERE file_id = ?", [file_id])
        n_rows = rows.fetchone()[0]
        done = wh.con.execute("SELECT count(*) FROM processed_files WHERE file_id = ?", [file_id])
        return n_rows, done.fetchone()[0]


def test_a_write_out_of_memory_runs_again_on_a_fresh_connection(tmp_path):
    wh = DuckDBWarehouse(tmp_path / "lineflow.duckdb")
    with wh.hold():
        with wh.session():
            held = wh.con
            squeeze(held)
        stage(wh, "f1", lines("f1", n=3000))  # fails on the held connection, then is rerun
        with wh.session():
            assert wh.con is not held  # reattached
            limit = wh.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
            assert size_bytes(limit) > size_bytes(TIGHT)  # the configured limit again
            lock_fd = wh._link.lock_fd
        assert lock_fd is not None  # the file lock was kept throughout the hold
    assert staged(wh, "f1") == (3000, 1)  # the rerun's rows, once


def test_a_rerun_writes_the_rows_a_generator_gave_the_first_attempt(tmp_path):
    from lineflow.warehouse.duckdb import RunRow

    rows = [
        RunRow("r1", f"process:{i}", "process", None, "success", T0, T0, 0, i, 0, "x" * 300)
        for i in range(10_000)
    ]
    wh = DuckDBWarehouse(tmp_path / "lineflow.duckdb")
    with wh.hold():
        with wh.session():
            held = wh.con
            squeeze(held)
        wh.record_runs(row for row in rows)  # as the runner gives them
        with wh.session():
            assert wh.con is not held  # the first attempt ran out of memory
            assert wh.con.execute("SELECT count(*) FROM run_history").fetchone()[0] == 10_000


def test_the_failure_is_duckdbs_own_out_of_memory(tmp_path):
    """What the rerun catches is what DuckDB raises: without the rerun the write fails."""
    wh = DuckDBWarehouse(tmp_path / "lineflow.duckdb")
    with wh.session():
        wh.con.execute("CREATE TABLE probe (k VARCHAR PRIMARY KEY, v VARCHAR)")
        squeeze(wh.con)
        with pytest.raises(duckdb.Error) as failed, wh.transaction() as con:
            con.execute("INSERT INTO probe SELECT 'k' || range, repeat('v', 40) FROM range(20000)")
    assert out_of_memory(failed.value)


def squeeze_every_connection(monkeypatch, squeezing=squeeze):
    """Every connection attached from now on squeezed, the fresh one of a rerun too; returns
    the original attach."""
    attach = connection.SharedConnection._attach

    def tight(self):
        con = attach(self)
        squeezing(con)
        return con

    monkeypatch.setattr(connection.SharedConnection, "_attach", tight)
    return attach


def test_out_of_memory_twice_is_one_error_naming_the_setting_and_writes_nothing(
    tmp_path, monkeypatch
):
    attach = squeeze_every_connection(monkeypatch)
    wh = DuckDBWarehouse(tmp_path / "lineflow.duckdb")
    with pytest.raises(WarehouseOutOfMemory) as failed:
        stage(wh, "f1", lines("f1", n=3000))
    message = str(failed.value)
    assert "\n" not in message
    assert "warehouse.memory_limit=64MB" in message
    assert "set warehouse.memory_limit higher" in message
    monkeypatch.setattr(connection.SharedConnection, "_attach", attach)
    assert staged(wh, "f1") == (0, 0)  # nothing half-written


def test_a_write_inside_an_outer_transaction_is_not_run_again(tmp_path):
    """A fresh connection would lose the outer transaction's statements: the error goes up."""
    wh = DuckDBWarehouse(tmp_path / "lineflow.duckdb")
    calls = []
    with wh.session():
        held = wh.con
        with pytest.raises(duckdb.Error) as failed, wh.transaction() as con:
            squeeze(con)

            def write():
                calls.append(1)
                con.execute("SELECT list(range) FROM range(3000000)").fetchall()  # cannot spill

            wh.retrying(write)
        assert wh.con is held
    assert out_of_memory(failed.value) and calls == [1]


def unsaved(wh: DuckDBWarehouse) -> int:
    """The bytes of rows DuckDB holds in memory, not yet checkpointed (read in a session the
    caller's, or one of its own)."""
    with wh.session():
        return wh.con.execute(
            "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() "
            "WHERE tag = 'IN_MEMORY_TABLE'"
        ).fetchone()[0]


def test_a_held_connection_is_checkpointed_when_unsaved_rows_fill_its_share(tmp_path, monkeypatch):
    """Rows appended in small commits stay in memory (a block per column) until a
    checkpoint; between sessions a hold checkpoints once they pass the share of the limit."""
    wh = DuckDBWarehouse(tmp_path / "lineflow.duckdb")
    with wh.hold():
        stage(wh, "f1", lines("f1", n=50))
        kept = unsaved(wh)
        assert kept >= connection.BLOCK_SIZE  # held in memory, in blocks (share not reached)
        monkeypatch.setattr(connection, "RELIEVE_SHARE", kept / 2 / size_bytes("64MB"))
        stage(wh, "f2", lines("f2", n=50))
        assert unsaved(wh) < kept / 2  # checkpointed at the end of the session
    assert staged(wh, "f1") == (50, 1) and staged(wh, "f2") == (50, 1)


def test_a_held_connection_is_looked_at_after_sessions_that_write_only(tmp_path, monkeypatch):
    """Asking DuckDB for its memory is a query: a session that only reads adds no unsaved
    rows, so a hold looks (and checkpoints) after a session that wrote, not after a read."""
    wh = DuckDBWarehouse(tmp_path / "lineflow.duckdb")
    with wh.hold():
        stage(wh, "f1", lines("f1", n=50))
        monkeypatch.setattr(connection, "RELIEVE_SHARE", 0.0)  # any unsaved row is too many
        kept = unsaved(wh)  # a session that only reads
        assert kept >= 256 * 1024
        assert unsaved(wh) == kept, "not checkpointed after a session that only read"
        with wh.session(), wh.transaction() as con:  # a write outside a `writes` method
            con.execute("DELETE FROM run_history WHERE run_id = 'none'")
        assert unsaved(wh) < kept, "checkpointed after the write"
    assert staged(wh, "f1") == (50, 1)


def test_a_held_connection_is_attached_afresh_once_the_file_grew_by_its_share(
    tmp_path, monkeypatch
):
    """DuckDB keeps the description of the row groups a connection wrote in its own heap,
    outside memory_limit, until the file is detached: a hold attaches the file afresh (the
    rows kept, the file lock kept) once it grew by `GROWTH_SHARE` of the limit, and not
    before."""
    wh = DuckDBWarehouse(tmp_path / "lineflow.duckdb")

    def con_after(name):
        # More rows than a row group: DuckDB writes full ones straight to the file.
        stage(wh, name, lines(name, n=2 * connection.ROW_GROUP_SIZE))
        with wh.session():
            return wh.con

    with wh.hold():
        first = con_after("f1")
        assert con_after("f2") is first  # a few hundred KB of growth: far from 32MB
        grown = wh.path.stat().st_size
        monkeypatch.setattr(connection, "GROWTH_SHARE", 1 / size_bytes("64MB"))  # one byte
        third = con_after("f3")
        assert third is not first  # the file grew: attached afresh at the end of the session
        assert wh.path.stat().st_size >= grown
        monkeypatch.setattr(connection, "GROWTH_SHARE", 0.5)
        assert con_after("f4") is third
        lock = wh._link.lock_fd
        assert lock is not None  # the file lock was kept throughout
    for name in ("f1", "f2", "f3", "f4"):
        assert staged(wh, name) == (2 * connection.ROW_GROUP_SIZE, 1)


def test_a_new_file_has_small_blocks_and_an_older_file_keeps_its_own(tmp_path):
    """A new warehouse is made with `BLOCK_SIZE` blocks; a file made with DuckDB's default
    (256 KiB) keeps them and its rows: DuckDB refuses to attach a file with another size."""

    def block_size(wh):
        with wh.session():
            return wh.con.execute(
                "SELECT block_size FROM pragma_database_size() WHERE database_name = 'warehouse'"
            ).fetchone()[0]

    wh = DuckDBWarehouse(tmp_path / "new.duckdb")
    stage(wh, "f1", lines("f1", n=30))
    assert block_size(wh) == connection.BLOCK_SIZE < 256 * 1024
    older = tmp_path / "older.duckdb"
    con = duckdb.connect(str(older))
    con.execute("CREATE TABLE t (i INTEGER)")
    con.close()
    wh = DuckDBWarehouse(older)
    stage(wh, "f1", lines("f1", n=30))
    assert block_size(wh) == 256 * 1024
    assert staged(wh, "f1") == (30, 1)


def test_the_cli_says_in_one_line_which_setting_to_raise(tmp_path):
    out = lineflow(
        "run", "date=2026-01-23", f"home={tmp_path}", "warehouse.memory_limit=1MB", cwd=tmp_path
    )
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if "warehouse.memory_limit=1MB" in line]
    assert errors and "set warehouse.memory_limit higher" in errors[0], out.stderr


def test_sizes_are_read_as_duckdb_and_the_config_spell_them():
    assert size_bytes("64MB") == 64_000_000
    assert size_bytes("61.0 MiB") == 61 * 2**20
    assert size_bytes("lots") is None


# -- reads ------------------------------------------------------------------------------------

#: Below what reading 20,000 staged rows into polars needs, above what attaching left in use.
TIGHTER = "512KB"


def a_staged_warehouse(tmp_path) -> DuckDBWarehouse:
    wh = DuckDBWarehouse(tmp_path / "lineflow.duckdb")
    stage(wh, "f1", lines("f1", n=20_000))
    return wh


def squeeze_reads(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"SET memory_limit = '{TIGHTER}'")


#: Two reads of a partition's staged rows: DuckDB's error raised by DuckDB (the relation run
#: before polars takes it) and by polars (rows computed as polars reads them).
READS = {
    "read_partition": lambda wh: wh.read_partition("stg_prop_lines", T0.date()),
    "staging": lambda wh: wh.staging(T0.date()),
}


@pytest.mark.parametrize("read", READS)
def test_a_read_out_of_memory_runs_again_on_a_fresh_connection(tmp_path, read):
    wh = a_staged_warehouse(tmp_path)
    with wh.hold():
        with wh.session():
            held = wh.con
            squeeze_reads(held)
            with pytest.raises((duckdb.Error, pl.exceptions.ComputeError)) as failed:
                wh._link.reading = True  # as inside an outer read: not run again here
                try:
                    READS[read](wh)
                finally:
                    wh._link.reading = False
            assert out_of_memory(failed.value), "the squeeze is below what the read needs"
        rows = READS[read](wh)  # fails on the held connection, then is run again
        with wh.session():
            assert wh.con is not held  # reattached
            limit = wh.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
            assert size_bytes(limit) > size_bytes(TIGHTER)
    assert rows.height == 20_000


def test_a_read_only_session_reads_again_read_only(tmp_path):
    """`status` reads in a read-only session: the fresh connection is read-only too."""
    wh = a_staged_warehouse(tmp_path)
    with wh.read_session():
        held = wh.con
        squeeze_reads(held)
        assert wh.staging(T0.date()).height == 20_000
        assert wh.con is not held
        mode = wh.con.execute("SELECT current_setting('access_mode')").fetchone()[0]
        assert mode == "read_only"


def test_a_rerun_read_gets_a_generator_argument_whole(tmp_path):
    wh = a_staged_warehouse(tmp_path)
    with wh.hold():
        with wh.session():
            held = wh.con
            squeeze_reads(held)
        sql = "SELECT len(list(range)) AS n FROM range(?)"  # a list cannot spill
        out = wh.query(sql, (n for n in [1_000_000]))
        with wh.session():
            assert wh.con is not held  # the first attempt ran out of memory
    assert out["n"].to_list() == [1_000_000]


def test_a_read_out_of_memory_twice_is_one_error_naming_the_setting(tmp_path, monkeypatch):
    wh = a_staged_warehouse(tmp_path)
    squeeze_every_connection(monkeypatch, squeeze_reads)
    with pytest.raises(WarehouseOutOfMemory) as failed:
        wh.staging(T0.date())
    message = str(failed.value)
    assert "\n" not in message
    assert "warehouse.memory_limit=64MB reading, twice" in message
    assert "set warehouse.memory_limit higher" in message


def test_a_read_inside_an_outer_transaction_is_not_run_again(tmp_path):
    wh = a_staged_warehouse(tmp_path)
    with wh.session():
        held = wh.con
        engine_errors = (duckdb.Error, pl.exceptions.ComputeError)
        with pytest.raises(engine_errors) as failed, wh.transaction() as con:
            squeeze_reads(con)
            wh.read_partition("stg_prop_lines", T0.date())
        assert wh.con is held
    assert out_of_memory(failed.value)


def test_the_cli_says_in_one_line_that_a_read_ran_out(tmp_path):
    """`status` reading the demo's partition under a limit that opens the file (3 MB does
    not) but cannot hold what the read needs (16 MB could not, 24 MB can)."""
    day = "date=2026-01-23"
    assert lineflow("run", day, f"home={tmp_path}", cwd=tmp_path).returncode == 0
    out = lineflow("status", day, f"home={tmp_path}", "warehouse.memory_limit=8MB", cwd=tmp_path)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr and "Possible solutions" not in out.stderr
    [error] = [line for line in out.stderr.splitlines() if "memory_limit=8MB" in line]
    assert "reading, twice" in error and "set warehouse.memory_limit higher" in error, out.stderr
