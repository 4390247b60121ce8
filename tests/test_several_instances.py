"""Several `lineflow serve` instances, as a team runs them on Cloud Run behind one push
subscription: every landed file processed once, and the tables of a single machine's run,
though one instance dies mid-burst.

The layout is docs/deploy.md's layout 2 on loopback: one real Postgres holds the state and the
lake's catalog (two databases), the lake's data files sit in one shared folder, and the landing
zone is a fake-gcs-server bucket holding the responses of two partitions, replayed from the
recorded cassettes by the single machine's run below and put there as a scraper outside lineflow
lands them. Three `lineflow serve` processes, each with its own home and its own host name (a
UTS namespace each: separate machines, as far as lineflow can tell), take a burst of 200
deliveries: the bucket's notifications of every landed file and of some sidecars, a processor
request per partition, and redeliveries of the same message ids; spread over the instances with
a fixed seed, sent at once, and redelivered on a 5xx or a refused connection like a push
subscription (to any instance).

Once the state shows one instance holding a stage lock, that instance is stopped, checked to
still hold it, and killed with SIGKILL. Its leases and message claims stay in the state: its
host is another machine's, so no survivor can look its process up; they are free only when they
expire (`locks.ttl_minutes`, short here so the test is quick), and the survivors then take them
over and finish its work. (Where no process may have a host name of its own, a container
without CAP_SYS_ADMIN, the instances share this host's name and the survivors free the dead
one's locks as soon as they see its pid gone; a warning says so.)

What a team would check: every delivery ends acknowledged, no message dead-lettered or worked
twice; the ledger holds every landed file's content exactly once; every partition's tables equal,
row for row, a single `lineflow run` of the same partitions on the embedded default (SQLite and
a DuckDB file), run ids and times left out.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import gcsfs
import httpx
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lineflow.state.locks import host_mark
from lineflow.warehouse import open_warehouse
from tests.conftest import FIXTURES, ROOT, first_line, run_cli
from tests.support.postgres import PostgresServer
from tests.support.state import DSN_ENV, store_at
from tests.warehouse.test_ducklake import CATALOG_ENV, lake_config

PARTITIONS = ("2026-01-21", "2026-01-22")
TOKEN = "several-instances-token-8d2e"
PREFIX = "lf/raw"
DELIVERIES = 200
#: A short lease, so that a dead instance's locks and claims expire within seconds.
TTL_MINUTES = 0.1
VICTIM = 1

#: The tables a run writes, less what differs between any two runs (run ids, times, batch ids
#: made of the time); history tables as a user reads them (the last validation's results, the
#: active predictions).
TABLES = {
    "landed_files": "SELECT * EXCLUDE (run_id) FROM landed_files",
    "processed_files": "SELECT * EXCLUDE (run_id, processed_at) FROM processed_files",
    "stg_prop_lines": "SELECT * EXCLUDE (run_id) FROM stg_prop_lines",
    "prop_lines": "SELECT * EXCLUDE (run_id) FROM prop_lines",
    "consolidations": "SELECT * EXCLUDE (run_id, consolidated_at) FROM consolidations",
    "validations": "SELECT * EXCLUDE (run_id, validated_at) FROM validations",
    "validation_results": "SELECT * EXCLUDE (run_id, validated_at) FROM validation_results "
    "WHERE run_id IN (SELECT run_id FROM validations)",
    "quarantine": "SELECT * EXCLUDE (run_id, validation_run_id, quarantined_at) FROM quarantine",
    "line_quality": "SELECT * EXCLUDE (run_id, evaluated_at) FROM line_quality",
    "predictions": "SELECT * EXCLUDE (batch_id, run_id, created_at, superseded_at) "
    "FROM predictions WHERE is_active",
}


def hostname_prefix() -> list[str] | None:
    """A command prefix giving the child its own host name (a UTS namespace): root may create
    one; another user only inside a user namespace of its own, where the kernel allows that.
    None, with a warning saying why, where neither is possible (a container without
    CAP_SYS_ADMIN): the instances then share this host's name, and a dead one's locks are free
    as soon as its pid is gone, not at their expiry."""
    unshare = shutil.which("unshare")
    if unshare is None:
        warnings.warn(
            "unshare (util-linux) not found: the instances share one host name", stacklevel=2
        )
        return None
    prefix = [unshare, "--uts"] if os.geteuid() == 0 else [unshare, "--user", "--map-root-user"]
    if os.geteuid() != 0:
        prefix.append("--uts")
    probe = subprocess.run([*prefix, "hostname", "probe"], capture_output=True, text=True)
    if probe.returncode != 0:
        warnings.warn(
            f"no host name of their own for the instances: {probe.stderr.strip()}", stacklevel=2
        )
        return None
    return prefix


@dataclass
class Instance:
    """One `lineflow serve` process with its own home and host name."""

    name: str
    host: str  # the name its locks and claims carry
    proc: subprocess.Popen[str]
    log: Path
    url: str = ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_instance(
    name: str, home: Path, overrides: list[str], env: dict[str, str], own_host: list[str] | None
) -> Instance:
    """Start one instance, named `name` by its host where `own_host` (`hostname_prefix`) can;
    `listening` waits for it to say where it listens."""
    log = home.parent / f"{name}.stderr"
    home.mkdir(parents=True)
    serve = [sys.executable, "-m", "lineflow", "serve", "port=0", f"home={home}", *overrides]
    if own_host is not None:  # `exec`: the pid is the server's, for the kill below
        serve = [*own_host, "sh", "-c", 'hostname "$0" && exec "$@"', name, *serve]
    with log.open("w") as err:
        proc = subprocess.Popen(
            serve,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    # The host the state records: the name, and the kernel's and pid namespace's mark, which
    # `unshare --uts` leaves as they are.
    host = (name if own_host is not None else socket.gethostname()) + host_mark()
    return Instance(name, host, proc, log)


def listening(instance: Instance) -> None:
    line = first_line(instance.proc, 60)
    assert "listening on" in line, instance.log.read_text()
    instance.url = line.split("listening on ")[1].strip()


def push(payload: dict, message_id: str, published: datetime) -> bytes:
    """A Pub/Sub push envelope, as the subscription sends it."""
    return json.dumps(
        {
            "message": {
                "data": base64.b64encode(json.dumps(payload).encode()).decode(),
                "messageId": message_id,
                "publishTime": published.isoformat().replace("+00:00", "Z"),
                "attributes": {"eventType": "OBJECT_FINALIZE"},
            },
            "subscription": "projects/lines/subscriptions/lineflow",
        }
    ).encode()


@dataclass
class Delivery:
    message_id: str
    body: bytes
    first: int  # the instance it is sent to first
    answers: list[tuple[str, int, dict]] = field(default_factory=list)


def burst(bucket: str, objects: list[str], seed: int = 22) -> list[Delivery]:
    """200 deliveries: a notification of every landed file and of some sidecars, a processor
    request of each partition, and the rest redeliveries of message ids already in the burst;
    each to an instance chosen with a fixed seed, in a shuffled order."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    bodies = [o for o in objects if o.endswith(".json")]
    sidecars = [o for o in objects if o.endswith(".meta")]
    messages: list[tuple[str, dict]] = [
        (f"file-{i}", {"bucket": bucket, "name": name}) for i, name in enumerate(bodies)
    ]
    messages += [
        (f"meta-{i}", {"bucket": bucket, "name": name})
        for i, name in enumerate(rng.sample(sidecars, 10))
    ]
    messages += [(f"consolidate-{d}", {"processor": "consolidate", "date": d}) for d in PARTITIONS]
    redelivered = rng.choices(messages, k=DELIVERIES - len(messages))
    assert len(redelivered) >= 20, "too many landed files for the burst"
    deliveries = [
        Delivery(mid, push(payload, mid, now), rng.randrange(3))
        for mid, payload in messages + redelivered
    ]
    rng.shuffle(deliveries)
    return deliveries


