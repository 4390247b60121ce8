"""The local warehouse: one DuckDB file holding the manifest, ledgers, staging and main tables."""

from __future__ import annotations

import fcntl
import functools
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import polars as pl

from lineflow.errors import LineflowError

if TYPE_CHECKING:
    from lineflow.config import WarehouseConfig
from lineflow.faults import kill_point
from lineflow.schema import PROP_LINES, PROP_LINES_KEY
from lineflow.warehouse.base import PARTITION_COLUMN, Column, TableSpec, columns_to_add

T = TypeVar("T")

_SQL_TYPES = {
    pl.Date(): "DATE",
    pl.String(): "VARCHAR",
    pl.Float64(): "DOUBLE",
    pl.Int32(): "INTEGER",
    pl.Boolean(): "BOOLEAN",
    pl.Datetime("us", "UTC"): "TIMESTAMPTZ",
}


# DuckDB column types in the protocol's (BigQuery's) vocabulary.
_PROTOCOL_TYPES = {
    "VARCHAR": "STRING",
    "BOOLEAN": "BOOL",
    "TINYINT": "INT64",
    "SMALLINT": "INT64",
    "INTEGER": "INT64",
    "BIGINT": "INT64",
    "UTINYINT": "INT64",
    "USMALLINT": "INT64",
    "UINTEGER": "INT64",
    "FLOAT": "FLOAT64",
    "DOUBLE": "FLOAT64",
    "DATE": "DATE",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
    "TIMESTAMP": "DATETIME",
    "BLOB": "BYTES",
    "JSON": "JSON",
}
_DUCKDB_TYPES = {
    "STRING": "VARCHAR",
    "BOOL": "BOOLEAN",
    "INT64": "BIGINT",
    "FLOAT64": "DOUBLE",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMPTZ",
    "DATETIME": "TIMESTAMP",
    "BYTES": "BLOB",
    "JSON": "JSON",
    "NUMERIC": "DECIMAL(38, 9)",
}


def protocol_type(table: str, column: str, duckdb_type: str) -> str:
    """A DuckDB column type in the protocol's vocabulary; unknown types stop with a message."""
    if duckdb_type.startswith("DECIMAL"):
        return "NUMERIC"
    if duckdb_type.endswith("[]"):
        return "STRING"  # lists (reasons, sample keys) publish as JSON array text
    try:
        return _PROTOCOL_TYPES[duckdb_type]
    except KeyError:
        raise LineflowError(
            f"table {table}: column {column} has type {duckdb_type}, which lineflow cannot publish"
        ) from None


def _columns_ddl(schema: dict[str, pl.DataType]) -> str:
    return ", ".join(f"{name} {_SQL_TYPES[dtype]}" for name, dtype in schema.items())


