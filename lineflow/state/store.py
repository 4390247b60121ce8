"""The state store: what lineflow processes share to coordinate (locks, work items, dead letters,
proxy health, quota, backfill manifests, prediction batches), behind one small contract.

`StateStore` is the contract; two backends implement it:
- `SqliteStore`: `{home}/state.sqlite` in WAL mode, for the processes of one machine (the
  default, nothing to start). DuckDB allows one writing process per file, so coordination lives
  here, where SQLite serialises writers with short `BEGIN IMMEDIATE` transactions.
- `PostgresStore` (`lineflow.state.postgres`): one database shared by several instances.

Feature modules write their SQL once, in the subset both speak: `?` placeholders (translated for
Postgres), `INSERT ... ON CONFLICT ... DO UPDATE` (`upsert_sql`), `RETURNING`, no boolean
aggregates, times as epoch seconds or ISO text computed in Python. Rows answer both `row[0]` and
`row["name"]`, and `dict(row)`. `transaction()` is atomic and serialised against every other
`transaction()` of the store (a read-then-write in one is safe); a single statement outside one
is atomic by itself.

A store opened with `create=False` (the read-only commands: `locks`, `dlq`, `backfill status`)
never creates anything: where the feature's tables are absent it reads them as empty. Reports
read a table's absence (`tables()`) as "this feature never ran here".
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from lineflow.core.errors import LineflowError
from lineflow.state.schema import FEATURES, ddl

#: SQLite's result codes for a file it cannot write: the disk, not the data, is the problem.
STORAGE_CODES = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN")


class StateUnwritable(LineflowError):
    """The state store's file cannot be written (disk full, read-only, gone): one line naming
    the file and the cause; what was written before stays consistent (SQLite's journal)."""


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What feature modules use of a connection (sqlite3's names; Postgres is adapted)."""

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor: ...
    def executemany(self, sql: str, params: Iterable[Sequence[Any]], /) -> Any: ...


class StateStore(ABC):
    """The contract every backend keeps (see the module docstring)."""

    create: bool

    @abstractmethod
    def connect(self) -> AbstractContextManager[Connection]:
        """A connection in autocommit mode; use `transaction` for writes that must be atomic."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Connection]:
        """One atomic transaction, serialised with every other: read-then-write is safe."""

    @abstractmethod
    def ensure(self, feature: str) -> None:
        """Make a feature's tables (`schema.FEATURES`) usable, once per process."""

    @abstractmethod
    def tables(self) -> set[str]:
        """The tables that exist (a feature's are absent until it first ran)."""

    @abstractmethod
    def columns(self, table: str) -> set[str]:
        """A table's column names (empty when the table does not exist)."""

    @abstractmethod
    def where(self) -> str:
        """Where the store is, for messages: a path, or postgres host:port/db (no password)."""


def upsert_sql(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """`INSERT ... ON CONFLICT (key) DO UPDATE` every other column: a row replaced whole, in
    the form both backends accept (SQLite's `INSERT OR REPLACE` is not Postgres)."""
    others = [c for c in columns if c not in key]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in others)
    )


# -- SQLite ------------------------------------------------------------------------------------


def storage_problem(path: Path, exc: sqlite3.Error) -> str | None:
    """The cause, in the operating system's words, of a SQLite error that is the disk's (None
    when it is not: a busy database, bad SQL). SQLite says "disk I/O error" when a full disk
    stops it growing its shared-memory file; the free space tells the two apart."""
    code = getattr(exc, "sqlite_errorname", "")
    if not code.startswith(STORAGE_CODES):
        return None
    if code.startswith(("SQLITE_FULL", "SQLITE_IOERR")):
        try:
            free = os.statvfs(path.parent).f_bavail
        except OSError:
            free = 1
        if code.startswith("SQLITE_FULL") or free == 0:
            return os.strerror(errno.ENOSPC)
    if code.startswith("SQLITE_READONLY"):
        return os.strerror(errno.EROFS) if _read_only_fs(path) else "read-only database file"
    return str(exc)


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _write_ahead_log(con: sqlite3.Connection, budget_s: float) -> None:
    """Put the file in WAL mode. WAL is a property of the file, so it is read first and set
    only by the first connection ever. Setting it needs the file to itself, and SQLite does not
    run the busy handler for that statement: processes opening a new store together (a multirun's
    jobs) got "database is locked" at once. So it is retried, with a growing pause, within the
    busy timeout, until it is WAL (set here or by another process meanwhile)."""
    deadline = time.monotonic() + budget_s
    pause = 0.005
    while con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            con.execute("PRAGMA journal_mode=WAL")
            return  # set, or refused without an error (a file system without WAL): as before
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise
            time.sleep(pause)  # a lock poll's back-off, as SQLite's own busy handler does
            pause = min(pause * 2, 0.1)


#: Connections a forked child inherited from its parent: kept referenced, never closed.
_INHERITED: list[sqlite3.Connection] = []


class _Kept(threading.local):
    """A thread's kept connection to one store, and whether a use of it is under way."""

    con: sqlite3.Connection | None = None
    pid = 0  # the process that opened it
    busy = False


class SqliteStore(StateStore):
    """`{home}/state.sqlite`: SQLite in WAL mode, shared by the processes of one machine.

    While a `create=False` store's file is absent, every connection is an empty in-memory store
    holding every table, so readers see "nothing here" and a home that never ran stays untouched.
    """

    def __init__(self, path: Path, busy_timeout_s: float = 30.0, create: bool = True) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self.create = create
        self._ensured: set[str] = set()
        self._kept = _Kept()  # each thread's connection (`connect`)

    def __getstate__(self) -> dict[str, Any]:
        """Sent to another process (predict's workers): without this process's connections."""
        state = self.__dict__.copy()
        del state["_kept"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._kept = _Kept()

    def _absent(self) -> bool:
        return not self.create and not self.path.exists()

    def where(self) -> str:
        return str(self.path)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode: this thread's, kept open between uses.

        Opening one (the file, its WAL mode, its schema read on the first statement) cost 0.7
        ms of CPU, more than the short statement it was for: a 40-date backfill opened 568,
        0.40 s of the main process's CPU (docs/benchmarks.md). So each thread keeps its
        connection for its next use, as long as this store object lives (a run's). A use
        nested in another of the same thread, or a forked child, opens its own, as before; a
        connection that raised, or that a caller left inside a transaction, is rolled back
        and closed, never kept. An idle connection holds no lock on the file, provided no
        cursor of the block outlives it half read (a live one would keep its snapshot for the
        thread's next use): callers read their rows inside the block, as before, when the
        connection closed at its end."""
        if self._absent():
            empty = sqlite3.connect(":memory:", isolation_level=None)
            try:
                empty.row_factory = sqlite3.Row
                empty.executescript("".join(ddl(f, "sqlite") for f in FEATURES))
                yield empty
            finally:
                empty.close()
            return
        kept = self._kept
        if kept.pid != os.getpid() and kept.con is not None:
            # A forked child's copy of its parent's connection: neither used nor closed here
            # (SQLite's rule for a connection across a fork).
            _INHERITED.append(kept.con)
            kept.con = None
        with self._storage_errors():
            if kept.busy:  # nested in another use of this thread's: one of its own, as before
                nested = self._open()
                try:
                    yield nested
                finally:
                    nested.close()
                return
            con = kept.con
            if con is None:
                con = self._open()
                kept.con, kept.pid = con, os.getpid()
            kept.busy = True
            try:
                yield con
            except BaseException:
                self._drop()
                raise
            finally:
                kept.busy = False
            if con.in_transaction:  # left open by the caller: closing rolled it back before
                self._drop()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        try:
            con.row_factory = sqlite3.Row
            con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            _write_ahead_log(con, self.busy_timeout_s)
            con.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            con.close()
            raise
        return con

    @contextmanager
    def _storage_errors(self) -> Iterator[None]:
        """A SQLite error that is the disk's, said in one line naming the file."""
        try:
            yield
        except sqlite3.Error as exc:
            problem = storage_problem(self.path, exc)
            if problem is None:
                raise
            raise StateUnwritable(f"{self.path}: {problem}") from None

    def _drop(self) -> None:
        """Close this thread's kept connection (rolling back what it left open)."""
        con, self._kept.con = self._kept.con, None
        if con is not None:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: takes the write lock up front, so read-then-write is atomic."""
        with self.connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def ensure(self, feature: str) -> None:
        """Create a feature's tables once per process (idempotent DDL)."""
        if feature in self._ensured:
            return
        if self._absent():
            return  # every connection to an absent store holds every table already
        with self.connect() as con:
            con.executescript(ddl(feature, "sqlite"))
        self._ensured.add(feature)

    def tables(self) -> set[str]:
        if not self.path.is_file():
            return set()
        with self.connect() as con:
            rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return {r[0] for r in rows}

    def columns(self, table: str) -> set[str]:
        with self.connect() as con:
            return {r[1] for r in con.execute(f"PRAGMA table_info({table})").fetchall()}
