"""State that several lineflow processes on one machine share: SQLite in WAL mode.

DuckDB allows one writing process per file, so cross-process coordination (locks, work items,
dead letters, proxy health, backfill manifests) lives here instead: SQLite serialises writers
with short `BEGIN IMMEDIATE` transactions and lets readers run alongside. The tables are
declared in `lineflow.state.schema`; each feature module calls `ensure` with its feature's name.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lineflow.state.schema import FEATURES


class StateStore:
    def __init__(self, path: Path, busy_timeout_s: float = 30.0) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self._ensured: set[str] = set()

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode; use `transaction` for writes that must be atomic."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        try:
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            yield con
        finally:
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
        """Create a feature's tables (`schema.FEATURES`) once per process (idempotent DDL)."""
        if feature in self._ensured:
            return
        with self.connect() as con:
            con.executescript(FEATURES[feature])
        self._ensured.add(feature)
