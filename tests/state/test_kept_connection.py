"""A thread's SQLite state connection is kept between uses (lineflow/state/store.py): what it
must never change for the other threads and processes sharing the file."""

import os
import pickle
import sqlite3
import threading

import pytest

from lineflow.state.store import SqliteStore


@pytest.fixture
def store(tmp_path):
    store = SqliteStore(tmp_path / "state.sqlite", busy_timeout_s=5)
    with store.connect() as con:
        con.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
    return store


def keys(store: SqliteStore) -> list[str]:
    with store.connect() as con:
        return [row["k"] for row in con.execute("SELECT k FROM t ORDER BY k")]


def _other_process_writes(path) -> None:
    """A write on a connection of its own, as another process makes, that may not wait: it
    fails while this process holds the write lock."""
    con = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO t VALUES ('other', 1)")
        con.execute("COMMIT")
    finally:
        con.close()


def test_a_kept_connection_holds_no_lock_and_sees_other_writers(store):
    with store.transaction() as con:
        con.execute("INSERT INTO t VALUES ('mine', 1)")
    with store.connect() as con:
        con.execute("SELECT count(*) FROM t").fetchone()
    _other_process_writes(store.path)  # the idle kept connection blocks no one
    assert keys(store) == ["mine", "other"]


def test_a_transaction_a_caller_leaves_open_is_rolled_back_not_kept(store):
    with store.connect() as con:
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO t VALUES ('left', 1)")
    _other_process_writes(store.path)  # the write lock was let go
    assert keys(store) == ["other"]


def test_after_a_failed_transaction_the_next_use_works(store):
    with pytest.raises(RuntimeError), store.transaction() as con:
        con.execute("INSERT INTO t VALUES ('lost', 1)")
        raise RuntimeError("the caller fails mid-transaction")
    with store.transaction() as con:
        con.execute("INSERT INTO t VALUES ('kept', 1)")
    assert keys(store) == ["kept"]


def test_a_nested_use_and_other_threads_get_connections_of_their_own(store):
    seen = {}
    with store.connect() as outer:
        with store.connect() as inner:
            seen["nested"] = inner is not outer

        def other_thread() -> None:
            with store.transaction() as con:
                con.execute("INSERT INTO t VALUES ('thread', 1)")
                seen["thread"] = con is not outer

        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        assert [r[0] for r in outer.execute("SELECT k FROM t")] == ["thread"]
    assert seen == {"nested": True, "thread": True}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork: POSIX only")
def test_a_forked_child_opens_its_own_connection(store):
    with store.connect() as con:
        parent = con
    pid = os.fork()
    if pid == 0:  # the child: exits with 0 only if it wrote through a connection of its own
        code = 1
        try:
            with store.transaction() as con:
                con.execute("INSERT INTO t VALUES ('child', 1)")
                code = 0 if con is not parent else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with store.connect() as con:
        assert con is parent  # the parent's own is still kept, and sees the child's row
    assert keys(store) == ["child"]


def test_a_store_sent_to_another_process_takes_no_connection_along(store):
    """predict sends the store to its spawned workers: the copy opens connections of its own."""
    with store.connect() as con:
        mine = con
    copy = pickle.loads(pickle.dumps(store))
    with copy.transaction() as con:
        assert con is not mine
        con.execute("INSERT INTO t VALUES ('copy', 1)")
    assert keys(store) == ["copy"]