DDL = f"""
CREATE TABLE IF NOT EXISTS landed_files (
    path VARCHAR PRIMARY KEY, file_id VARCHAR NOT NULL, source VARCHAR NOT NULL,
    endpoint VARCHAR NOT NULL, slate_date DATE NOT NULL, pass_id VARCHAR NOT NULL,
    bytes BIGINT NOT NULL, url VARCHAR, http_status INTEGER, fetched_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS processed_files (
    file_id VARCHAR NOT NULL, slate_date DATE NOT NULL, source VARCHAR NOT NULL,
    endpoint VARCHAR NOT NULL, status VARCHAR NOT NULL, rows BIGINT NOT NULL, error VARCHAR,
    processed_at TIMESTAMPTZ NOT NULL, run_id VARCHAR NOT NULL,
    PRIMARY KEY (file_id, slate_date));
CREATE TABLE IF NOT EXISTS stg_prop_lines ({_columns_ddl(PROP_LINES)}, row_no INTEGER);
CREATE TABLE IF NOT EXISTS consolidated_files (slate_date DATE NOT NULL, file_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS consolidation_drops (
    slate_date DATE NOT NULL, file_id VARCHAR NOT NULL, row_no INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS validations (
    slate_date DATE PRIMARY KEY, fingerprint VARCHAR NOT NULL, status VARCHAR NOT NULL,
    error VARCHAR, notes VARCHAR NOT NULL, rows BIGINT NOT NULL,
    validated_at TIMESTAMPTZ NOT NULL, run_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS consolidations (
    slate_date DATE PRIMARY KEY, fingerprint VARCHAR NOT NULL, rows BIGINT NOT NULL,
    consolidated_at TIMESTAMPTZ NOT NULL, run_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS blocked_resources (
    source VARCHAR NOT NULL, slate_date DATE NOT NULL, resource VARCHAR NOT NULL,
    status VARCHAR NOT NULL, detail VARCHAR, first_seen TIMESTAMPTZ NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL, retry_after TIMESTAMPTZ NOT NULL, resolved_at TIMESTAMPTZ,
    PRIMARY KEY (source, slate_date, resource));
CREATE TABLE IF NOT EXISTS run_history (
    run_id VARCHAR NOT NULL, processor VARCHAR NOT NULL, phase VARCHAR NOT NULL,
    slate_date DATE, status VARCHAR NOT NULL, started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL, files BIGINT NOT NULL, rows BIGINT NOT NULL,
    requests BIGINT NOT NULL DEFAULT 0, error VARCHAR);
CREATE TABLE IF NOT EXISTS validation_results (
    run_id VARCHAR NOT NULL, slate_date DATE NOT NULL, rule_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL, table_name VARCHAR NOT NULL, severity VARCHAR NOT NULL,
    blocking BOOLEAN NOT NULL, outcome VARCHAR NOT NULL, checked BIGINT NOT NULL,
    failed BIGINT NOT NULL, failed_fraction DOUBLE NOT NULL, passed BOOLEAN,
    sample_keys VARCHAR[] NOT NULL, detail VARCHAR, validated_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (
    rule_id VARCHAR NOT NULL, validation_run_id VARCHAR NOT NULL,
    quarantined_at TIMESTAMPTZ NOT NULL, {_columns_ddl(PROP_LINES)});
CREATE TABLE IF NOT EXISTS line_quality (
    slate_date DATE NOT NULL, player_key VARCHAR NOT NULL, market VARCHAR NOT NULL,
    passed BOOLEAN NOT NULL, reasons VARCHAR[] NOT NULL, player_name VARCHAR,
    books BIGINT NOT NULL, usable_books BIGINT NOT NULL, line DOUBLE,
    run_id VARCHAR NOT NULL, evaluated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (slate_date, market, player_key));
"""

#: `prop_lines` is staging seen through the last consolidation of each partition: the rows of
#: the files it took, less the rows it left out (dedup losers, quarantined rows). Rows are
#: stored once: a partition's consolidation writes a few hundred file ids and a handful of
#: row numbers, not a second copy of its ~35k rows (that copy cost a quarter of processing
#: a season; docs/benchmarks.md). Staging is append-only and a file is staged once per
#: partition, so the rows behind the view never change under it.
PROP_LINES_VIEW = f"""
CREATE VIEW IF NOT EXISTS prop_lines AS
SELECT {", ".join(f"s.{c}" for c in PROP_LINES)} FROM stg_prop_lines s
WHERE EXISTS (SELECT 1 FROM consolidated_files f
              WHERE f.slate_date = s.slate_date AND f.file_id = s.file_id)
  AND NOT EXISTS (SELECT 1 FROM consolidation_drops d
                  WHERE d.slate_date = s.slate_date AND d.file_id = s.file_id
                    AND d.row_no = s.row_no)
"""


def _upgrade(con: duckdb.DuckDBPyConnection) -> None:
    """A warehouse written before `prop_lines` became a view over staging (PROP_LINES_VIEW)
    is converted in one transaction: staged rows are numbered per file in the order they were
    staged, the files and rows the old table held become the consolidations' file and drop
    lists, and the table goes. The view then shows exactly the rows the table held."""
    kind, numbered = con.execute(
        "SELECT (SELECT any_value(table_type) FROM information_schema.tables "
        "        WHERE table_catalog = current_database() AND table_schema = 'main' "
        "          AND table_name = 'prop_lines'), "
        "       (SELECT count(*) FROM information_schema.columns "
        "        WHERE table_catalog = current_database() AND table_schema = 'main' "
        "          AND table_name = 'stg_prop_lines' AND column_name = 'row_no')"
    ).fetchone() or (None, 1)
    if kind != "BASE TABLE" and numbered:
        return
    key = PROP_LINES_KEY
    con.execute("BEGIN TRANSACTION")
    try:
        if not numbered:
            con.execute("ALTER TABLE stg_prop_lines ADD COLUMN row_no INTEGER")
            con.execute(
                "UPDATE stg_prop_lines SET row_no = n.row_no FROM (SELECT rowid AS r, "
                "(row_number() OVER (PARTITION BY slate_date, file_id ORDER BY rowid) - 1)"
                "::INTEGER AS row_no FROM stg_prop_lines) n WHERE stg_prop_lines.rowid = n.r"
            )
        if kind == "BASE TABLE":
            con.execute(
                "INSERT INTO consolidated_files SELECT DISTINCT slate_date, file_id FROM prop_lines"
            )
            same = " AND ".join(f"kept.{c} IS NOT DISTINCT FROM st.{c}" for c in key)
            con.execute(
                f"""
                INSERT INTO consolidation_drops
                WITH kept AS (
                    SELECT file_id, {", ".join(key)}, count(*) AS n FROM prop_lines GROUP BY ALL),
                staged AS (
                    SELECT s.file_id, s.row_no, {", ".join(f"s.{c}" for c in key)},
                           row_number() OVER (PARTITION BY s.file_id, {", ".join(key)}
                                              ORDER BY s.row_no) AS k
                    FROM stg_prop_lines s
                    WHERE EXISTS (SELECT 1 FROM consolidated_files f
                                  WHERE f.slate_date = s.slate_date AND f.file_id = s.file_id))
                SELECT st.slate_date, st.file_id, st.row_no FROM staged st
                LEFT JOIN kept ON kept.file_id = st.file_id AND {same}
                WHERE st.k > coalesce(kept.n, 0)
                """
            )
            con.execute("DROP TABLE prop_lines")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


