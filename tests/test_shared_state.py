"""The shared state store (`state.backend=postgres`) against a real Postgres on loopback: a run
keeps its state there and nowhere else, with the same results as the embedded default; claims
are exclusive across processes; config mistakes and an unreachable server are one line each."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lineflow.config import LocksConfig, WorkConfig
from lineflow.state.locks import Locks
from lineflow.state.work import WorkQueue
from tests.conftest import INCIDENT, first_line, run_cli, table_checksum
from tests.support.postgres import url_dsn
from tests.support.state import DSN_ENV, StateTarget, python_child, store_at

PG = "state.backend=postgres"

#: Run-independent views of the warehouse tables a run writes (run ids and times left out).
TABLES = {
    "prop_lines": "(SELECT * EXCLUDE (run_id) FROM prop_lines)",
    "landed_files": "(SELECT * EXCLUDE (run_id) FROM landed_files)",
    "processed_files": "(SELECT * EXCLUDE (run_id, processed_at) FROM processed_files)",
    "consolidations": "(SELECT * EXCLUDE (run_id, consolidated_at) FROM consolidations)",
    "quarantine": "(SELECT * EXCLUDE (run_id, validation_run_id, quarantined_at) FROM quarantine)",
    "run_history": "(SELECT processor, status, rows, requests, error FROM run_history)",
}
#: What a run leaves in the state store, without times or owners.
STATE = {
    "locks": "SELECT key FROM locks ORDER BY key",
    "work_items": "SELECT kind, key, partition, status, attempts, last_error FROM work_items "
    "ORDER BY kind, key",
    "dead_letters": "SELECT kind, key, reason, permanent FROM dead_letters ORDER BY kind, key",
}


def same(text: str, home: Path) -> str:
    """A command's output without what differs between two runs: home, run ids, times."""
    text = text.replace(str(home), "HOME")
    text = re.sub(r"\d{8}-\d{8}T\d{6}-[0-9a-f]+|batch_\d{8}_\d+(?:_[0-9a-f]+)?", "ID", text)
    text = re.sub(r"(\d{4}-)?\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?Z?|\d+(\.\d+)?m?s\b", "T", text)
    return " ".join(text.split())


def state_rows(store, sql: str) -> list[tuple]:
    with store.connect() as con:
        return [tuple(r) for r in con.execute(sql).fetchall()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, postgres):
    """The incident day run offline twice: embedded state, and state in Postgres."""
    with postgres.database("run") as db:
        base = tmp_path_factory.mktemp("shared-state")
        embedded, shared = base / "sqlite", base / "postgres"
        env = {DSN_ENV: db.dsn}
        one = run_cli("run", f"date={INCIDENT}", f"home={embedded}")
        two = run_cli("run", f"date={INCIDENT}", f"home={shared}", PG, env=env)
        yield embedded, shared, db.dsn, one, two


def test_a_run_on_shared_state_equals_the_embedded_run(runs) -> None:
    embedded, shared, dsn, one, two = runs
    assert one.code == 0, one.stderr
    assert two.code == 0, two.stdout + two.stderr
    assert not (shared / "state.sqlite").exists(), "the state lives in Postgres only"
    for name, view in TABLES.items():
        assert table_checksum(shared, view) == table_checksum(embedded, view), name
    sqlite, postgres = store_at(str(embedded / "state.sqlite")), store_at(dsn)
    for name, sql in STATE.items():
        assert state_rows(postgres, sql) == state_rows(sqlite, sql), name
    assert "locks" in postgres.tables(), "the run took its locks there"


def test_locks_dlq_status_and_proxies_read_the_shared_store(runs) -> None:
    embedded, shared, dsn, _one, _two = runs
    for args in (["locks"], ["dlq"], ["status", f"date={INCIDENT}"], ["proxies"]):
        here = run_cli(*args, f"home={embedded}")
        there = run_cli(*args, f"home={shared}", PG, env={DSN_ENV: dsn})
        assert there.code == here.code == 0, there.stdout + there.stderr
        assert same(there.stdout, shared) == same(here.stdout, embedded), args
    # A lock held by another instance is listed and released by name through the command.
    Locks(store_at(dsn), LocksConfig(), host="instance-2", pid=7).acquire(
        "nba_props", "process", INCIDENT, "their-run"
    )
    listed = run_cli("locks", f"home={shared}", PG, env={DSN_ENV: dsn})
    assert "host instance-2 pid 7 run their-run" in listed.stdout
    key = f"nba_props:process:{INCIDENT}"
    freed = run_cli("locks", "release", key, f"home={shared}", PG, env={DSN_ENV: dsn})
    assert freed.code == 0 and "held by host instance-2 pid 7" in freed.stdout
    assert Locks(store_at(dsn), LocksConfig()).held() == []
    # A dead letter another instance recorded is listed with its reason.
    WorkQueue(store_at(dsn), WorkConfig()).failed(
        "file", "odds_api/x.json", "landing:odds_api/x.json", "truncated JSON", permanent=True,
        partition=INCIDENT,
    )  # fmt: skip
    letters = run_cli("dlq", f"home={shared}", PG, env={DSN_ENV: dsn})
    assert "reason: truncated JSON" in letters.stdout and "1 dead letters" in letters.stdout


