"""The shared state store: one Postgres database for several lineflow instances
(`state.backend=postgres`, the DSN in the environment variable `state.dsn_env` names).

It keeps `StateStore`'s contract with the same SQL the feature modules write for SQLite:
- `?` placeholders become psycopg's `%s` (quoted text left alone), rows answer `row[0]`,
  `row["name"]` and `dict(row)` like `sqlite3.Row`;
- `transaction()` takes a transaction-scoped advisory lock first, so write transactions are
  serialised across every instance as SQLite's `BEGIN IMMEDIATE` serialises them across the
  processes of a machine (each holds it for milliseconds; readers never wait). The hot path
  of several instances, claiming work, needs no such lock: it is one atomic
  `INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING` (`lineflow.state.work`);
- feature tables are created on first use, under the same lock (two sessions creating the
  same table at once race in Postgres' catalog); a `create=False` store creates nothing in the
  shared database: a feature whose tables are absent is read from empty temporary tables.

The DSN's password never reaches a message: errors name the store as `postgres host:port/db`.
Each `connect()` opens its own connection (a few ms on a LAN): a connection is never shared
between threads (heartbeats) or inherited by a worker process.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from lineflow.core.errors import ConfigError, TransientError
from lineflow.state.schema import ddl, feature_tables
from lineflow.state.store import StateStore

#: The advisory lock every write transaction takes (any constant; "lineflow" in ASCII).
WRITE_LOCK = 0x6C696E65666C6F77
#: Seconds to wait for the server before reporting it unreachable (unless the DSN says).
CONNECT_TIMEOUT_S = 10


class StateUnavailable(TransientError):
    """The Postgres state store cannot be reached (down, wrong host, refused login): one line
    naming `host:port/db`, never the password; a later attempt may succeed."""


class Row(tuple):
    """A result row read like `sqlite3.Row`: by position, by column name, or as `dict(row)`."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Any:
    index = {c.name: i for i, c in enumerate(cursor.description or ())}
    return lambda values: Row(values, index)


@lru_cache(maxsize=512)
def placeholders(sql: str) -> str:
    """sqlite's `?` as psycopg's `%s`, a literal `%` doubled; inside quotes nothing changes."""
    parts = re.split(r"('(?:[^']|'')*')", sql)
    out = []
    for i, part in enumerate(parts):
        if i % 2:  # a quoted literal
            out.append(part.replace("%", "%%"))
        else:
            out.append(part.replace("%", "%%").replace("?", "%s"))
    return "".join(out)


class PgConnection:
    """A psycopg connection speaking `StateStore`'s Connection (sqlite3's method names)."""

    def __init__(self, con: Any) -> None:
        self._con = con

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cur = self._con.cursor()
        if params:
            cur.execute(placeholders(sql), tuple(params))
        else:  # no parameters: psycopg leaves the text alone (several statements allowed)
            cur.execute(sql)
        return cur

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> Any:
        cur = self._con.cursor()
        cur.executemany(placeholders(sql), [tuple(p) for p in params])
        return cur


class PostgresStore(StateStore):
    """One Postgres database, shared by every instance configured with its DSN."""

    def __init__(self, dsn: str, create: bool = True) -> None:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ConfigError(
                "state.backend=postgres needs the Postgres driver: pip install 'lineflow[postgres]'"
            ) from None
        from psycopg.conninfo import conninfo_to_dict

        try:
            params = conninfo_to_dict(dsn)
        except Exception:  # the parser quotes the DSN, password included: never show it
            raise ConfigError(
                "state: the Postgres DSN cannot be parsed (expected postgresql://USER:PASSWORD"
                "@HOST:PORT/DB or 'host=... dbname=...')"
            ) from None
        self.dsn = dsn
        self.create = create
        self._label = "postgres {}:{}/{}".format(
            params.get("host") or params.get("hostaddr") or "localhost",
            params.get("port") or 5432,
            params.get("dbname") or params.get("user") or os.environ.get("USER", ""),
        )
        self._password = str(params.get("password") or "")
        timeout = str(params.get("connect_timeout") or "")
        self._timeout = int(timeout) if timeout.isdigit() else CONNECT_TIMEOUT_S
        self._ensured: set[str] = set()

    @classmethod
    def from_env(cls, variable: str, create: bool = True) -> PostgresStore:
        dsn = os.environ.get(variable, "").strip()
        if not dsn:
            raise ConfigError(
                f"state: environment variable {variable} not set (state.backend=postgres reads "
                "the Postgres DSN from the variable state.dsn_env names)"
            )
        return cls(dsn, create=create)

    def where(self) -> str:
        return self._label

    def __repr__(self) -> str:  # never the DSN: it may hold the password
        return f"PostgresStore({self._label})"

    def _scrub(self, text: str) -> str:
        line = " ".join(str(text).split())
        return line.replace(self._password, "***") if self._password else line

    def _open(self) -> Any:
        import psycopg

        try:
            con = psycopg.connect(
                self.dsn,
                autocommit=True,
                row_factory=_row_factory,
                connect_timeout=self._timeout,
            )
        except psycopg.OperationalError as exc:
            raise StateUnavailable(
                f"state store {self._label}: cannot connect: {self._scrub(str(exc))}"
            ) from None
        if not self.create:
            self._shadow_absent(con)
        return con

    @contextmanager
    def connect(self) -> Iterator[PgConnection]:
        con = self._open()
        try:
            yield PgConnection(con)
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:
        con = self._open()
        try:
            with con.transaction():
                con.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                yield PgConnection(con)
        finally:
            con.close()

    def ensure(self, feature: str) -> None:
        if feature in self._ensured:
            return
        if self.create:
            with self.transaction() as con:  # under the lock: concurrent creation would race
                con.execute(ddl(feature, "postgres"))
        self._ensured.add(feature)

    def _shadow_absent(self, con: Any) -> None:
        """Empty temporary tables for the ensured features whose tables do not exist, so a
        read-only command reads "nothing here" and leaves the shared database as it was."""
        if not self._ensured:
            return
        present = _tables(con)
        for feature in sorted(self._ensured):
            if not set(feature_tables(feature)) <= present:
                con.execute(ddl(feature, "postgres", temporary=True))

    def tables(self) -> set[str]:
        with self.connect() as con:
            return _tables(con._con)

    def columns(self, table: str) -> set[str]:
        with self.connect() as con:
            rows = con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = ?",
                (table,),
            ).fetchall()
        return {r[0] for r in rows}


def _tables(con: Any) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    ).fetchall()
    return {r[0] for r in rows}
