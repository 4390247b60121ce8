"""State that several lineflow processes on one machine share: SQLite in WAL mode.

DuckDB allows one writing process per file, so cross-process coordination (locks, work items,
dead letters, proxy health, backfill manifests) lives here instead: SQLite serialises writers
with short `BEGIN IMMEDIATE` transactions and lets readers run alongside. The tables are
declared in `lineflow.state.schema`; each feature module calls `ensure` with its feature's name.

A store opened with `create=False` (the read-only commands: `locks`, `dlq`, `backfill status`,
`backfill resume` of an unknown id) never creates the file: while it is absent, every connection
is an empty in-memory store holding every table, so readers see "nothing here" and a home that
never ran stays untouched.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lineflow.core.errors import LineflowError
from lineflow.state.schema import FEATURES

#: SQLite's result codes for a file it cannot write: the disk, not the data, is the problem.
STORAGE_CODES = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN")


class StateUnwritable(LineflowError):
    """The state store's file cannot be written (disk full, read-only, gone): one line naming
    the file and the cause; what was written before stays consistent (SQLite's journal)."""


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


class StateStore:
    def __init__(self, path: Path, busy_timeout_s: float = 30.0, create: bool = True) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self.create = create
        self._ensured: set[str] = set()

    def _absent(self) -> bool:
        return not self.create and not self.path.exists()

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode; use `transaction` for writes that must be atomic."""
        if self._absent():
            con = sqlite3.connect(":memory:", isolation_level=None)
            try:
                con.row_factory = sqlite3.Row
                con.executescript("".join(FEATURES.values()))
                yield con
            finally:
                con.close()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
            try:
                con.row_factory = sqlite3.Row
                con.execute("PRAGMA journal_mode=WAL")
                con.execute("PRAGMA synchronous=NORMAL")
                con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
                yield con
            finally:
                con.close()
        except sqlite3.Error as exc:
            problem = storage_problem(self.path, exc)
            if problem is None:
                raise
            raise StateUnwritable(f"{self.path}: {problem}") from None

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
        """Create a feature's tables (`schema.FEATURES`) once per process (idempotent DDL)."""
        if feature in self._ensured:
            return
        if self._absent():
            return  # every connection to an absent store holds every table already
        with self.connect() as con:
            con.executescript(FEATURES[feature])
        self._ensured.add(feature)