@dataclass(frozen=True)
class LandedRow:
    path: str
    file_id: str
    source: str
    endpoint: str
    slate_date: date
    pass_id: str
    bytes: int
    url: str | None
    http_status: int | None
    fetched_at: datetime
    run_id: str


@dataclass(frozen=True)
class Validated:
    """What the validate stage concluded for a partition, from inputs digested as `fingerprint`."""

    fingerprint: str
    status: str
    error: str | None
    notes: list[str]
    rows: int
    run_id: str = ""


@dataclass(frozen=True)
class StagedFile:
    """One processed file: its manifest row, how many canonical rows it gave, how it went."""

    file: dict[str, Any]
    rows: int
    status: str = "ok"
    error: str | None = None


LANDED_SCHEMA: dict[str, pl.DataType] = {
    "path": pl.String(),
    "file_id": pl.String(),
    "source": pl.String(),
    "endpoint": pl.String(),
    "slate_date": pl.Date(),
    "pass_id": pl.String(),
    "bytes": pl.Int64(),
    "url": pl.String(),
    "http_status": pl.Int32(),
    "fetched_at": pl.Datetime("us", "UTC"),
    "run_id": pl.String(),
}


def landed_frame(rows: Sequence[LandedRow]) -> pl.DataFrame:
    """Manifest rows as a frame of `LANDED_SCHEMA`. Columns from the fields directly:
    dataclasses.astuple deep-copies every value, which cost as much as the insert (a season
    registers 40k files)."""
    return pl.DataFrame(
        {name: [getattr(r, name) for r in rows] for name in LANDED_SCHEMA}, schema=LANDED_SCHEMA
    )


_LEDGER_SCHEMA: dict[str, pl.DataType] = {
    "file_id": pl.String(),
    "slate_date": pl.Date(),
    "source": pl.String(),
    "endpoint": pl.String(),
    "status": pl.String(),
    "rows": pl.Int64(),
    "error": pl.String(),
    "processed_at": pl.Datetime("us", "UTC"),
    "run_id": pl.String(),
}


@dataclass(frozen=True)
class RunRow:
    run_id: str
    processor: str
    phase: str
    slate_date: date | None
    status: str
    started_at: datetime
    finished_at: datetime
    files: int
    rows: int
    requests: int
    error: str | None


def _in_session(method: Callable[..., T]) -> Callable[..., T]:
    """Run a warehouse method inside a session, opening a short one when none is active."""

    @functools.wraps(method)
    def wrapper(self: DuckDBWarehouse, *args: Any, **kwargs: Any) -> T:
        with self.session():
            return method(self, *args, **kwargs)

    return wrapper


#: Rows per row group of the warehouse file, and the write-ahead log a session may build up
#: before DuckDB checkpoints mid-session (see `_acquire`).
ROW_GROUP_SIZE = 8_192
CHECKPOINT_THRESHOLD = "64MB"
#: Compression DuckDB need not try when it writes a column: FSST never won on lineflow's
#: strings (few distinct teams, markets, players and books: dictionary compression wins), yet
#: analysing every string segment for it was a quarter of storing staged rows
#: (docs/benchmarks.md).
DISABLED_COMPRESSION = "fsst"


class WarehouseBusy(LineflowError):
    """Another process kept the warehouse longer than the configured wait."""


