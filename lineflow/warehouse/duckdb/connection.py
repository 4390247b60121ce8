"""The DuckDB warehouse's connection, and its hand-over between threads and processes.

DuckDB allows one writing process per file. Every access runs in a session: an exclusive
`flock` on `<path>.lock` plus a connection, one per process and file (`_Link`), used by one
thread at a time. A process that waits marks itself on `<path>.wait` (a shared flock), and a
holder lets go at the end of its current session. The schema is ensured on every connect
(`schema.ensure`).

A program outside lineflow that has the file open (a notebook's read-only connection, a BI
tool) holds DuckDB's own lock, which no flock can see: connecting then fails with "Could not
set lock". That is waited out too, up to `locks.wait_s` (telling the user once), and then
ends in `WarehouseBusy` (exit 4, like a held stage lock), never in DuckDB's traceback.
Readers that must never block a run read through `reading()` (`lineflow query`): a read-only
connection taken in turn under the same flock, held for one query.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

import duckdb
import polars as pl

from lineflow.core.errors import LineflowError, PermanentError
from lineflow.core.frames import arrow_stream
from lineflow.state.locks import EXIT_BUSY
from lineflow.warehouse.duckdb import schema
from lineflow.warehouse.duckdb.literals import inline

if TYPE_CHECKING:
    from lineflow.config import WarehouseConfig

T = TypeVar("T")


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
    """A query's rows as a polars frame, handed over through the Arrow C stream interface:
    `.pl()` goes through pyarrow, whose import alone costs a quick command such as `status` a
    third of a second. Same column types. The parameters are written into the query where
    they can be (`literals.inline`): bound, `con.sql` materialises the rows first and hands
    them over ten times slower (a partition's manifest 3.4 against 1.8 ms)."""
    text = inline(sql, params) if params else sql
    if text is None:
        return pl.DataFrame(con.sql(sql, params=list(params)))
    return pl.DataFrame(con.sql(text))


def in_session(method: Callable[..., T]) -> Callable[..., T]:
    """A warehouse method that reads: run inside a session, opening a short one when none is
    active, and run once more on a fresh connection when it ran out of `memory_limit`
    (`SharedConnection.rereading`)."""

    @functools.wraps(method)
    def wrapper(self: SharedConnection, *args: Any, **kwargs: Any) -> T:
        args = _kept(args)
        with self.session():
            return self.rereading(lambda: method(self, *args, **kwargs))

    return wrapper


def _kept(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """A method's arguments with each generator read once and kept, so that running the
    method again gets it whole."""
    return tuple(tuple(a) if isinstance(a, Iterator) else a for a in args)


def writes(method: Callable[..., T]) -> Callable[..., T]:
    """A warehouse method that writes: run inside a session, and run again whole when its commit
    conflicted with another process's (`SharedConnection.retrying`: a shared lake's optimistic
    commits; a DuckDB file, written by one process at a time, never conflicts). Each such method
    is one unit: it reads what it needs and commits in its own transaction, so running it again
    on the newer snapshot is the same as running it once, later."""

    @functools.wraps(method)
    def wrapper(self: SharedConnection, *args: Any, **kwargs: Any) -> T:
        args = _kept(args)  # a generator given (a run's rows): a rerun has it whole
        with self.session():
            self._link.wrote = True
            return self.retrying(lambda: method(self, *args, **kwargs))

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
#: The storage format of the warehouse file: DuckDB 1.4's, not the 1.0 format DuckDB writes by
#: default for readers as old as 0.10 (storing staged rows 0.5 of 3.0 s cheaper, its string
#: dictionaries and statistics cheaper to build; docs/benchmarks.md). A file of an older format
#: is upgraded when attached (its rows stay as written); DuckDB before 1.4 cannot open it then.
STORAGE_VERSION = "v1.4.0"
#: Row groups a checkpoint may merge and rewrite (DuckDB's "vacuum"): none. Every batch of
#: staged rows larger than a row group is written straight to the file and ends in a partly
#: filled row group; vacuuming merged each such tail with its neighbours, so the checkpoints
#: compressed most of the staged rows a second time (1.1 of the 3.9 s of storing 40 dates'
#: rows; docs/benchmarks.md). Row groups whose rows were all deleted are still dropped.
VACUUM_TASKS = 0
#: The block size of a new warehouse file: 64 KiB, not DuckDB's 256 KiB. Every table a
#: session appends a few rows to (the ledgers, validation results, line quality) keeps a
#: block per column in memory until the next checkpoint: 150 blocks, 37 MB of the 64MB
#: `memory_limit` at 256 KiB, so that past a hundred dates `_relieve` attached the file
#: afresh after nearly every partition, each time dearer as the indexes grew (5 times in
#: 160 dates at 64 KiB, against 90; docs/benchmarks.md). A file keeps the size it was made
#: with: DuckDB refuses another one.
BLOCK_SIZE = 65_536


class WarehouseBusy(LineflowError):
    """Another process, lineflow's or another program's, kept the warehouse longer than this
    one was configured to wait: exit 4, as for a held stage lock (try again later)."""

    exit_code = EXIT_BUSY


#: How DuckDB names the process holding its file lock ("Could not set lock on file ...:
#: Conflicting lock is held in /usr/bin/python3 (PID 123)").
_HOLDER_RE = re.compile(r"Conflicting lock is held in (?P<program>.*?) \(PID (?P<pid>\d+)\)")


def held_elsewhere(exc: duckdb.Error) -> str | None:
    """The program holding DuckDB's lock on the file, when that is why `exc` was raised."""
    text = str(exc)
    if "Could not set lock" not in text:
        return None
    match = _HOLDER_RE.search(text)
    if match is None:
        return "another program"
    return f"pid {match['pid']}, {os.path.basename(match['program'])}"


class WarehouseOutOfMemory(PermanentError):
    """A write or read ran out of DuckDB's `warehouse.memory_limit` twice, the second time on a
    fresh connection: the limit is too small for this warehouse (its indexes grow with history,
    a read with the partition)."""


#: How DuckDB says it needed more than `memory_limit`: an `OutOfMemoryException`, or a commit's
#: `TransactionException` wrapping one ("Failed to commit: could not allocate block of size
#: 256.0 KiB (60.8 MiB/61.0 MiB used)", "failed to pin block ...").
_OUT_OF_MEMORY_RE = re.compile(r"Out of Memory Error|[0-9.]+ \w+/[0-9.]+ \w+ used\)")
#: The errors DuckDB's own can come as: its own, or polars' when polars was reading the rows.
_ENGINE_ERRORS = (duckdb.Error, pl.exceptions.ComputeError)
#: The share of `memory_limit` that rows not yet checkpointed and loaded indexes may keep
#: between the sessions of a `hold()` before a checkpoint frees them (`_relieve`). The rest
#: is for a session's own transaction and the cache of stored blocks (which DuckDB evicts).
RELIEVE_SHARE = 0.6
#: How much the file may grow, as a share of `memory_limit`, on one connection before
#: `_relieve` attaches it afresh. DuckDB keeps the description of every row group the
#: connection wrote (its columns' segments and statistics) in its own heap, outside
#: `memory_limit`, until the file is detached: about a third of the bytes written, so a
#: 480-date backfill's main process grew by 60 MB that no checkpoint gave back.
GROWTH_SHARE = 0.5
_SIZE_RE = re.compile(r"(?P<n>[0-9.]+)\s*(?P<unit>[KMGT]?i?B|bytes)", re.IGNORECASE)
_UNITS = {"b": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` (or what it was raised while handling) is DuckDB running out of its
    `memory_limit`. Rows read into polars are computed as polars takes them (`frame`), so
    there DuckDB's error comes as polars' ComputeError ("got external error: Out of Memory
    Error: failed to pin block ...")."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, duckdb.OutOfMemoryException):
            return True
        if isinstance(seen, _ENGINE_ERRORS) and _OUT_OF_MEMORY_RE.search(str(seen)):
            return True
        seen = seen.__context__
    return False


def size_bytes(text: str) -> int | None:
    """A size as DuckDB and the config spell it ("64MB", "61.0 MiB") in bytes."""
    match = _SIZE_RE.fullmatch(text.strip())
    if match is None:
        return None
    return int(float(match["n"]) * _UNITS[match["unit"].lower()])


def _stderr(message: str) -> None:
    print(f"lineflow: {message}", file=sys.stderr, flush=True)


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
        self.writing = False  # a `writes` method runs: methods it calls are part of it
        self.reading = False  # an `in_session` method runs: so are the methods it calls
        self.wrote = False  # the session may have written (`_relieve` looks only then)
        self.pid = 0  # the process that opened `con` (a forked child must not use it)
        self.con: duckdb.DuckDBPyConnection | None = None
        self.attached_size = 0  # the file's size when `con` attached it (`_relieve`)
        self.lock_fd: int | None = None
        self.wait_fd: int | None = None
        self.watcher: _Watcher | None = None


class _Watcher(threading.Thread):
    """While a `hold()` keeps the connection, hands the warehouse to a waiting process between
    sessions too (a thread of the holder may wait for a stage lock, or on the network, for a
    long time without a session)."""

    #: How often it looks for a waiting process: a waiter waits at most this past a session.
    INTERVAL_S = 0.1

    def __init__(self, warehouse: SharedConnection) -> None:
        super().__init__(name="lineflow-warehouse-watcher", daemon=True)
        self.warehouse = warehouse
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.INTERVAL_S):  # flock has no notification: poll it
            self.warehouse.let_go_if_asked()

    def stop(self) -> None:
        self.done.set()


_LINKS: dict[str, _Link] = {}
_LINKS_LOCK = threading.Lock()


def _link(key: str) -> _Link:
    with _LINKS_LOCK:
        return _LINKS.setdefault(key, _Link())


class SharedConnection:
    """One lineflow home's warehouse file, shared by threads and handed between processes.

    DuckDB allows one writing process per file, so every access runs inside a `session()`:
    an exclusive file lock (shared by every lineflow process on the machine) plus a connection.
    Sessions nest; methods called outside one open their own. At the end of a session the
    connection closes (DuckDB checkpoints) and the lock is released, so runs of different
    partitions interleave their short writes instead of failing. Within `hold()` (a run's local
    stages, a backfill) the connection stays open between sessions, saving a connect and a
    checkpoint per session, until another process asks for the warehouse: a waiting process
    marks itself on `<path>.wait` and the holder lets go at the end of its current session.
    """

    #: Whether `_relieve` checkpoints a held connection whose buffers fill (a DuckDB file; a
    #: lake's CHECKPOINT is its maintenance, not this).
    RELIEVES = True

    def __init__(
        self,
        path: Path,
        lock_timeout_s: float = 600.0,
        *,
        memory_limit: str = "64MB",
        threads: int = 1,
        outside_wait_s: float | None = None,
        notify: Callable[[str], None] = _stderr,
    ) -> None:
        self.path = path
        #: How long to wait for another lineflow process (it hands over at the end of its
        #: session: a long wait means something is wrong), and for another program (a reader
        #: may keep the file a while: `locks.wait_s`, as for a held stage lock).
        self.lock_timeout_s = lock_timeout_s
        self.outside_wait_s = lock_timeout_s if outside_wait_s is None else outside_wait_s
        self.notify = notify  # told once when another program keeps this process waiting
        self.config: dict[str, str | bool | int | float | list[str]] = {
            "memory_limit": memory_limit,
            "threads": threads,
        }
        self._link = _link(str(path.resolve()))

    @property
    def where(self) -> str:
        """The warehouse as messages name it."""
        return str(self.path)

    def exists(self) -> bool:
        """Whether anything was written here yet (read-only commands create nothing)."""
        return self.path.is_file()

    def retrying(self, write: Callable[[], T]) -> T:
        """Run one writing method (`writes`). A DuckDB file has one writer at a time, so its
        commits never conflict. A write that ran out of `memory_limit` runs once more on a fresh
        connection (the held one closed, which checkpoints and frees its buffers and indexes;
        the file lock kept): DuckDB rolled the failed one back whole. Only the outermost
        write, outside any transaction, is run again; a second failure is
        `WarehouseOutOfMemory`, naming the setting to raise."""
        return self._outermost(write, "writing")

    def rereading(self, read: Callable[[], T]) -> T:
        """Run one reading method (`in_session`) as `retrying` runs a write: when it ran out of
        `memory_limit` (a partition's rows read under the pressure of a long hold, say), once
        more on a fresh connection, read-only again if this one was. Only the outermost read
        or write, outside any transaction, is run again; a second failure is
        `WarehouseOutOfMemory`, one line instead of DuckDB's message."""
        return self._outermost(read, "reading")

    def _outermost(self, unit: Callable[[], T], doing: str) -> T:
        """`unit` as the outermost write or read (`doing`: "writing" or "reading", the `_Link`
        flag it raises meanwhile), or, inside another, as part of that one, which is the one
        run again."""
        link = self._link
        if link.writing or link.reading:
            return unit()
        setattr(link, doing, True)
        try:
            return self._twice(unit, doing)
        finally:
            setattr(link, doing, False)

    def _twice(self, unit: Callable[[], T], doing: str) -> T:
        """`unit`, and once more on a fresh connection if it ran out of memory."""
        try:
            return unit()
        except _ENGINE_ERRORS as exc:
            if not out_of_memory(exc) or not self._reattach():
                raise
        try:
            return unit()
        except _ENGINE_ERRORS as exc:
            if not out_of_memory(exc):
                raise
            raise self._out_of_memory(
                f"{doing}, twice (the second time on a fresh connection)"
            ) from None

    def _out_of_memory(self, doing: str) -> WarehouseOutOfMemory:
        limit = self.config["memory_limit"]
        return WarehouseOutOfMemory(
            f"warehouse {self.path}: DuckDB ran out of warehouse.memory_limit={limit} {doing}; "
            "set warehouse.memory_limit higher (e.g. warehouse.memory_limit=256MB)"
        )

    def _reattach(self) -> bool:
        """After a write or read ran out of memory: close the connection and attach the file
        again (read-only if it was: `read_session`), keeping this process's file lock. False
        (nothing done) inside an outer transaction, whose earlier statements a fresh
        connection would lose."""
        link = self._link
        con = link.con
        if con is None:
            return False
        try:
            con.execute("BEGIN TRANSACTION")  # fails inside an outer (or aborted) transaction
            con.execute("ROLLBACK")
            mode = con.execute("SELECT current_setting('access_mode')").fetchone()
        except duckdb.Error:
            return False
        attach = self._open_read_only if mode == ("read_only",) else self._attach
        link.con = None
        # Closing checkpoints; if that fails, what was committed is in the log, replayed on
        # the next attach.
        with contextlib.suppress(duckdb.Error):
            con.close()
        try:
            link.con = attach()
            link.attached_size = self._file_size()
        except BaseException as exc:
            self._release()  # the lock too: the next session starts from the beginning
            if out_of_memory(exc):
                raise self._out_of_memory("opening the file again") from None
            raise
        return True

    def _relieve(self) -> None:
        """Between the sessions of a `hold()`: attach the file afresh (closing the connection
        checkpoints it; the file lock is kept) when rows not yet checkpointed and the tables'
        loaded indexes hold more than `RELIEVE_SHARE` of `memory_limit`, or when the file grew
        by more than `GROWTH_SHARE` of it since the connection attached it. Rows committed in
        small appends (the ledgers, validation results, line quality) stay in memory until a
        checkpoint, a block per column however few the rows (`BLOCK_SIZE`), while the log grows by a
        few KiB: `CHECKPOINT_THRESHOLD` of log is never reached, and over a long backfill they
        and the indexes filled the limit until a commit could not allocate a block. A
        checkpoint writes them to the file and unloads the indexes, but only detaching the
        file frees what DuckDB keeps outside the limit (`GROWTH_SHARE`) and its cache of
        stored blocks, which a long backfill would fill to the limit.

        Looked at after a session that may have written (a `writes` method, a transaction, a
        feature's tables) only: asking DuckDB for its memory is a query (0.3 ms), and half of a
        backfill's sessions only read, which adds no unsaved rows (an index a read loaded is
        counted at the next write's look)."""
        link = self._link
        con, wrote, link.wrote = link.con, link.wrote, False
        limit = size_bytes(str(self.config["memory_limit"]))
        if con is None or limit is None or not self.RELIEVES or not wrote:
            return
        try:
            grown = self._file_size() - link.attached_size > GROWTH_SHARE * limit
            if not grown:
                row = con.execute(
                    "SELECT sum(memory_usage_bytes) FROM duckdb_memory() WHERE tag IN "
                    "('IN_MEMORY_TABLE', 'ART_INDEX')"
                ).fetchone()
                if row is None or (row[0] or 0) <= RELIEVE_SHARE * limit:
                    return
            self._reattach()
        except duckdb.Error as exc:
            if not out_of_memory(exc):
                raise
            self._release()  # closing checkpoints too, with the connection's buffers freed

    def _file_size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:  # not written yet
            return 0

    @contextmanager
    def session(self) -> Iterator[Self]:
        """Exclusive use of the warehouse: no other thread or process uses it meanwhile."""
        self.open()
        try:
            yield self
        finally:
            self.close()

    @contextmanager
    def hold(self) -> Iterator[Self]:
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

    def open(self) -> Self:
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
            elif link.depth == 0:
                self._relieve()
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
        self._link.con = self._connect(self._attach)
        self._link.attached_size = self._file_size()

    def _connect(
        self, connect: Callable[[], duckdb.DuckDBPyConnection]
    ) -> duckdb.DuckDBPyConnection:
        """Lock the file for this process, then `connect()`. Waits while another process has
        the file: a lineflow process hands it over at the end of its session (`_lock_file`),
        another program when it closes it. Past either wait: `WarehouseBusy`."""
        deadline = time.monotonic() + self.outside_wait_s
        delay = 0.005
        told = False
        while True:
            self._lock_file(time.monotonic() + self.lock_timeout_s)
            try:
                return connect()
            except duckdb.IOException as exc:
                self._release()
                holder = held_elsewhere(exc)
                if holder is None:
                    raise
            except BaseException as exc:
                self._release()
                if out_of_memory(exc):  # attaching and the schema check need a little memory
                    raise self._out_of_memory("opening the file") from None
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusy(
                    f"warehouse {self.path} is open in another program ({holder}), which keeps "
                    f"lineflow out; waited {self.outside_wait_s:g}s (close it, and read the "
                    "warehouse with `lineflow query`)"
                )
            if not told:
                self.notify(
                    f"warehouse {self.path} is open in another program ({holder}); waiting up "
                    f"to {self.outside_wait_s:g}s for it to close"
                )
                told = True
            time.sleep(delay)  # DuckDB's file lock has no notification: poll it, bounded
            delay = min(delay * 2, 0.25)

    def _lock_file(self, deadline: float) -> None:
        """Take `<path>.lock`; while another lineflow process has it, mark this one waiting
        on `<path>.wait` so the holder lets go at the end of its session."""
        link = self._link
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        wait_fd = os.open(f"{self.path}.wait", os.O_RDWR | os.O_CREAT, 0o644)
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
                            f"warehouse {self.path} stayed busy for {self.lock_timeout_s:g}s "
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

    def _attach(self) -> duckdb.DuckDBPyConnection:
        """The session's connection: the file attached read-write, its schema ensured."""
        con = duckdb.connect(config=self.config)
        try:
            path = str(self.path).replace("'", "''")
            # Row groups of 8k rows, not DuckDB's 122,880: a partition appends ~35k rows, and
            # each checkpoint rewrote the table's partly filled last row group, so checkpoints
            # cost more as the warehouse grew; a full row group costs the log less (a season:
            # 32k 122 s, 16k 108 s; with FSST off, 16k 68.0 s, 8k 62.1 s; docs/benchmarks.md).
            new_file = "" if self.exists() else f", BLOCK_SIZE {BLOCK_SIZE}"
            con.execute(
                f"ATTACH '{path}' AS warehouse "
                f"(ROW_GROUP_SIZE {ROW_GROUP_SIZE}, STORAGE_VERSION '{STORAGE_VERSION}'{new_file})"
            )
            con.execute("USE warehouse")
            con.execute("SET TimeZone = 'UTC'")
            # Past memory_limit, DuckDB spills next to the warehouse (not the working directory).
            con.execute(f"SET temp_directory = '{path}.tmp'")
            # One checkpoint per session (or per hold) at its end, or per 64MB of log: each
            # checkpoint costs more as the warehouse grows, and the default 16MB threshold added
            # a second one to most partitions' sessions mid-way (docs/benchmarks.md).
            con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
            con.execute(f"SET disabled_compression_methods = '{DISABLED_COMPRESSION}'")
            con.execute(f"SET max_vacuum_tasks = {VACUUM_TASKS}")
            schema.ensure(con)  # every connect (2 ms): the file may be new since the last one
        except BaseException:
            con.close()
            raise
        return con

    @contextmanager
    def read_session(self) -> Iterator[Self]:
        """A session for a command that only reads (`status`): the file opened read-only, taken
        in turn like any session. Nothing is written: no schema check on connect and nothing to
        checkpoint on close, which a read-write session pays (docs/benchmarks.md); a method
        that writes fails in it. A file of an older layout, or one this process has open
        already, gets the ordinary session (which brings the layout up to date first)."""
        link = self._link
        with link.mutex:
            con = None
            if link.con is None and self.exists():
                con = self._connect(self._open_read_only)
                current = False
                try:
                    current = schema.is_current(con)
                except duckdb.Error as exc:
                    if out_of_memory(exc):  # as `_connect` says it of attaching
                        raise self._out_of_memory("opening the file") from None
                    raise
                finally:
                    if not current:  # an older layout (or the check failed): not this way
                        con.close()
                        self._release()
                if not current:
                    con = None
            if con is None:
                with self.session():
                    yield self
                return
            link.con = con
            link.depth += 1
            try:
                yield self
            finally:
                link.depth -= 1
                self._release()  # a read-only connection serves no later session

    def _open_read_only(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(str(self.path), read_only=True, config=self.config)
        con.execute("SET TimeZone = 'UTC'")
        return con

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for readers outside the pipeline (`lineflow query`, a
        notebook), taken in turn like a session and closed at the end of the block: it never
        breaks a run, and a run waits for it at most as long as the block lasts. Nothing is
        written, not even the schema of a new file."""
        link = self._link
        with link.mutex:
            if link.con is not None:  # this process has the file open already: read there,
                with self.session():  # in a transaction rolled back, so nothing is written
                    self.con.execute("BEGIN TRANSACTION")
                    try:
                        yield self.con
                    finally:
                        self.con.execute("ROLLBACK")
                return
            con = self._connect(self._open_read_only)
            try:
                yield con
            finally:
                con.close()
                self._release()

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
    def configured(cls, config: WarehouseConfig, wait_s: float | None = None) -> Self:
        """The warehouse as `warehouse:` in the config describes it; `wait_s` (`locks.wait_s`):
        how long to wait for another program that has the file open."""
        return cls(
            config.path,
            memory_limit=config.memory_limit,
            threads=config.threads,
            outside_wait_s=wait_s,
        )

    def __enter__(self) -> Self:
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
        """One transaction (on a lake: one snapshot). A COMMIT that fails, as a lake's does on a
        conflict, leaves no transaction open: there is nothing to roll back then."""
        con = self.con
        self._link.wrote = True
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def ensure_feature(self, feature: str) -> None:
        """Create an optional feature's tables (`schema.FEATURES`) if they are not there yet."""
        with self.session():
            self._link.wrote = True
            self.retrying(lambda: schema.ensure_feature(self.con, feature))

    def _insert_frame(self, table: str, frame: pl.DataFrame, suffix: str = "") -> None:
        names = ", ".join(frame.columns)
        self.con.register("_frame", arrow_stream(frame))  # scanned once, below
        try:
            self.con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _frame {suffix}")
        finally:
            self.con.unregister("_frame")
