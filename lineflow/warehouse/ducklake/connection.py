"""The DuckLake warehouse's connection: the lake attached to an in-memory DuckDB, per process.

A DuckLake keeps its catalog in a database (Postgres for several machines, a DuckDB file for
one) and its rows in Parquet files under a data path (a folder or an object-store URL). Every
commit is one snapshot; readers read a snapshot and never block a writer, and writers of
several processes commit side by side. DuckLake detects conflicts per table, not per row or
partition: a commit that deletes from a table another process inserted into meanwhile (two
partitions replacing their rows of `quarantine`, say) fails, and `retrying` runs the writing
method again, whole, on the newer snapshot. Each writing method is one unit that reads what it
needs in its own transaction, so a second run is the same as one run a little later.

Invariants:
- The extensions are loaded from the installed wheels (`duckdb-extension-*`, the `lake` extra);
  autoinstall and autoload are off: nothing is ever downloaded at run time.
- The catalog's conninfo is read from the environment variable the config names, and never
  appears in a message: errors from the catalog are repeated with it masked.
- A DuckDB-file catalog allows one process at a time, like a DuckDB warehouse file: the file
  lock and hand-over of `SharedConnection` apply to it unchanged. A Postgres catalog needs
  neither: processes on any machine hold their own connections.
"""

from __future__ import annotations

import importlib.util
import os
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

import duckdb
import polars as pl

from lineflow.core.errors import ConfigError, TransientError
from lineflow.warehouse.duckdb import schema
from lineflow.warehouse.duckdb.connection import SharedConnection, WarehouseBusy, _link, _stderr

if TYPE_CHECKING:
    from lineflow.config import WarehouseConfig

T = TypeVar("T")

#: The wheels holding each extension DuckLake needs (the `lake` extra installs them).
EXTENSION_WHEELS = {
    "ducklake": "duckdb_extension_ducklake",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    "httpfs": "duckdb_extension_httpfs",
}

#: How often a write is run again after its commit conflicted with other processes' before the
#: run gives up (exit 4, as for a busy warehouse). Each conflict means another commit went
#: through, so the lake made progress meanwhile; 30 allows for a few dozen concurrent writers.
CONFLICT_ATTEMPTS = 30
#: How often an attach is tried while other processes are creating the same empty catalog.
INIT_ATTEMPTS = 5


class LakeUnreachable(TransientError):
    """The lake's catalog could not be attached (Postgres down, a wrong conninfo): a run that
    needs it fails and is retried later. The message never holds the conninfo."""


def extension_path(name: str) -> Path:
    """The extension's file in its installed wheel, built for this process's DuckDB."""
    wheel = EXTENSION_WHEELS[name]
    spec = importlib.util.find_spec(wheel)
    if spec is None or spec.origin is None:
        raise ConfigError(
            f"warehouse.kind=ducklake: the {name} extension is not installed "
            f"(pip install 'lineflow[lake]')"
        )
    path = Path(spec.origin).parent / "extensions" / f"v{duckdb.__version__}"
    path = path / f"{name}.duckdb_extension"
    if not path.is_file():
        raise ConfigError(
            f"warehouse.kind=ducklake: the installed {wheel.replace('_', '-')} is not built for "
            f"DuckDB {duckdb.__version__} (pip install 'lineflow[lake]' installs matching ones)"
        )
    return path


def is_conflict(exc: BaseException) -> bool:
    """Whether DuckLake refused a commit because another process's commit touched its tables."""
    return isinstance(exc, duckdb.TransactionException) and "Transaction conflict" in str(exc)


def is_init_race(exc: BaseException) -> bool:
    """Whether an ATTACH failed because another process created the empty catalog's tables at
    the same moment (Postgres refuses to make the same table twice): the catalog is there now."""
    text = str(exc)
    return "Failed to initialize DuckLake" in text and (
        "already exists" in text or "duplicate key value" in text
    )