def deliver(client: httpx.Client, instances: list[Instance], delivery: Delivery) -> None:
    """Deliver like a push subscription: on a 5xx or a refused connection, again (to the next
    instance: a redelivery may reach any), until a 2xx."""
    deadline = time.monotonic() + 150
    target = delivery.first
    while time.monotonic() < deadline:
        instance = instances[target % len(instances)]
        try:
            response = client.post(
                instance.url, content=delivery.body, headers={"Authorization": f"Bearer {TOKEN}"}
            )
        except httpx.TransportError as exc:  # the instance died (mid-request or before)
            delivery.answers.append((instance.name, 0, {"error": type(exc).__name__}))
        else:
            try:
                said = response.json()
            except ValueError:  # not lineflow's answer: an unhandled error's plain text
                said = {"error": response.text}
            delivery.answers.append((instance.name, response.status_code, said))
            if response.status_code < 500:
                return
        target += 1
        threading.Event().wait(0.25)  # a broker's redelivery delay, not synchronisation
    raise AssertionError(f"{delivery.message_id}: no 2xx in time: {delivery.answers[-3:]}")


def kill_once_leasing(victim: Instance, dsn: str, done: threading.Event) -> str:
    """SIGKILL `victim` as soon as the state shows it holding a stage lock: stopped first, so
    that the lock it is seen holding is still its own when it dies. The lock's key."""
    store = store_at(dsn)
    while not done.is_set():
        held = locks_of(store, victim)
        if held:
            os.kill(victim.proc.pid, signal.SIGSTOP)
            held = locks_of(store, victim)
            if held:
                os.kill(victim.proc.pid, signal.SIGKILL)
                victim.proc.wait(30)
                return held[0]
            os.kill(victim.proc.pid, signal.SIGCONT)
        done.wait(0.01)  # polling the state store: it has no notifications
    raise AssertionError(f"{victim.name} never held a lock during the burst")


