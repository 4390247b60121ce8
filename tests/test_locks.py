"""Locks per (pipeline, stage, partition): exclusive across processes, renewed, taken over."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from lineflow.config import LocksConfig
from lineflow.state.locks import LockHeld, Locks, lock_key, pid_alive, this_host
from tests.conftest import INCIDENT, ROOT, first_line, run_cli
from tests.support import child_env
from tests.support.state import StateTarget, python_child

HOLDER = """
import sys
from lineflow.config import LocksConfig
from lineflow.state.locks import Locks, signals_raise
from tests.support.state import store_at
address, ttl_s, beat_s = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
locks = Locks(store_at(address), LocksConfig(ttl_minutes=ttl_s / 60, heartbeat_s=beat_s))
with signals_raise(), locks.hold("nba_props", "process", "2026-01-23", "holder-run"):
    print("held", flush=True)
    sys.stdin.readline()
"""


class Holder:
    """A real process holding nba_props:process:2026-01-23 until told to stop."""

    def __init__(self, state: StateTarget, ttl_s: float = 1800, beat_s: float = 60) -> None:
        self.proc = python_child(HOLDER, state.address, str(ttl_s), str(beat_s))
        assert first_line(self.proc) == "held\n", self.proc.stderr.read()

    def finish(self) -> int:
        self.proc.stdin.write("done\n")
        self.proc.stdin.flush()
        return self.proc.wait(30)


def wait_for(condition, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        threading.Event().wait(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def rows(state: StateTarget) -> list:
    with state.store().connect() as con:
        return [dict(r) for r in con.execute("SELECT * FROM locks").fetchall()]


@pytest.fixture
def state(state_target: StateTarget) -> StateTarget:
    """Every test here runs on SQLite and on Postgres."""
    return state_target


def cli(state: StateTarget, *args: str):
    return run_cli(*args, *state.overrides(), env=state.env)


def test_a_second_run_of_the_same_stage_and_partition_gives_up_naming_the_holder(home, state):
    holder = Holder(state)
    try:
        result = cli(
            state, "run", f"date={INCIDENT}", f"home={home}", "pipeline.stages=[process]",
            "locks.wait_s=0.3",
        )  # fmt: skip
        other_partition = cli(
            state, "run", "date=2026-01-22", f"home={home}", "pipeline.stages=[process]",
            "locks.wait_s=0.3",
        )  # fmt: skip
    finally:
        assert holder.finish() == 0
    assert result.code == 4, result.stdout + result.stderr
    assert f"lock nba_props:process:{INCIDENT} is held by host" in result.stderr
    assert f"pid {holder.proc.pid} run holder-run" in result.stderr
    assert "waited 0.3s" in result.stderr
    (log,) = (home / "logs").glob(f"{INCIDENT.replace('-', '')}-*.jsonl")
    assert json.loads(log.read_text().splitlines()[-1])["exit_code"] == 4, "the real exit code"
    assert other_partition.code == 0, other_partition.stderr  # other partitions go on
    assert rows(state) == [], "the holder released its lock in finally"


def test_a_waiting_run_goes_on_once_the_holder_releases(home, state):
    holder = Holder(state)
    waiter = subprocess.Popen(
        [sys.executable, "-m", "lineflow", "run", f"date={INCIDENT}", f"home={home}",
         "pipeline.stages=[process]", "locks.wait_s=60", *state.overrides()],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=child_env(state.env),
    )  # fmt: skip
    wait_for(lambda: list((home / "logs").glob("*.jsonl")), what="the waiting run to start")
    assert waiter.poll() is None, "it waits while the lock is held"
    assert holder.finish() == 0
    out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 0, out + err


def test_the_heartbeat_keeps_a_long_runs_lock_alive_past_its_ttl(state):
    holder = Holder(state, ttl_s=1.5, beat_s=0.1)
    (first,) = rows(state)
    try:
        # Two TTLs later the holder is still renewing: nobody may take its lock.
        renewed = wait_for(
            lambda: [r for r in rows(state) if r["heartbeat_at"] > first["acquired_at"] + 3.0],
            what="two TTLs of heartbeats",
        )
        assert renewed[0]["expires_at"] > renewed[0]["acquired_at"] + 3.0
        other = Locks(state.store(), LocksConfig(), host="other-host", pid=1)
        ok, held = other.try_acquire("nba_props", "process", INCIDENT, "intruder")
        assert not ok and held.pid == holder.proc.pid
    finally:
        assert holder.finish() == 0


def test_sigterm_releases_the_lock(state):
    holder = Holder(state)
    holder.proc.send_signal(signal.SIGTERM)
    assert holder.proc.wait(30) == 128 + signal.SIGTERM
    assert rows(state) == []


def test_the_lock_of_a_killed_process_is_taken_over_and_logged(state):
    holder = Holder(state)
    holder.proc.kill()
    holder.proc.wait(30)
    assert len(rows(state)) == 1, "SIGKILL leaves the row behind"
    events: list[str] = []
    locks = Locks(state.store(), LocksConfig(), log=events.append)
    ok, mine = locks.try_acquire("nba_props", "process", INCIDENT, "next-run")
    assert ok and mine.run_id == "next-run"
    assert events == [
        f"lock nba_props:process:{INCIDENT} taken over from host {locks.host} "
        f"pid {holder.proc.pid} run holder-run: its owner pid {holder.proc.pid} is gone"
    ]


def test_an_expired_lock_is_taken_over_even_from_another_host(state):
    now = [1_000_000.0]
    config = LocksConfig(ttl_minutes=30, wait_s=0)
    theirs = Locks(state.store(), config, host="elsewhere", pid=42, clock=lambda: now[0])
    theirs.acquire("nba_props", "process", INCIDENT, "their-run")
    events: list[str] = []
    mine = Locks(state.store(), config, log=events.append, clock=lambda: now[0])
    with pytest.raises(LockHeld, match="held by host elsewhere pid 42 run their-run"):
        mine.acquire("nba_props", "process", INCIDENT, "my-run")
    now[0] += 30 * 60  # their heartbeat stopped: 30 min later the lock has expired
    assert mine.acquire("nba_props", "process", INCIDENT, "my-run").run_id == "my-run"
    assert "taken over from host elsewhere pid 42 run their-run: it expired at" in events[0]
    assert not theirs.renew(f"nba_props:process:{INCIDENT}", "their-run"), "theirs is lost"


def test_locks_command_lists_age_and_owner_and_releases(home, state):
    config = LocksConfig()

    def held_since(minutes: float, pid: int) -> Locks:
        return Locks(
            state.store(), config, host="elsewhere", pid=pid,
            clock=lambda: time.time() - minutes * 60,
        )  # fmt: skip

    held_since(20, 7).acquire("nba_props", "process", INCIDENT, "old-run")
    held_since(60, 8).acquire("nba_props", "scrape", INCIDENT, "dead-run")
    listed = cli(state, "locks", f"home={home}")
    assert listed.code == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if x.startswith("nba_props:process"))
    assert "host elsewhere pid 7 run old-run" in line and "20m" in line
    assert "ALERT: older than 15 min" in line
    assert "stale: it expired" in listed.stdout  # the scrape lock: 60 min old, TTL 30
    assert [lock.key for lock in Locks(state.store(), config).older_than()] == [
        f"nba_props:scrape:{INCIDENT}",
        f"nba_props:process:{INCIDENT}",
    ]
    stale = cli(state, "locks", "release", "stale=true", f"home={home}")
    assert stale.code == 0 and "1 stale locks released" in stale.stdout
    one = cli(state, "locks", "release", f"nba_props:process:{INCIDENT}", f"home={home}")
    assert one.code == 0 and "held by host elsewhere pid 7" in one.stdout
    assert rows(state) == []
    missing = cli(state, "locks", "release", "nope", f"home={home}")
    assert missing.code == 2 and "no lock 'nope'" in missing.stderr


def test_pid_of_this_process_counts_as_alive(state):
    locks = Locks(state.store(), LocksConfig(wait_s=0))
    locks.acquire("nba_props", "process", INCIDENT, "a")
    with pytest.raises(LockHeld):  # another run in the same process (a server thread) waits
        locks.acquire("nba_props", "process", INCIDENT, "b")
    assert os.getpid() == locks.pid


def test_a_holder_in_another_pid_namespace_is_another_host_even_with_our_host_name(state):
    """Containers (or sandboxes) may share a host name while their pids live apart: a pid
    that is gone here may be a live process there. Such a holder is recognised by its lease's
    expiry only, never taken over because its pid is absent from this namespace."""
    probe = "from lineflow.state.locks import this_host; print(this_host())"
    try:
        there = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", probe],
            cwd=ROOT, capture_output=True, text=True, timeout=60, env=child_env(state.env),
        )  # fmt: skip
    except FileNotFoundError:
        pytest.skip("no unshare(1) here: a second pid namespace cannot be made")
    if there.returncode != 0:
        pytest.skip(f"unshare --pid is not permitted here: {there.stderr.strip()[:200]}")
    theirs = there.stdout.strip()
    ours = this_host()
    assert theirs.split("~")[0] == ours.split("~")[0] == socket.gethostname()
    assert theirs != ours

    gone_here = 2**22 + 1  # above any pid_max: no such process in this namespace
    assert not pid_alive(gone_here)
    holder = Locks(state.store(), LocksConfig(), host=theirs, pid=gone_here)
    assert holder.try_acquire("nba_props", "process", INCIDENT, "their-run")[0]
    mine = Locks(state.store(), LocksConfig())
    ok, held = mine.try_acquire("nba_props", "process", INCIDENT, "my-run")
    assert not ok and held.host == theirs and held.run_id == "their-run"
    # The same absent pid recorded under our own host is a dead process of ours: taken over.
    assert holder.release(lock_key("nba_props", "process", INCIDENT), "their-run")
    ours_dead = Locks(state.store(), LocksConfig(), host=ours, pid=gone_here)
    assert ours_dead.try_acquire("nba_props", "process", INCIDENT, "dead-run")[0]
    assert mine.try_acquire("nba_props", "process", INCIDENT, "my-run")[0]