def mask(text: str, secret: str) -> str:
    """`text` without the conninfo, nor any password written in another form."""
    if secret:
        text = text.replace(secret, "<catalog>")
    text = re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text, flags=re.IGNORECASE)
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class LakeConnection(SharedConnection):
    """One process's connection to a DuckLake, shared by its threads a session at a time."""

    RELIEVES = False

    def __init__(
        self,
        lake: WarehouseConfig,
        outside_wait_s: float | None = None,
        notify: Callable[[str], None] = _stderr,
    ) -> None:
        assert lake.data_path is not None
        self.lake = lake
        #: Postgres (`catalog_env`): shared by machines, no file lock; else a DuckDB file.
        self.shared = lake.catalog_env is not None
        catalog = lake.catalog if lake.catalog is not None else Path(lake.data_path)
        super().__init__(
            catalog,
            memory_limit=lake.memory_limit,
            threads=lake.threads,
            outside_wait_s=outside_wait_s,
            notify=notify,
        )
        if self.shared:
            self._link = _link(f"ducklake:${lake.catalog_env}:{lake.data_path}")

    @property
    def where(self) -> str:
        catalog = f"${self.lake.catalog_env}" if self.shared else str(self.lake.catalog)
        return f"the lake at {self.lake.data_path} (catalog {catalog})"

    def exists(self) -> bool:
        # A Postgres catalog is there or unreachable: its first session says which.
        return self.shared or self.path.is_file()

    # -- connecting ---------------------------------------------------------------------------
    # With a Postgres catalog the connection stays open between sessions, for the life of the
    # process: nobody waits for it, and an attach (extension, catalog, schema check) costs a
    # few hundred milliseconds, which a scrape paid per landed file. A DuckDB-file catalog is
    # handed over between sessions like a warehouse file.
    def open(self) -> Self:
        link = self._link
        if self.shared and link.con is not None and link.pid != os.getpid():
            link.con = None  # a forked child: its parent's connection is not this process's
        return super().open()

    def close(self) -> None:
        if not self.shared:
            super().close()
            return
        self._link.depth -= 1
        self._link.mutex.release()

    def _acquire(self) -> None:
        if self.shared:  # no file to take turns on: every process holds its own connection
            self._link.con = self._attach()
            self._link.pid = os.getpid()
        else:
            super()._acquire()

    def _attach(self) -> duckdb.DuckDBPyConnection:
        con = self._open()
        try:
            self.retrying(lambda: schema.ensure(con, lake=True))
        except BaseException:
            con.close()
            raise
        return con

    def _open(self, *, read_only: bool = False, at: str | None = None) -> duckdb.DuckDBPyConnection:
        """A connection with the lake attached as `warehouse`: read-write, or read-only, as it
        is or, given `at` (a snapshot id or an ISO time), as it was then."""
        config = {
            **self.config,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
        con = duckdb.connect(config=config)
        secret = self._catalog_dsn() if self.shared else ""
        try:
            # DuckDB draws a progress bar on stdout for a statement past 2 s, terminal or not;
            # a first attach of a Postgres catalog can take that long (and `query` prints CSV).
            con.execute("SET enable_progress_bar = false")
            con.execute(f"LOAD {_quote(str(extension_path('ducklake')))}")
            if self.shared:
                con.execute(f"LOAD {_quote(str(extension_path('postgres_scanner')))}")
            if self.lake.data_url:
                con.execute(f"LOAD {_quote(str(extension_path('httpfs')))}")
            data_path = self.lake.data_path or ""
            if not self.lake.data_url:
                Path(data_path).mkdir(parents=True, exist_ok=True)
            options = [f"DATA_PATH {_quote(data_path)}"]
            if read_only:
                options.append("READ_ONLY")
            if at is not None:
                at_option = "SNAPSHOT_VERSION" if at.isdigit() else "SNAPSHOT_TIME"
                options.append(f"{at_option} {int(at) if at.isdigit() else _quote(at)}")
            uri = f"ducklake:postgres:{secret}" if self.shared else f"ducklake:{self.path}"
            _attach_catalog(con, f"ATTACH {_quote(uri)} AS warehouse ({', '.join(options)})")
            con.execute("USE warehouse")
            con.execute("SET TimeZone = 'UTC'")
        except duckdb.IOException as exc:
            con.close()
            if not self.shared:
                raise  # a DuckDB-file catalog another program holds: `_connect` waits for it
            raise LakeUnreachable(
                f"warehouse: cannot attach {self.where}: {mask(_first_line(exc), secret)}"
            ) from None
        except duckdb.Error as exc:  # the lake is there but not as configured, or no such `at`
            con.close()
            message = mask(_first_line(exc), secret)
            raise ConfigError(f"{'warehouse' if at is None else f'at={at}'}: {message}") from None
        except BaseException:
            con.close()
            raise
        return con

    def _catalog_dsn(self) -> str:
        name = self.lake.catalog_env or ""
        value = os.environ.get(name, "").strip()
        if not value:
            raise ConfigError(
                f"warehouse.catalog_env: ${name} is not set (the lake catalog's Postgres "
                "conninfo, e.g. 'host=... dbname=lake user=...')"
            )
        return value

    # -- writing ---------------------------------------------------------------------------------
    def retrying(self, write: Callable[[], T]) -> T:
        """Run a writing method; when its commit conflicts with another process's, run it again
        on the newer snapshot, with a growing, jittered pause (writers that collided do not
        collide again in step). A method called by another writing method is part of it: the
        outer one is run again."""
        link = self._link
        if link.writing:
            return write()
        link.writing = True
        try:
            delay = 0.01
            for _attempt in range(CONFLICT_ATTEMPTS - 1):
                try:
                    return write()
                except duckdb.Error as exc:
                    if not is_conflict(exc):
                        raise
                time.sleep(delay * random.uniform(0.5, 1.5))  # backoff of an optimistic commit
                delay = min(delay * 2, 1.0)
            try:
                return write()
            except duckdb.Error as exc:
                if not is_conflict(exc):
                    raise
                raise WarehouseBusy(
                    f"warehouse: {CONFLICT_ATTEMPTS} commits to {self.where} in a row conflicted "
                    "with other processes' commits; try again later"
                ) from None
        finally:
            link.writing = False

    # -- reading ---------------------------------------------------------------------------------
    @contextmanager
    def read_session(self) -> Iterator[Self]:
        """A lake's catalog is attached, not opened as a file: readers take the ordinary
        session, as before."""
        with self.session():
            yield self

    @contextmanager
    def reading(self, at: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for readers outside the pipeline, on the lake as it is now or,
        given `at` (a snapshot id or an ISO time), as it was then. With a Postgres catalog it
        takes no turn: readers read a snapshot and never block a writer."""
        if self.shared:
            con = self._open(read_only=True, at=at)
            try:
                yield con
            finally:
                con.close()
            return
        link = self._link
        with link.mutex:
            if link.con is not None and link.depth == 0:
                self._release()  # held between sessions: the catalog file is read below
            if link.con is not None:  # inside this process's session: read there, no writes
                if at is not None:
                    raise ConfigError("at=: a lake read inside a session cannot travel in time")
                with super().reading() as con:
                    yield con
                return
            con = self._connect(lambda: self._open(read_only=True, at=at))
            try:
                yield con
            finally:
                con.close()
                self._release()

    def read(self, sql: str, params: Sequence[Any] = (), at: str | None = None) -> pl.DataFrame:
        """An ad-hoc query on the lake as it is, or as it was `at` a snapshot id or ISO time."""
        with self.reading(at) as con:
            return con.execute(sql, list(params)).pl()

    @classmethod
    def configured(cls, config: WarehouseConfig, wait_s: float | None = None) -> Self:
        return cls(config, outside_wait_s=wait_s)


def _attach_catalog(con: duckdb.DuckDBPyConnection, attach: str) -> None:
    """Attach the lake. The first attach of an empty catalog creates its tables; instances
    started together (a first deploy scaling out) all try to, and all but one find them
    created meanwhile: those attach again, to the catalog the first one made."""
    for _attempt in range(INIT_ATTEMPTS - 1):
        try:
            con.execute(attach)
            return
        except duckdb.Error as exc:
            if not is_init_race(exc):
                raise
        time.sleep(random.uniform(0.05, 0.2))  # the creator's transaction is committing
    con.execute(attach)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