def locks_of(store, instance: Instance) -> list[str]:
    if "locks" not in store.tables():
        return []
    with store.connect() as con:
        rows = con.execute(
            "SELECT key FROM locks WHERE host = ? AND pid = ?", (instance.host, instance.proc.pid)
        )
        return [r[0] for r in rows]


def rows(store, sql: str) -> list[tuple]:
    with store.connect() as con:
        return [tuple(r) for r in con.execute(sql).fetchall()]


@pytest.fixture
def shared(postgres: PostgresServer, bucket: str, tmp_path: Path, monkeypatch):
    """The shared stores of layout 2 (state and catalog databases, lake folder, landing bucket),
    the overrides and environment every instance is started with."""
    with postgres.database("state") as state, postgres.database("catalog") as catalog:
        data = tmp_path / "lake-data"
        overrides = [
            f"http.cassettes={FIXTURES}",
            "state.backend=postgres",
            "warehouse.kind=ducklake",
            f"warehouse.catalog_env={CATALOG_ENV}",
            f"warehouse.data_path={data}",
            f"landing.url=gs://{bucket}/{PREFIX}",
            f"locks.ttl_minutes={TTL_MINUTES}",
            "locks.heartbeat_s=1",
            "locks.wait_s=60",
            "work.backoff_base_s=0",
        ]
        env = {
            **os.environ,
            DSN_ENV: state.dsn,
            CATALOG_ENV: catalog.dsn,
            "LINEFLOW_TRIGGER_TOKEN": TOKEN,
        }
        monkeypatch.setenv(CATALOG_ENV, catalog.dsn)  # this process reads the lake too
        yield overrides, env, state.dsn, lake_config(CATALOG_ENV, data)