CLAIMER = """
import json, random, sys
from lineflow.config import WorkConfig
from lineflow.state.work import WorkQueue
from tests.support.state import store_at
address, me, n, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
queue = WorkQueue(store_at(address), WorkConfig())
keys = [f"file-{i:03d}" for i in range(n)]
random.Random(me).shuffle(keys)  # each in its own order: they meet all along, not in one spot
print("ready", flush=True)
for r in range(rounds):  # a round starts when both are released into it
    sys.stdin.readline()
    part = keys[r * n // rounds : (r + 1) * n // rounds]
    mine = [k for k in part if queue.claim("file", k, f"landing:{k}", me)[0] == "claimed"]
    print(json.dumps(mine), flush=True)
"""


def test_two_processes_claiming_the_same_items_never_both_get_one(
    state_target: StateTarget,
) -> None:
    # The two race in rounds, released into each one together, so that neither can take
    # everything before the other is scheduled (on SQLite, with its connection kept, one
    # process once claimed all 3,000 items alone). Each tries a tenth of the items a round in
    # its own order: the tenths overlap, and items the other took in earlier rounds come up too.
    n, rounds = (3000 if state_target.backend == "sqlite" else 300), 10
    WorkQueue(state_target.store(), WorkConfig())  # the tables exist before the race
    claimers = [
        python_child(CLAIMER, state_target.address, who, str(n), str(rounds)) for who in "ab"
    ]
    for proc in claimers:
        assert first_line(proc) == "ready\n", proc.stderr.read()
    claimed: list[set[str]] = [set(), set()]
    for _ in range(rounds):
        for proc in claimers:  # release both only once both finished the round before
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for mine, proc in zip(claimed, claimers, strict=True):
            line = first_line(proc, timeout=120)
            assert line, proc.stderr.read()
            mine.update(json.loads(line))
    for proc in claimers:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    a, b = claimed
    assert not a & b, "an item was claimed twice"
    assert a | b == {f"file-{i:03d}" for i in range(n)}
    assert a and b, "both took part (each claims in its own order)"
    owners = dict(state_rows(state_target.store(), "SELECT key, claimed_by FROM work_items"))
    assert owners == {**dict.fromkeys(a, "a"), **dict.fromkeys(b, "b")}, "the store agrees"


def test_a_lease_expires_and_is_taken_over_by_another_instance(postgres_db) -> None:
    now = [1_000_000.0]
    config = LocksConfig(ttl_minutes=1, wait_s=0)
    events: list[str] = []
    first = Locks(store_at(postgres_db.dsn), config, host="i-1", pid=1, clock=lambda: now[0])
    second = Locks(
        store_at(postgres_db.dsn), config, host="i-2", pid=2, clock=lambda: now[0],
        log=events.append,
    )  # fmt: skip
    key = first.acquire("nba_props", "consolidate", INCIDENT, "run-1").key
    assert not second.try_acquire("nba_props", "consolidate", INCIDENT, "run-2")[0]
    now[0] += 30
    assert first.renew(key, "run-1"), "a heartbeat pushes the expiry on"
    now[0] += 61  # past the renewed expiry: the holder stopped beating
    ok, mine = second.try_acquire("nba_props", "consolidate", INCIDENT, "run-2")
    assert ok and (mine.host, mine.run_id) == ("i-2", "run-2")
    assert events and "taken over from host i-1 pid 1 run run-1: it expired" in events[0]
    assert not first.renew(key, "run-1") and not first.release(key, "run-1"), "it lost the lease"


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["state.backend=mysql"], {}, "state.backend: Input should be 'sqlite' or 'postgres'"),
        ([PG], {DSN_ENV: ""}, f"state: environment variable {DSN_ENV} not set"),
        ([PG, "state.dsn_env=NO_SUCH_VAR"], {}, "environment variable NO_SUCH_VAR not set"),
        ([PG], {DSN_ENV: "host=db password=pw-Never-Shown-42 port"}, "DSN cannot be parsed"),
    ],
)
def test_a_bad_backend_or_dsn_is_one_line_and_exit_2(tmp_path, args, env, said):
    out = run_cli("locks", f"home={tmp_path / 'home'}", *args, env=env)
    assert out.code == 2, out.stdout + out.stderr
    assert said in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "pw-Never-Shown-42" not in out.stdout + out.stderr


def test_an_unreachable_server_is_one_line_naming_it_without_the_password(tmp_path) -> None:
    from tests.support.emulators import free_port

    port = free_port()  # nothing listens there
    password = "pw-Never-Shown-42"
    dsn = url_dsn(password, "127.0.0.1", port, "state")
    home = tmp_path / "home"
    for args in (["locks"], ["run", f"date={INCIDENT}", "pipeline.stages=[process]"]):
        out = run_cli(*args, f"home={home}", PG, env={DSN_ENV: dsn})
        assert out.code != 0, out.stdout
        said = out.stderr.strip().splitlines()
        assert len(said) == 1 and f"postgres 127.0.0.1:{port}/state" in said[0], out.stderr
        assert "cannot connect" in said[0]
        assert password not in out.stdout + out.stderr
    written = [p for p in home.rglob("*") if p.is_file()] if home.exists() else []
    assert not [p for p in written if password.encode() in p.read_bytes()], "nor in any file"


def test_the_config_shows_the_variable_never_the_dsn(postgres_db) -> None:
    shown = run_cli("run", "--cfg", "job", PG, env={DSN_ENV: postgres_db.dsn})
    assert shown.code == 0, shown.stderr
    assert f"dsn_env: {DSN_ENV}" in shown.stdout and postgres_db.name not in shown.stdout


def test_the_store_describes_itself_without_the_password() -> None:
    store = store_at(url_dsn("hunter2-secret", "db.internal", 6432, "lineflow", user="u"))
    assert store.where() == "postgres db.internal:6432/lineflow"
    assert "hunter2" not in repr(store)