class _Link:
    """This process's link to one warehouse file: the connection and the file lock it holds.

    Every DuckDBWarehouse of the same file in the process shares it: one session at a time
    across threads (`mutex`), so a partition parsing in one thread while another writes never
    opens a second connection, which DuckDB would refuse.
    """

    def __init__(self) -> None:
        self.mutex = threading.RLock()
        self.depth = 0  # nested sessions of the thread holding `mutex`
        self.holds = 0  # open `hold()` scopes, any thread
        self.con: duckdb.DuckDBPyConnection | None = None
        self.lock_fd: int | None = None
        self.wait_fd: int | None = None
        self.watcher: _Watcher | None = None


class _Watcher(threading.Thread):
    """While a `hold()` keeps the connection, hands the warehouse to a waiting process between
    sessions too (a thread of the holder may wait for a stage lock, or on the network, for a
    long time without a session)."""

    #: How often it looks for a waiting process: a waiter waits at most this past a session.
    INTERVAL_S = 0.1

    def __init__(self, warehouse: DuckDBWarehouse) -> None:
        super().__init__(name="lineflow-warehouse-watcher", daemon=True)
        self.warehouse = warehouse
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.INTERVAL_S):  # flock has no notification: poll it
            self.warehouse.let_go_if_asked()

    def stop(self) -> None:
        self.done.set()


_LINKS: dict[Path, _Link] = {}
_LINKS_LOCK = threading.Lock()


def _link(path: Path) -> _Link:
    key = path.resolve()
    with _LINKS_LOCK:
        return _LINKS.setdefault(key, _Link())


