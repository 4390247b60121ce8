"""Lock leases on a real state store, with a clock the test sets: expiry, takeover, renewal,
release, heartbeat, the alert age and whether an owner process is alive."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import lineflow.state.locks as locks_module
from lineflow.config import LocksConfig
from lineflow.state import SqliteStore
from lineflow.state.locks import (
    EXIT_BUSY,
    Heartbeat,
    LockHeld,
    LockInfo,
    Locks,
    Terminated,
    alert_locks,
    lock_key,
    pid_alive,
    signals_raise,
)

T0 = 1_769_000_000.0  # 2026-01-21 12:53:20Z
KEY = "nba_props:process:2026-01-23"
CONFIG = LocksConfig(ttl_minutes=2, heartbeat_s=60, wait_s=0, alert_minutes=15)


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "state.sqlite")


def locks_for(
    store: SqliteStore,
    clock: Clock,
    *,
    host: str = "host-a",
    pid: int | None = None,
    config: LocksConfig = CONFIG,
    log: list[str] | None = None,
) -> Locks:
    sink = log if log is not None else []
    return Locks(store, config, clock=clock, host=host, pid=pid or os.getpid(), log=sink.append)


def row(store: SqliteStore) -> LockInfo | None:
    with store.connect() as con:
        found = con.execute("SELECT * FROM locks WHERE key = ?", (KEY,)).fetchone()
    return LockInfo.from_row(found) if found else None


def take(locks: Locks, run_id: str = "run-1") -> tuple[bool, LockInfo]:
    return locks.try_acquire("nba_props", "process", "2026-01-23", run_id)


def test_a_free_lock_is_taken_for_the_ttl_in_minutes(store: SqliteStore) -> None:
    clock = Clock()
    ok, info = take(locks_for(store, clock))
    assert ok
    assert info == LockInfo(
        KEY, "nba_props", "process", "2026-01-23", "host-a", os.getpid(), "run-1", T0, T0, T0 + 120
    )
    assert row(store) == info
    assert lock_key("p", "s", "2026-01-23") == "p:s:2026-01-23"


def test_a_live_holders_lock_is_not_taken_until_it_expires(store: SqliteStore) -> None:
    clock, log = Clock(), []
    take(locks_for(store, clock, host="host-b"))
    other = locks_for(store, clock, log=log)
    clock.now = T0 + 119.9
    ok, held = take(other, "run-2")
    assert (ok, held.run_id, held.host) == (False, "run-1", "host-b")
    clock.now = T0 + 120  # exactly the expiry: free
    ok, mine = take(other, "run-2")
    assert ok and row(store) == mine and mine.run_id == "run-2"
    assert log == [
        f"lock {KEY} taken over from host host-b pid {os.getpid()} run run-1: "
        "it expired at 2026-01-21 12:55:20Z"
    ]


def test_a_lock_is_renewed_by_taking_it_again_in_the_same_run(store: SqliteStore) -> None:
    clock, log = Clock(), []
    locks = locks_for(store, clock, log=log)
    take(locks)
    clock.now = T0 + 30
    ok, info = take(locks)
    assert ok and (info.acquired_at, info.expires_at) == (T0 + 30, T0 + 150)
    assert log == []
    ok, _ = take(locks, "run-2")  # the same process, another run: not the same owner
    assert not ok


def test_an_owner_gone_from_this_host_frees_its_lock(store: SqliteStore) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    clock, log = Clock(), []
    take(locks_for(store, clock, pid=gone.pid))
    ok, _ = take(locks_for(store, clock, log=log), "run-2")
    assert ok
    assert log == [
        f"lock {KEY} taken over from host host-a pid {gone.pid} run run-1: "
        f"its owner pid {gone.pid} is gone"
    ]


def test_an_owner_on_another_host_is_not_judged_by_this_hosts_pids(store: SqliteStore) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    clock = Clock()
    take(locks_for(store, clock, host="host-b", pid=gone.pid))
    ok, held = take(locks_for(store, clock), "run-2")
    assert not ok and held.pid == gone.pid


def test_acquire_gives_up_after_wait_s_seconds(store: SqliteStore) -> None:
    clock = Clock()
    take(locks_for(store, clock, host="host-b"))
    waiting = locks_for(store, clock, config=LocksConfig(ttl_minutes=2, wait_s=0.3))
    started = time.monotonic()
    with pytest.raises(LockHeld) as raised:
        waiting.acquire("nba_props", "process", "2026-01-23", "run-2")
    waited = time.monotonic() - started
    assert 0.3 <= waited < 5  # seconds, not minutes
    assert raised.value.exit_code == EXIT_BUSY == 4
    assert str(raised.value) == (
        f"lock {KEY} is held by host host-b pid {os.getpid()} run run-1 since 2026-01-21 "
        "12:53:20Z (0s ago), expires 12:55:20Z; waited 0.3s "
        f"(if that run is gone: lineflow locks release {KEY})"
    )
    started = time.monotonic()
    with pytest.raises(LockHeld, match="waited 0s"):
        waiting.acquire("nba_props", "process", "2026-01-23", "run-2", wait_s=0)
    assert time.monotonic() - started < 0.3


def test_acquire_polls_at_growing_intervals_of_at_most_a_tenth_of_a_second(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    take(locks_for(store, clock, host="host-b"))
    waiting = locks_for(store, clock, config=LocksConfig(wait_s=0.5))
    now, slept = [0.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    # time as the polling loop sees it: it passes only while the loop sleeps
    virtual = SimpleNamespace(monotonic=lambda: now[0], sleep=sleep, time=time.time)
    monkeypatch.setattr(locks_module, "time", virtual)
    with pytest.raises(LockHeld):
        waiting.acquire("nba_props", "process", "2026-01-23", "run-2")
    assert slept == pytest.approx([0.02, 0.04, 0.08, 0.1, 0.1, 0.1, 0.06])
    slept.clear()
    with pytest.raises(LockHeld):
        waiting.acquire("nba_props", "process", "2026-01-23", "run-2", wait_s=0)
    assert slept == []


def test_acquire_takes_a_lock_freed_while_it_waits(store: SqliteStore) -> None:
    clock = Clock()
    holder = locks_for(store, clock, host="host-b")
    take(holder)
    waiting = locks_for(store, clock, config=LocksConfig(wait_s=5))
    freed = threading.Timer(0.2, lambda: holder.force_release(KEY))
    freed.start()
    info = waiting.acquire("nba_props", "process", "2026-01-23", "run-2")
    freed.join()
    assert info.run_id == "run-2" and row(store) == info


def test_renew_pushes_the_expiry_only_for_the_owning_run(store: SqliteStore) -> None:
    clock = Clock()
    locks = locks_for(store, clock)
    take(locks)
    clock.now = T0 + 50
    assert not locks.renew(KEY, "run-2")
    assert not locks_for(store, clock, host="host-b").renew(KEY, "run-1")
    assert not locks_for(store, clock, pid=os.getpid() + 1).renew(KEY, "run-1")
    assert (row(store).heartbeat_at, row(store).expires_at) == (T0, T0 + 120)
    assert locks.renew(KEY, "run-1")
    assert (row(store).heartbeat_at, row(store).expires_at) == (T0 + 50, T0 + 170)


def test_release_frees_only_the_owning_runs_lock_and_says_so(store: SqliteStore) -> None:
    clock = Clock()
    locks = locks_for(store, clock)
    take(locks)
    assert not locks.release(KEY, "run-2")
    assert not locks_for(store, clock, pid=os.getpid() + 1).release(KEY, "run-1")
    assert row(store) is not None
    assert locks.release(KEY, "run-1")
    assert row(store) is None
    assert not locks.release(KEY, "run-1")  # nothing left to release


def heartbeats() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"heartbeat {KEY}"]


def test_hold_releases_after_the_block_and_after_an_error(store: SqliteStore) -> None:
    locks = locks_for(store, Clock())
    with locks.hold("nba_props", "process", "2026-01-23", "run-1") as info:
        assert row(store) == info
        (beat,) = heartbeats()
        assert beat.daemon  # a process that exits mid-stage is not kept alive by its heartbeat
    assert row(store) is None
    assert heartbeats() == []  # stopped with the block, not left to find its lock gone
    with pytest.raises(RuntimeError), locks.hold("nba_props", "process", "2026-01-23", "run-1"):
        raise RuntimeError("stage failed")
    assert row(store) is None


def test_hold_renews_from_a_heartbeat(store: SqliteStore) -> None:
    clock = Clock()
    locks = locks_for(store, clock, config=LocksConfig(ttl_minutes=2, heartbeat_s=0.01))
    with locks.hold("nba_props", "process", "2026-01-23", "run-1"):
        clock.now = T0 + 60
        deadline = time.monotonic() + 10
        while row(store).expires_at != T0 + 180 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert row(store).expires_at == T0 + 180


def test_a_heartbeat_stops_when_its_lock_is_lost(store: SqliteStore) -> None:
    clock, log = Clock(), []
    locks = locks_for(store, clock, log=log)
    take(locks)
    locks.force_release(KEY)
    beat = Heartbeat(locks, KEY, "run-1", 0.01)
    beat.start()
    beat._thread.join(10)
    assert not beat._thread.is_alive()
    assert log == [f"lock {KEY} lost: another run took it over"]
    beat.stop()


def test_a_heartbeat_survives_a_failing_store_and_stops_when_told(store: SqliteStore) -> None:
    clock, log = Clock(), []
    locks = locks_for(store, clock, log=log)
    take(locks)
    calls: list[int] = []

    def flaky(key: str, run_id: str) -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database is locked")
        return True

    locks.renew = flaky  # type: ignore[method-assign]
    beat = Heartbeat(locks, KEY, "run-1", 0.01)
    beat.start()
    deadline = time.monotonic() + 10
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    beat.stop()
    assert not beat._thread.is_alive()
    assert len(calls) >= 3
    assert log == [f"lock {KEY}: heartbeat failed: database is locked"]


def test_release_stale_frees_expired_and_orphaned_locks_only(store: SqliteStore) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    clock = Clock(T0 - 10)
    locks_for(store, clock, host="host-b", pid=1).try_acquire("p", "s", "d1", "r")
    clock.now = T0
    locks_for(store, clock, pid=gone.pid).try_acquire("p", "s", "d2", "r")
    locks_for(store, clock, host="host-b", pid=1).try_acquire("p", "s", "d3", "r")
    clock.now = T0 + 115  # d1 expired 5 s ago; d2 and d3 expire in 5 s
    freed = locks_for(store, clock).release_stale()
    assert sorted((info.key, reason) for info, reason in freed) == [
        ("p:s:d1", "it expired at 2026-01-21 12:55:10Z"),
        ("p:s:d2", f"its owner pid {gone.pid} is gone"),
    ]
    assert [info.key for info in locks_for(store, clock).held()] == ["p:s:d3"]


def test_held_lists_locks_oldest_first_and_force_release_returns_the_freed(
    store: SqliteStore,
) -> None:
    clock = Clock(T0 + 10)
    locks_for(store, clock, host="h").try_acquire("p", "s", "late", "r")
    clock.now = T0
    locks_for(store, clock, host="h").try_acquire("p", "s", "early", "r")
    locks = locks_for(store, clock)
    assert [i.key for i in locks.held()] == ["p:s:early", "p:s:late"]
    freed = locks.force_release("p:s:late")
    assert freed is not None and freed.key == "p:s:late"
    assert locks.force_release("p:s:late") is None
    assert [i.key for i in locks.held()] == ["p:s:early"]


def test_the_alert_age_is_a_strict_boundary_in_minutes(store: SqliteStore) -> None:
    clock = Clock()
    locks = locks_for(store, clock)
    take(locks)
    clock.now = T0 + 15 * 60
    assert locks.older_than() == []
    clock.now = T0 + 15 * 60 + 1
    assert [i.key for i in locks.older_than()] == [KEY]
    assert locks.older_than(minutes=16) == []
    assert [i.key for i in locks.older_than(minutes=0.25)] == [KEY]


def test_alert_locks_reads_the_configured_alert_age(store: SqliteStore) -> None:
    now = time.time()
    locks_for(store, Clock(now - 600)).try_acquire("p", "s", "d", "r")
    assert alert_locks(store, LocksConfig(alert_minutes=15)) == []
    assert [i.key for i in alert_locks(store, LocksConfig(alert_minutes=5))] == ["p:s:d"]


def test_lock_info_age_and_description() -> None:
    info = LockInfo(KEY, "p", "s", "d", "h", 7, "r", T0, T0, T0 + 120)
    assert info.age_s(T0 + 42) == 42 and info.age_s(T0 - 5) == 0.0
    assert info.describe(T0 + 42) == (
        "host h pid 7 run r since 2026-01-21 12:53:20Z (42s ago), expires 12:55:20Z"
    )


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert pid_alive(gone.pid) is False


def test_a_zombie_counts_as_gone() -> None:
    child = subprocess.Popen(["true"])
    stat = Path(f"/proc/{child.pid}/stat")
    deadline = time.monotonic() + 10
    while stat.read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert not pid_alive(child.pid)
    finally:
        child.wait()


def test_a_pid_we_may_not_signal_counts_as_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(pid: int, sig: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "kill", denied)
    assert pid_alive(999_999)


def test_an_unreadable_proc_entry_counts_as_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "kill", lambda pid, sig: None)
    assert pid_alive(2**22 + 12345)  # no /proc entry: cannot tell, so alive


def test_sigterm_raises_terminated_in_the_main_thread_and_the_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as raised, signals_raise():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the signal interrupts this; reaching the end fails the test
        pytest.fail("SIGTERM did not raise")
    assert raised.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == before


def test_signals_raise_is_a_no_op_outside_the_main_thread() -> None:
    seen: list[object] = []

    def worker() -> None:
        with signals_raise():
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [before]
