"""Locks per (pipeline, stage, partition) in the state store, with owner, heartbeat and expiry.

The code decides itself when a lock is free (the original pipeline waited for its store to
delete expired documents, which happened late): a lock is free when nobody holds it, when its
`expires_at` has passed, or when its owner process is gone from this host (`this_host`: the
host name marked with its kernel and pid namespace, since a pid means something only there).
Taking over such a
lock is logged. The holder renews `expires_at` from a heartbeat thread and deletes the row when
the stage ends, in `finally`, also on SIGTERM/SIGINT (see `signals_raise`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import FrameType
from typing import Any

from lineflow.config import LocksConfig
from lineflow.core.errors import LineflowError
from lineflow.state import StateStore

EXIT_BUSY = 4


class LockHeld(LineflowError):
    """Another live run held the lock for longer than this run was configured to wait."""

    exit_code = EXIT_BUSY


class Terminated(SystemExit):
    """SIGTERM turned into an exception, so `finally` blocks (lock release) run."""


def lock_key(pipeline: str, stage: str, partition: date | str) -> str:
    return f"{pipeline}:{stage}:{partition}"


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True)
class LockInfo:
    key: str
    pipeline: str
    stage: str
    partition: str
    host: str
    pid: int
    run_id: str
    acquired_at: float  # epoch seconds
    heartbeat_at: float
    expires_at: float

    @classmethod
    def from_row(cls, row: Any) -> LockInfo:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    def age_s(self, now: float) -> float:
        return max(0.0, now - self.acquired_at)

    def owner(self) -> str:
        return f"host {self.host} pid {self.pid} run {self.run_id}"

    def describe(self, now: float) -> str:
        return (
            f"{self.owner()} since {_utc(self.acquired_at):%Y-%m-%d %H:%M:%S}Z "
            f"({self.age_s(now):.0f}s ago), expires {_utc(self.expires_at):%H:%M:%S}Z"
        )


def host_mark() -> str:
    """What tells this process's pid namespace apart beyond the host name: `~` and a short
    digest of the kernel's boot id and the pid namespace, or "" where /proc does not say."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            kernel = boot.read().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return "~" + hashlib.sha256(f"{kernel} {namespace}".encode()).hexdigest()[:6]


@functools.cache
def this_host() -> str:
    """This process's host as the state store records it for locks, claims and manifests: the
    host name and `host_mark`. Two containers or sandboxes may share a host name (a platform's
    fixed one, or the same `--hostname`) while their pids live in different namespaces; were
    they one host, each would judge the other's pids by its own and take live locks over. With
    the mark, a holder elsewhere is recognised by its lease's expiry only, as any other host."""
    return socket.gethostname() + host_mark()


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


