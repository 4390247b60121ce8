"""The state store's contract, on SQLite and on Postgres: atomic read-modify-write across
processes, rollback on failure, rows read by name and position."""

import multiprocessing
import subprocess
import sys

import pytest

from lineflow.state import StateStore, upsert_sql
from tests.support.state import store_at


def _with_counter(store: StateStore) -> StateStore:
    """A table of the test's own (lineflow's tables come from `lineflow.state.schema`)."""
    with store.connect() as con:
        con.execute("CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, n BIGINT NOT NULL)")
    return store


def _bump(address: str, times: int) -> None:
    store = _with_counter(store_at(address))
    for _ in range(times):
        with store.transaction() as con:
            (n,) = con.execute("SELECT n FROM counter WHERE name = 'x'").fetchone()
            con.execute("UPDATE counter SET n = ? WHERE name = 'x'", (n + 1,))


def test_read_modify_write_is_atomic_across_processes(state_target):
    store = _with_counter(state_target.store())
    with store.transaction() as con:
        con.execute("INSERT INTO counter VALUES ('x', 0)")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_bump, args=(state_target.address, 50)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    with store.connect() as con:
        assert con.execute("SELECT n FROM counter").fetchone()[0] == 150


def test_a_failed_transaction_changes_nothing(state_target):
    store = _with_counter(state_target.store())
    with pytest.raises(RuntimeError), store.transaction() as con:
        con.execute("INSERT INTO counter VALUES ('y', 1)")
        raise RuntimeError("boom")
    with store.connect() as con:
        assert con.execute("SELECT count(*) FROM counter").fetchone()[0] == 0


def test_rows_read_by_name_position_and_as_a_dict_and_upserts_replace(state_target):
    store = _with_counter(state_target.store())
    upsert = upsert_sql("counter", ("name", "n"), ("name",))
    with store.transaction() as con:
        con.execute(upsert, ("a", 1))
        con.execute(upsert, ("a", 2))
        con.execute(upsert, ("b%?", 3))  # a value holding a placeholder and a percent sign
    with store.connect() as con:
        rows = con.execute("SELECT name, n FROM counter ORDER BY name").fetchall()
        literal = con.execute("SELECT count(*) FROM counter WHERE name LIKE 'b%?'").fetchone()
    assert [(r[0], r["n"]) for r in rows] == [("a", 2), ("b%?", 3)]
    assert [dict(r) for r in rows] == [{"name": "a", "n": 2}, {"name": "b%?", "n": 3}]
    assert literal[0] == 1


def test_a_read_only_store_creates_nothing_and_reads_features_as_empty(state_target):
    from lineflow.config import LocksConfig, WorkConfig
    from lineflow.state.locks import Locks
    from lineflow.state.work import WorkQueue

    reader = state_target.store(create=False)
    assert Locks(reader, LocksConfig()).held() == []
    assert WorkQueue(reader, WorkConfig()).dead_letters() == []
    assert not {"locks", "work_items", "dead_letters"} & reader.tables()
    # Once a run used the feature, the reader sees its rows.
    Locks(state_target.store(), LocksConfig()).acquire("p", "s", "2026-01-23", "r")
    assert [lock.key for lock in Locks(reader, LocksConfig()).held()] == ["p:s:2026-01-23"]
    assert "locks" in reader.tables() and "work_items" not in reader.tables()


def test_processes_opening_a_new_store_together_all_open_it(tmp_path):
    """Setting WAL mode needs the file to itself and SQLite runs no busy handler for it: jobs
    of a multirun opening a fresh home's state together once got "database is locked". Each
    process imports, says so, and opens the store when the test tells all of them at once."""
    path = tmp_path / "state.sqlite"
    script = (
        "import sys; from pathlib import Path; from lineflow.state.store import SqliteStore\n"
        "store = SqliteStore(Path(sys.argv[1]))\n"
        "print('ready', flush=True); sys.stdin.readline()\n"
        "with store.transaction() as con:\n"
        "    print(con.execute('PRAGMA journal_mode').fetchone()[0])\n"
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(12)
    ]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    said = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0] * 12, [err for _, err in said]
    assert {out.strip() for out, _ in said} == {"wal"}