class DuckDBWarehouse:
    """All tables of one lineflow home.

    DuckDB allows one writing process per file, so every access runs inside a `session()`:
    an exclusive file lock (shared by every lineflow process on the machine) plus a connection.
    Sessions nest; methods called outside one open their own. At the end of a session the
    connection closes (DuckDB checkpoints) and the lock is released, so runs of different
    partitions interleave their short writes instead of failing. Within `hold()` (a run's local
    stages, a backfill) the connection stays open between sessions, saving a connect and a
    checkpoint per session, until another process asks for the warehouse: a waiting process
    marks itself on `<path>.wait` and the holder lets go at the end of its current session.
    """

    def __init__(
        self,
        path: Path,
        lock_timeout_s: float = 600.0,
        *,
        memory_limit: str = "64MB",
        threads: int = 1,
    ) -> None:
        self.path = path
        self.lock_timeout_s = lock_timeout_s
        self.config: dict[str, str | bool | int | float | list[str]] = {
            "memory_limit": memory_limit,
            "threads": threads,
        }
        self._link = _link(path)

    @contextmanager
    def session(self) -> Iterator[DuckDBWarehouse]:
        """Exclusive use of the warehouse: no other thread or process uses it meanwhile."""
        self.open()
        try:
            yield self
        finally:
            self.close()

    @contextmanager
    def hold(self) -> Iterator[DuckDBWarehouse]:
        """Keep the connection open between the sessions of this block (one checkpoint at its
        end, not one per session) unless another process waits for the warehouse."""
        link = self._link
        with link.mutex:
            link.holds += 1
            if link.holds == 1:
                link.watcher = _Watcher(self)
                link.watcher.start()
        try:
            yield self
        finally:
            with link.mutex:
                link.holds -= 1
                if link.holds == 0:
                    if link.watcher is not None:
                        link.watcher.stop()
                        link.watcher = None
                    if link.depth == 0:
                        self._release()

    def let_go_if_asked(self) -> None:
        """Between sessions of a `hold()`: close the connection if another process waits."""
        link = self._link
        if not link.mutex.acquire(blocking=False):
            return  # a session is on: it checks when it ends
        try:
            if link.depth == 0 and link.con is not None and self._others_wait():
                self._release()
        finally:
            link.mutex.release()

    def open(self) -> DuckDBWarehouse:
        """Begin a session; `close()`, in the same thread, ends it (`session()` is the block)."""
        link = self._link
        link.mutex.acquire()
        try:
            if link.con is None:
                self._acquire()
        except BaseException:
            link.mutex.release()
            raise
        link.depth += 1
        return self

    def close(self) -> None:
        link = self._link
        link.depth -= 1
        try:
            if link.depth == 0 and (link.holds == 0 or self._others_wait()):
                self._release()
        finally:
            link.mutex.release()

    def _others_wait(self) -> bool:
        """Whether another process waits for the warehouse (it holds `<path>.wait` shared)."""
        fd = self._link.wait_fd
        if fd is None:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False

    def _acquire(self) -> None:
        link = self._link
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        wait_fd = os.open(f"{self.path}.wait", os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.005
        waiting = False
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not waiting:  # tell a holder to let go at the end of its session
                        fcntl.flock(wait_fd, fcntl.LOCK_SH)
                        waiting = True
                    if time.monotonic() >= deadline:
                        raise WarehouseBusy(
                            f"warehouse {self.path} stayed busy for {self.lock_timeout_s:.0f}s "
                            "(another lineflow process is writing)"
                        ) from None
                    time.sleep(delay)  # polling a file lock: no notification exists for flock
                    delay = min(delay * 2, 0.25)
        except BaseException:
            os.close(fd)
            os.close(wait_fd)
            raise
        if waiting:
            fcntl.flock(wait_fd, fcntl.LOCK_UN)
        link.lock_fd, link.wait_fd = fd, wait_fd
        try:
            link.con = con = duckdb.connect(config=self.config)
            path = str(self.path).replace("'", "''")
            # Row groups of 8k rows, not DuckDB's 122,880: a partition appends ~35k rows, and
            # each checkpoint rewrote the table's partly filled last row group, so checkpoints
            # cost more as the warehouse grew; a full row group costs the log less (a season:
            # 32k 122 s, 16k 108 s; with FSST off, 16k 68.0 s, 8k 62.1 s; docs/benchmarks.md).
            con.execute(f"ATTACH '{path}' AS warehouse (ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
            con.execute("USE warehouse")
            con.execute("SET TimeZone = 'UTC'")
            # Past memory_limit, DuckDB spills next to the warehouse (not the working directory).
            con.execute(f"SET temp_directory = '{path}.tmp'")
            # One checkpoint per session (or per hold) at its end, or per 64MB of log: each
            # checkpoint costs more as the warehouse grows, and the default 16MB threshold added
            # a second one to most partitions' sessions mid-way (docs/benchmarks.md).
            con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
            con.execute(f"SET disabled_compression_methods = '{DISABLED_COMPRESSION}'")
            con.execute(DDL)  # every connect (2 ms): the file may be new since the last one
            _upgrade(con)
            con.execute(PROP_LINES_VIEW)
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        link = self._link
        if link.con is not None:
            link.con.close()
            link.con = None
        for fd in (link.lock_fd, link.wait_fd):
            if fd is not None:
                os.close(fd)  # closing the descriptor releases its flock
        link.lock_fd = link.wait_fd = None

    @classmethod
    def configured(cls, config: WarehouseConfig) -> DuckDBWarehouse:
        """The warehouse as `warehouse:` in the config describes it."""
        return cls(config.path, memory_limit=config.memory_limit, threads=config.threads)

    def __enter__(self) -> DuckDBWarehouse:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        con = self._link.con
        if con is None or self._link.depth == 0:
            raise RuntimeError("warehouse used outside a session")
        return con

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    # -- landing manifest ------------------------------------------------------------------
    @_in_session
    def record_landed(self, row: LandedRow) -> None:
        self.record_landed_many([row])

    def record_landed_many(self, rows: Sequence[LandedRow] | pl.DataFrame) -> None:
        """Many manifest rows in one statement (one commit, not one per file): `LandedRow`s, or
        a frame of them (`landed_frame`), as a parse worker sends them back."""
        frame = rows if isinstance(rows, pl.DataFrame) else landed_frame(rows)
        if frame.is_empty():
            return  # no session either
        frame = frame.select(*LANDED_SCHEMA)
        with self.session():
            self._insert_frame("landed_files", frame, "ON CONFLICT DO NOTHING")

    def _insert_frame(self, table: str, frame: pl.DataFrame, suffix: str = "") -> None:
        names = ", ".join(frame.columns)
        self.con.register("_frame", frame)
        try:
            self.con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _frame {suffix}")
        finally:
            self.con.unregister("_frame")

    @_in_session
    def landed_paths(self, source: str, slate_date: date) -> set[str]:
        rows = self.con.execute(
            "SELECT path FROM landed_files WHERE source = ? AND slate_date = ?",
            [source, slate_date],
        ).fetchall()
        return {r[0] for r in rows}

    @_in_session
    def landed(self, slate_date: date, source: str | None = None) -> pl.DataFrame:
        sql = "SELECT * FROM landed_files WHERE slate_date = ?"
        params: list[Any] = [slate_date]
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        return self.con.execute(sql + " ORDER BY path", params).pl()

    # -- processing ledger and staging ------------------------------------------------------
    @_in_session
    def unprocessed(self, slate_date: date, source: str) -> pl.DataFrame:
        """Landed files of the partition whose content is not yet in the processing ledger."""
        return self.con.execute(
            """
            SELECT l.* FROM landed_files l
            WHERE l.slate_date = ? AND l.source = ?
              AND NOT EXISTS (SELECT 1 FROM processed_files p
                              WHERE p.file_id = l.file_id AND p.slate_date = l.slate_date)
            QUALIFY row_number() OVER (PARTITION BY l.file_id ORDER BY l.path) = 1
            ORDER BY l.path
            """,
            [slate_date, source],
        ).pl()

    @_in_session
    def stage_files(
        self, staged: Sequence[StagedFile], rows: pl.DataFrame, run_id: str, now: datetime
    ) -> None:
        """Stage the files' rows and mark them processed, all together or not at all.

        One transaction for many files: every DuckDB commit flushes the write-ahead log, and a
        commit per file was most of the time `process` took (see docs/benchmarks.md).
        """
        if not staged:
            return
        ledger = pl.DataFrame(
            [
                (
                    s.file["file_id"],
                    s.file["slate_date"],
                    s.file["source"],
                    s.file["endpoint"],
                    s.status,
                    s.rows,
                    s.error,
                    now,
                    run_id,
                )
                for s in staged
            ],
            schema=_LEDGER_SCHEMA,
            orient="row",
        )
        with self.transaction():
            if rows.height:
                # A file's rows come in one batch: numbered per file, they stay addressable
                # (a consolidation's drop list names rows by file and number).
                numbered = rows.with_columns(
                    row_no=pl.int_range(pl.len(), dtype=pl.Int32).over("file_id")
                )
                self._insert_frame("stg_prop_lines", numbered)
            self._insert_frame("processed_files", ledger)

    @_in_session
    def staging(self, slate_date: date) -> pl.DataFrame:
        """The partition's staged prop lines, every file's rows."""
        return self.con.execute(
            f"SELECT {', '.join(PROP_LINES)} FROM stg_prop_lines WHERE slate_date = ?",
            [slate_date],
        ).pl()

    @_in_session
    def record_validation(
        self,
        slate_date: date,
        run_id: str,
        now: datetime,
        results: pl.DataFrame,
        quarantined: pl.DataFrame,
        quality: pl.DataFrame,
        outcome: Validated,
    ) -> None:
        """Append the rules' results; replace the partition's quarantine and line quality, and
        what the stage concluded from which inputs (so that a rerun can say it again)."""
        with self.transaction() as con:
            con.execute(
                "INSERT OR REPLACE INTO validations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    slate_date,
                    outcome.fingerprint,
                    outcome.status,
                    outcome.error,
                    json.dumps(outcome.notes),
                    outcome.rows,
                    now,
                    run_id,
                ],
            )
            for name, frame in (("_results", results), ("_q", quarantined), ("_lq", quality)):
                con.register(name, frame)
            try:
                con.execute(
                    f"INSERT INTO validation_results SELECT ?, ?, {', '.join(results.columns)}, ? "
                    "FROM _results",
                    [run_id, slate_date, now],
                )
                con.execute("DELETE FROM quarantine WHERE slate_date = ?", [slate_date])
                con.execute(
                    f"INSERT INTO quarantine SELECT rule_id, ?, ?, {', '.join(PROP_LINES)} FROM _q",
                    [run_id, now],
                )
                con.execute("DELETE FROM line_quality WHERE slate_date = ?", [slate_date])
                con.execute(
                    f"INSERT INTO line_quality SELECT {', '.join(quality.columns)}, ?, ? FROM _lq",
                    [run_id, now],
                )
            finally:
                for name in ("_results", "_q", "_lq"):
                    con.unregister(name)

    @_in_session
    def last_validation(self, slate_date: date) -> Validated | None:
        row = self.con.execute(
            "SELECT fingerprint, status, error, notes, rows, run_id FROM validations "
            "WHERE slate_date = ?",
            [slate_date],
        ).fetchone()
        if row is None:
            return None
        return Validated(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5])

    @_in_session
    def quarantine_fingerprint(self, slate_date: date) -> str:
        """A digest of which rows of the partition are held back (and by which rules)."""
        key = ", ".join(("rule_id", "file_id", *PROP_LINES_KEY))
        row = self.con.execute(
            f"SELECT coalesce(md5(string_agg(k, ',' ORDER BY k)), '') FROM "
            f"(SELECT concat_ws('|', {key}) AS k FROM quarantine WHERE slate_date = ?)",
            [slate_date],
        ).fetchone()
        assert row is not None
        return str(row[0])

    @_in_session
    def forget_processed(self, file_id: str, slate_date: date) -> bool:
        """Drop a file's ledger row (a replayed dead letter), so the next run processes it.

        Only rows that loaded nothing are dropped: a file with staged rows stays processed.
        """
        row = self.con.execute(
            "DELETE FROM processed_files WHERE file_id = ? AND slate_date = ? AND rows = 0 "
            "RETURNING file_id",
            [file_id, slate_date],
        ).fetchone()
        return row is not None

    # -- consolidation -------------------------------------------------------------------------
    @_in_session
    def staging_fingerprint(self, slate_date: date) -> tuple[str, int]:
        """A digest of the partition's staged files, and how many rows they staged: from the
        processing ledger, written in the same transaction as the rows (a file's rows and its
        ledger row go together) and a hundred times smaller than staging."""
        row = self.con.execute(
            "SELECT coalesce(md5(string_agg(file_id, ',' ORDER BY file_id)), ''), "
            "coalesce(sum(rows), 0) FROM processed_files WHERE slate_date = ? AND rows > 0",
            [slate_date],
        ).fetchone()
        assert row is not None
        return row[0], int(row[1])

    @_in_session
    def consolidated_fingerprint(self, slate_date: date) -> str | None:
        row = self.con.execute(
            "SELECT fingerprint FROM consolidations WHERE slate_date = ?", [slate_date]
        ).fetchone()
        return row[0] if row else None

    @_in_session
    def consolidate(self, slate_date: date, fingerprint: str, run_id: str, now: datetime) -> int:
        """Make the partition's staged rows, deduplicated, what `prop_lines` shows, atomically.

        The consolidation takes every file staged for the partition and leaves out rows in
        quarantine (same file, same natural key) and, of rows with the same natural key, all
        but the latest. Only those choices are written (PROP_LINES_VIEW), not the rows.
        """
        key = ", ".join(PROP_LINES_KEY)
        with self.transaction() as con:
            con.execute("DELETE FROM consolidated_files WHERE slate_date = ?", [slate_date])
            con.execute("DELETE FROM consolidation_drops WHERE slate_date = ?", [slate_date])
            kill_point("mid_consolidate")
            con.execute(
                "INSERT INTO consolidated_files "
                "SELECT DISTINCT slate_date, file_id FROM stg_prop_lines WHERE slate_date = ?",
                [slate_date],
            )
            # Distinct hashes of the key prove there are no duplicate keys, at a third of the
            # cost of distinct keys; a partition with fewer (duplicates, or a collision) goes
            # the exact way.
            rows, twice, held = con.execute(
                f"""
                SELECT count(*), count(*) - count(DISTINCT hash({key})),
                       (SELECT count(*) FROM quarantine WHERE slate_date = $1)
                FROM stg_prop_lines WHERE slate_date = $1
                """,
                [slate_date],
            ).fetchone() or (0, 0, 0)
            if twice or held:  # else (most partitions) every staged row is kept
                rows -= self._drop_rows(slate_date)
            con.execute(
                "INSERT OR REPLACE INTO consolidations VALUES (?, ?, ?, ?, ?)",
                [slate_date, fingerprint, rows, now, run_id],
            )
        return int(rows)

    def _drop_rows(self, slate_date: date) -> int:
        """Write which of the partition's staged rows its consolidation leaves out: rows in
        quarantine, and of rows with the same natural key all but the latest (ties: by file,
        then first in the file). Returns how many."""
        key = ", ".join(PROP_LINES_KEY)
        held = " AND ".join(
            f"q.{c} IS NOT DISTINCT FROM s.{c}" for c in ("file_id", *PROP_LINES_KEY)
        )
        row = self.con.execute(
            f"""
            INSERT INTO consolidation_drops
            SELECT slate_date, file_id, row_no FROM (
                SELECT *, EXISTS (SELECT 1 FROM quarantine q WHERE {held}) AS held
                FROM stg_prop_lines s WHERE s.slate_date = ?)
            QUALIFY held OR row_number() OVER (
                PARTITION BY held, {key}
                ORDER BY last_update DESC NULLS LAST, file_id, row_no) > 1
            """,
            [slate_date],
        ).fetchone()
        return int(row[0]) if row else 0

    # -- blocked resources ---------------------------------------------------------------------
    @_in_session
    def open_block(self, source: str, slate_date: date) -> dict[str, Any] | None:
        frame = self.con.execute(
            "SELECT * FROM blocked_resources WHERE source = ? AND slate_date = ? "
            "AND resolved_at IS NULL ORDER BY last_seen DESC LIMIT 1",
            [source, slate_date],
        ).pl()
        return frame.row(0, named=True) if frame.height else None

    @_in_session
    def record_block(
        self,
        source: str,
        slate_date: date,
        resource: str,
        detail: str,
        now: datetime,
        retry_after: datetime,
    ) -> None:
        self.con.execute(
            """
            INSERT INTO blocked_resources VALUES (?, ?, ?, 'blocked', ?, ?, ?, ?, NULL)
            ON CONFLICT (source, slate_date, resource) DO UPDATE SET
                status = 'blocked', detail = excluded.detail, last_seen = excluded.last_seen,
                retry_after = excluded.retry_after, resolved_at = NULL,
                first_seen = CASE WHEN blocked_resources.resolved_at IS NULL
                                  THEN blocked_resources.first_seen ELSE excluded.first_seen END
            """,
            [source, slate_date, resource, detail, now, now, retry_after],
        )

    @_in_session
    def resolve_blocks(self, source: str, slate_date: date, now: datetime) -> None:
        self.con.execute(
            "UPDATE blocked_resources SET status = 'resolved', resolved_at = ? "
            "WHERE source = ? AND slate_date = ? AND resolved_at IS NULL",
            [now, source, slate_date],
        )

    # -- run history -------------------------------------------------------------------------
    @_in_session
    def record_runs(self, rows: Iterable[RunRow]) -> None:
        values = [list(astuple(row)) for row in rows]
        if not values:
            return
        with self.transaction() as con:  # one commit, not one per row
            con.executemany(f"INSERT INTO run_history VALUES ({', '.join('?' * 11)})", values)

    # -- the warehouse protocol (lineflow.warehouse.base) --------------------------------------
    @_in_session
    def table_spec(self, table: str, cluster_by: tuple[str, ...] = ()) -> TableSpec | None:
        rows = self.con.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        if not rows:
            return None
        columns = tuple(
            Column(name, protocol_type(table, name, kind), nullable == "YES")
            for name, kind, nullable in rows
        )
        return TableSpec(table, columns, PARTITION_COLUMN, cluster_by)

    @_in_session
    def ensure_table(self, spec: TableSpec) -> list[Column]:
        existing = self.table_spec(spec.name)
        if existing is None:
            ddl = ", ".join(
                f"{c.name} {_DUCKDB_TYPES[c.type]}{'' if c.nullable else ' NOT NULL'}"
                for c in spec.columns
            )
            self.con.execute(f"CREATE TABLE IF NOT EXISTS {spec.name} ({ddl})")
            return []
        added = columns_to_add(spec.name, list(existing.columns), list(spec.columns))
        for column in added:
            self.con.execute(
                f"ALTER TABLE {spec.name} ADD COLUMN {column.name} {_DUCKDB_TYPES[column.type]}"
            )
        return added

    @_in_session
    def read_partition(self, table: str, partition: date) -> pl.DataFrame:
        spec = self.table_spec(table)
        if spec is None:
            raise LineflowError(f"table {table}: not in the warehouse {self.path}")
        if spec.partition_by not in spec.column_names:
            raise LineflowError(f"table {table}: has no {spec.partition_by} column to partition by")
        types = dict(
            self.con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'main' AND table_name = ?",
                [table],
            ).fetchall()
        )
        select = ", ".join(
            f"CAST(to_json({c}) AS VARCHAR) AS {c}" if types[c].endswith("[]") else c
            for c in spec.column_names
        )
        return self.con.execute(
            f"SELECT {select} FROM {table} WHERE {spec.partition_by} = ?", [partition]
        ).pl()

    @_in_session
    def replace_partition(self, spec: TableSpec, partition: date, rows: pl.DataFrame) -> int:
        columns = ", ".join(spec.column_names)
        with self.transaction() as con:
            con.execute(f"DELETE FROM {spec.name} WHERE {spec.partition_by} = ?", [partition])
            if rows.height:
                con.register("_partition_rows", rows.select(spec.column_names))
                try:
                    con.execute(
                        f"INSERT INTO {spec.name} ({columns}) SELECT {columns} FROM _partition_rows"
                    )
                finally:
                    con.unregister("_partition_rows")
        return rows.height

    @_in_session
    def query(self, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
        return self.con.execute(sql, list(params)).pl()