class Locks:
    """The lock table of one state store, seen from this process (host, pid)."""

    def __init__(
        self,
        store: StateStore,
        config: LocksConfig,
        *,
        log: Callable[[str], None] = lambda _m: None,
        clock: Callable[[], float] = time.time,
        host: str | None = None,
        pid: int | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.log = log
        self.clock = clock
        self.host = host or this_host()
        self.pid = pid or os.getpid()
        store.ensure("locks")

    def stale_reason(self, held: LockInfo, now: float) -> str | None:
        """Why a held lock is free to take over, or None while its owner is alive and renewing."""
        if now >= held.expires_at:
            return f"it expired at {_utc(held.expires_at):%Y-%m-%d %H:%M:%S}Z"
        if held.host == self.host and not pid_alive(held.pid):
            return f"its owner pid {held.pid} is gone"
        return None

    def try_acquire(
        self, pipeline: str, stage: str, partition: date | str, run_id: str
    ) -> tuple[bool, LockInfo]:
        """Take the lock if it is free (or stale); return whether we hold it and its row."""
        key = lock_key(pipeline, stage, partition)
        now = self.clock()
        ttl = self.config.ttl_minutes * 60
        with self.store.transaction() as con:
            row = con.execute("SELECT * FROM locks WHERE key = ?", (key,)).fetchone()
            if row is not None:
                held = LockInfo.from_row(row)
                if (held.host, held.pid, held.run_id) != (self.host, self.pid, run_id):
                    reason = self.stale_reason(held, now)
                    if reason is None:
                        return False, held
                    self.log(f"lock {key} taken over from {held.owner()}: {reason}")
                con.execute("DELETE FROM locks WHERE key = ?", (key,))
            mine = LockInfo(
                key,
                pipeline,
                stage,
                str(partition),
                self.host,
                self.pid,
                run_id,
                now,
                now,
                now + ttl,
            )
            con.execute(
                "INSERT INTO locks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                tuple(getattr(mine, n) for n in LockInfo.__dataclass_fields__),
            )
        return True, mine

    def acquire(
        self,
        pipeline: str,
        stage: str,
        partition: date | str,
        run_id: str,
        wait_s: float | None = None,
    ) -> LockInfo:
        """Take the lock, polling the row until it frees or `wait_s` (default: config) ends."""
        wait = self.config.wait_s if wait_s is None else wait_s
        deadline = time.monotonic() + wait
        delay = 0.02
        while True:
            ok, info = self.try_acquire(pipeline, stage, partition, run_id)
            if ok:
                return info
            left = deadline - time.monotonic()
            if left <= 0:
                raise LockHeld(
                    f"lock {info.key} is held by {info.describe(self.clock())}; waited {wait:g}s "
                    f"(if that run is gone: lineflow locks release {info.key})"
                )
            # Polling the row: SQLite has no notifications across processes. Bounded interval.
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.1)

    def renew(self, key: str, run_id: str) -> bool:
        """Push the expiry forward; False when the lock is no longer ours (taken over)."""
        now = self.clock()
        with self.store.transaction() as con:
            cur = con.execute(
                "UPDATE locks SET heartbeat_at = ?, expires_at = ? "
                "WHERE key = ? AND run_id = ? AND host = ? AND pid = ?",
                (now, now + self.config.ttl_minutes * 60, key, run_id, self.host, self.pid),
            )
            return cur.rowcount == 1

    def release(self, key: str, run_id: str) -> bool:
        """Delete our lock row; a row someone took over meanwhile is left alone."""
        with self.store.transaction() as con:
            cur = con.execute(
                "DELETE FROM locks WHERE key = ? AND run_id = ? AND host = ? AND pid = ?",
                (key, run_id, self.host, self.pid),
            )
            return cur.rowcount == 1

    @contextmanager
    def hold(
        self, pipeline: str, stage: str, partition: date | str, run_id: str
    ) -> Iterator[LockInfo]:
        """Hold the lock for a block: acquire, renew from a heartbeat thread, release after."""
        info = self.acquire(pipeline, stage, partition, run_id)
        beat = Heartbeat(self, info.key, run_id, self.config.heartbeat_s)
        beat.start()
        try:
            yield info
        finally:
            beat.stop()
            self.release(info.key, run_id)

    # -- operations ------------------------------------------------------------------------
    def held(self) -> list[LockInfo]:
        with self.store.connect() as con:
            rows = con.execute("SELECT * FROM locks ORDER BY acquired_at").fetchall()
        return [LockInfo.from_row(r) for r in rows]

    def force_release(self, key: str) -> LockInfo | None:
        """Free a lock whoever holds it (an operator's decision); return what was freed."""
        with self.store.transaction() as con:
            row = con.execute("SELECT * FROM locks WHERE key = ?", (key,)).fetchone()
            con.execute("DELETE FROM locks WHERE key = ?", (key,))
        return LockInfo.from_row(row) if row else None

    def release_stale(self) -> list[tuple[LockInfo, str]]:
        """Free every expired lock and every lock whose owner is gone from this host."""
        freed = []
        now = self.clock()
        with self.store.transaction() as con:
            for row in con.execute("SELECT * FROM locks").fetchall():
                held = LockInfo.from_row(row)
                reason = self.stale_reason(held, now)
                if reason is not None:
                    con.execute("DELETE FROM locks WHERE key = ?", (held.key,))
                    freed.append((held, reason))
        return freed

    def older_than(self, minutes: float | None = None) -> list[LockInfo]:
        """Locks held longer than `minutes` (default: the alert age), for the health summary."""
        limit = (self.config.alert_minutes if minutes is None else minutes) * 60
        now = self.clock()
        return [lock for lock in self.held() if lock.age_s(now) > limit]


class Heartbeat:
    """Renews one lock every `interval_s` on a daemon thread until stopped."""

    def __init__(self, locks: Locks, key: str, run_id: str, interval_s: float) -> None:
        self.locks = locks
        self.key = key
        self.run_id = run_id
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat {key}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                if not self.locks.renew(self.key, self.run_id):
                    self.locks.log(f"lock {self.key} lost: another run took it over")
                    return
            except Exception as exc:  # a busy store: try again at the next beat
                self.locks.log(f"lock {self.key}: heartbeat failed: {exc}")


def alert_locks(store: StateStore, config: LocksConfig) -> list[LockInfo]:
    """The locks older than `locks.alert_minutes`: what the health summary reports."""
    return Locks(store, config).older_than()


@contextmanager
def signals_raise() -> Iterator[None]:
    """In the main thread, turn SIGTERM into `Terminated` (SIGINT already raises), so locks held
    in `finally` blocks are released when a run is stopped. Elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, _frame: FrameType | None) -> None:
        raise Terminated(128 + signum)

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
