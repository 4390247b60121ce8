import multiprocessing
from pathlib import Path

from lineflow.state import StateStore


def _with_counter(store: StateStore) -> StateStore:
    """A table of the test's own (lineflow's tables come from `lineflow.state.schema`)."""
    with store.connect() as con:
        con.execute(
            "CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, n INTEGER NOT NULL)"
        )
    return store


def _bump(path: str, times: int) -> None:
    store = _with_counter(StateStore(Path(path)))
    for _ in range(times):
        with store.transaction() as con:
            (n,) = con.execute("SELECT n FROM counter WHERE name = 'x'").fetchone()
            con.execute("UPDATE counter SET n = ? WHERE name = 'x'", (n + 1,))


def test_read_modify_write_is_atomic_across_processes(tmp_path):
    store = _with_counter(StateStore(tmp_path / "state.sqlite"))
    with store.transaction() as con:
        con.execute("INSERT INTO counter VALUES ('x', 0)")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_bump, args=(str(store.path), 50)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    with store.connect() as con:
        assert con.execute("SELECT n FROM counter").fetchone()[0] == 150


def test_a_failed_transaction_changes_nothing(tmp_path):
    store = _with_counter(StateStore(tmp_path / "state.sqlite"))
    try:
        with store.transaction() as con:
            con.execute("INSERT INTO counter VALUES ('y', 1)")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with store.connect() as con:
        assert con.execute("SELECT count(*) FROM counter").fetchone()[0] == 0