def test_three_instances_take_a_burst_and_one_dies_and_the_tables_are_one_machines(
    shared, bucket, tmp_path
):
    overrides, env, state_dsn, lake = shared
    dates = ",".join(PARTITIONS)
    # The single machine: the same partitions, every stage, on the embedded default.
    reference = tmp_path / "reference"
    ran = run_cli("run", "-m", f"date={dates}", f"home={reference}", f"http.cassettes={FIXTURES}")
    assert ran.code == 0, ran.stdout + ran.stderr
    # The same responses land in the bucket, sidecars and all, as a scraper outside lineflow
    # (or a bucket sync) puts them there: the lake's manifest knows none of them yet.
    fs = gcsfs.GCSFileSystem(token="anon", cache_timeout=0)
    for path in sorted((reference / "landing").rglob("*")):
        if path.is_file():
            name = path.relative_to(reference / "landing").as_posix()
            fs.pipe_file(f"{bucket}/{PREFIX}/{name}", path.read_bytes())
    objects = sorted(p.removeprefix(f"{bucket}/") for p in fs.find(f"{bucket}/{PREFIX}"))
    landed = [o for o in objects if o.endswith(".json")]
    assert len(landed) > 60, objects

    names = ["lineflow-a", "lineflow-b", "lineflow-c"]
    own_host = hostname_prefix()
    instances = [start_instance(n, tmp_path / n / "home", overrides, env, own_host) for n in names]
    for instance in instances:
        listening(instance)
    victim = instances[VICTIM]
    deliveries = burst(bucket, objects)
    try:
        done = threading.Event()
        with ThreadPoolExecutor(1) as watcher, httpx.Client(timeout=150) as client:
            killed = watcher.submit(kill_once_leasing, victim, state_dsn, done)
            with ThreadPoolExecutor(100) as pool:  # a push subscription delivers many at once
                list(pool.map(lambda d: deliver(client, instances, d), deliveries))
            done.set()
            lock_key = killed.result()
    finally:
        for instance in instances:
            instance.stop()

    # The victim died holding a lock; a survivor took it over once it expired (or, on one host
    # name, once it saw the pid gone).
    assert victim.proc.returncode == -signal.SIGKILL
    said = "".join(i.log.read_text() for i in instances if i is not victim)
    owner = f"host {victim.host} pid {victim.proc.pid}"
    assert f"lock {lock_key} taken over from {owner}" in said, said[-2000:]
    why = "it expired" if own_host is not None else f"its owner pid {victim.proc.pid} is gone"
    assert why in said

    # Every delivery acknowledged; no message dead-lettered or worked twice.
    codes = Counter(code for d in deliveries for _, code, _ in d.answers)
    assert set(codes) <= {0, 200, 503}, codes  # 0: refused or cut off (the dead instance)
    final = Counter(d.answers[-1][2]["status"] for d in deliveries)
    assert set(final) <= {"processed", "duplicate", "ignored"}, final
    processed = Counter(
        d.message_id for d in deliveries for _, _, a in d.answers if a.get("status") == "processed"
    )
    assert max(processed.values()) == 1, processed.most_common(3)
    assert any(name == victim.name for d in deliveries for name, _, _ in d.answers)
    store = store_at(state_dsn)
    assert rows(store, "SELECT kind, key, reason FROM dead_letters") == []
    messages = dict(rows(store, "SELECT key, status FROM work_items WHERE kind = 'message'"))
    assert messages == dict.fromkeys({d.message_id for d in deliveries}, "done")
    assert rows(store, "SELECT key, host FROM locks") == [], "every lock released"

    # The ledger: every landed file's content processed once, none missing, none failed.
    warehouse = open_warehouse(lake)
    ledger = warehouse.read(
        "SELECT file_id, slate_date, count(*) AS n, min(status) AS status FROM processed_files "
        "GROUP BY ALL ORDER BY ALL"
    )
    contents = warehouse.read("SELECT DISTINCT file_id, slate_date FROM landed_files ORDER BY ALL")
    assert ledger.select("file_id", "slate_date").equals(contents)
    assert ledger["n"].max() == 1, "a file processed twice"
    assert set(ledger["status"]) <= {"ok", "outage"}, ledger["status"].value_counts()
    assert warehouse.read("SELECT count(*) FROM landed_files").item() == len(landed)

    # Every partition's tables: those of the single machine's run.
    con = duckdb.connect(str(reference / "lineflow.duckdb"), read_only=True)
    con.execute("SET TimeZone = 'UTC'")  # as the warehouses read it
    try:
        for name, sql in TABLES.items():
            expected = con.execute(f"{sql} ORDER BY ALL").pl()
            if name != "quarantine":  # no line of these two days breaks a quarantining rule
                assert set(expected["slate_date"].cast(pl.String)) == set(PARTITIONS), name
            try:
                assert_frame_equal(warehouse.read(f"{sql} ORDER BY ALL"), expected)
            except AssertionError as exc:
                raise AssertionError(f"{name}: {exc}") from None
    finally:
        con.close()
