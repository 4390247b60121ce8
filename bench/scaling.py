"""The scaling part: the season's processing on 1, 2 and 4 workers, embedded and shared.

`python -m bench --parts scaling [--workers 1,2,4]` runs the reprocessing backfill the
throughput part measures (`lineflow backfill start=... end=... sources=[odds_api,bettingpros]
pipeline.stages=[process,validate,consolidate]`) the way a user spreads it over workers with
lineflow today: `executor=ray address=HEAD max_parallel=N`, every partition a Ray task on a local
cluster of two nodes (tests/support/raycluster.py), the command in a subprocess, on

- embedded: the default stores in the home (state.sqlite, lineflow.duckdb; the tasks take the
  DuckDB file in turn through its flock hand-over), and
- shared: `state.backend=postgres` and `warehouse.kind=ducklake`, the lake's catalog in Postgres
  and its data files in a local folder (one Postgres on loopback, tests/support/postgres.py).

Invariants: every run starts from a fresh home and fresh databases; the worker counts run in
turn for both engines side by side (embedded N, shared N, then the next N), so that a load that
comes and goes weighs on both alike; every run must leave the same canonical rows (count and
digest of `prop_lines`), or the part fails. Measured per run: the command's wall time, the span
of its partitions' stages (run_history: first start to last finish, without the command's
start and the cluster's connect), and for the lake, from its catalog database: commits
(snapshots), commits per table, commits DuckLake retried (another writer took the snapshot id
first: a unique violation in the server's log) and transactions Postgres rolled back.

Then the commit probe: 1, 2 and 4 processes replacing partitions of one lake table (lineflow's
own `replace_partition`, a DELETE and an INSERT in one commit, run again on a conflict), as fast
as they can: commits/s on one table, time per commit and conflicts counted by the writers. This
is the ceiling of the model in docs/benchmarks.md (where scaling stops).

Needs the `test` extra (Postgres driver, lake wheels, Ray) and Postgres binaries; without them
the part is reported skipped, with the reason.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from bench.measure import ROOT, JobFailed, lineflow_command, run_command
from bench.parts import _rate_limits  # each source's configured rate, as the fetch part reads it

WORKERS = (1, 2, 4)
ENGINES = ("embedded", "shared")
#: The environment variables holding the shared stores' conninfo, on the driver and the nodes
#: (as on real machines; the settings name the variables, never the conninfo).
STATE_DSN_ENV = "LINEFLOW_STATE_DSN"
CATALOG_ENV = "LINEFLOW_LAKE_CATALOG"
#: One database for the state, one for the lake's catalog, made afresh for every run under
#: the same names: the nodes' environment is set once, when the cluster starts.
STATE_DB, CATALOG_DB = "scale_state", "scale_lake"
SOURCES = ("odds_api", "bettingpros")
STAGES = ("process", "validate", "consolidate")
#: The commit probe: writers at once, commits each, rows per commit (a partition's worth of a
#: small table: validation results, the line-quality verdicts).
PROBE_WRITERS = (1, 2, 4)
PROBE_COMMITS = 40
PROBE_ROWS = 200
PROBE_TABLE = "probe_lines"
#: A commit's row changes in `ducklake_snapshot_changes.changes_made`, by table id.
CHANGE = re.compile(r"(?:(?:inserted_into|deleted_from)_table|inlined_(?:insert|delete)):(\d+)")


class Unavailable(Exception):
    """What this machine lacks to run the part (the part is then reported skipped)."""


def parse_workers(text: str) -> tuple[int, ...]:
    """`--workers 1,2,4`: distinct positive counts, in increasing order."""
    try:
        counts = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise ValueError(f"expected worker counts like 1,2,4, got {text!r}") from None
    if not counts or counts[0] < 1 or counts[-1] > 32:
        raise ValueError(f"expected worker counts from 1 to 32, got {text!r}")
    return tuple(counts)


def _missing() -> str | None:
    import importlib.util

    for module, extra in (
        ("pytest", "test"),  # tests.support's Postgres module brings its fixtures along
        ("ray", "ray"),
        ("psycopg", "postgres"),
        ("duckdb_extension_ducklake", "lake"),
        ("duckdb_extension_postgres_scanner", "lake"),
    ):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[test]' brings the {extra} extra)"
    return None


# -- the part ---------------------------------------------------------------------------------


def scaling(out: Path, season: dict[str, Any], workers: tuple[int, ...]) -> dict[str, Any]:
    """Both engines at each worker count, then the commit probe; {"skipped": why} if this
    machine cannot run a Postgres or a Ray cluster."""
    missing = _missing()
    if missing:
        return {"skipped": missing}
    from tests.support.postgres import PostgresUnavailable, postgres_server
    from tests.support.raycluster import ray_cluster

    root = out / "homes" / "scaling"
    shutil.rmtree(root, ignore_errors=True)
    with ExitStack() as stack:
        try:
            server = stack.enter_context(postgres_server())
        except PostgresUnavailable as exc:
            return {"skipped": str(exc)}
        env = {STATE_DSN_ENV: server.dsn(STATE_DB), CATALOG_ENV: server.dsn(CATALOG_DB)}
        # Two nodes, as a cluster of two machines would be; enough task slots for the most
        # workers asked for (a task takes one), so max_parallel alone sets the workers.
        cluster = stack.enter_context(ray_cluster(env=env, cpus=math.ceil(max(workers) / 2)))
        # The reference: the same backfill without Ray, as the throughput part runs it (threads
        # of one process sharing one warehouse connection, the command's max_parallel).
        local = _run(root / "local", season, None, server, "embedded", None)
        print(f"  scaling: {say_run(local)}", flush=True)
        runs = []
        for n in workers:
            for engine in ENGINES:
                run = _run(root / f"{engine}-{n}", season, cluster.address, server, engine, n)
                print(f"  scaling: {say_run(run)}", flush=True)
                runs.append(run)
        probe = [_probe(root / f"probe-{k}", server, k) for k in PROBE_WRITERS]
        shutil.rmtree(root, ignore_errors=True)
    return summarise(runs, local, probe, season, workers)


def _run(
    home: Path,
    season: dict[str, Any],
    address: str | None,
    server: Any,
    engine: str,
    n: int | None,
) -> dict[str, Any]:
    """One `lineflow backfill ... executor=ray max_parallel=N` on fresh stores (without an
    address: the local backfill, with the command's own max_parallel)."""
    home.mkdir(parents=True)
    dates = season["dates"]
    overrides = [f"home={home}", f"landing.root={season['landing']}"]
    env: dict[str, str] = {}
    if engine == "shared":
        _recreate(server, STATE_DB, CATALOG_DB)
        overrides += [
            "state.backend=postgres",
            "warehouse.kind=ducklake",
            f"warehouse.catalog_env={CATALOG_ENV}",
            f"warehouse.data_path={home / 'lake'}",
        ]
        env = {STATE_DSN_ENV: server.dsn(STATE_DB), CATALOG_ENV: server.dsn(CATALOG_DB)}
        before = _create_lake(server, overrides, env)
    command = [
        *lineflow_command(),
        "backfill",
        f"start={dates[0]}",
        f"end={dates[-1]}",
        f"sources=[{','.join(SOURCES)}]",
        f"pipeline.stages=[{','.join(STAGES)}]",
        *([f"max_parallel={n}"] if n else []),
        *(["executor=ray", f"address={address}"] if address else []),
        *overrides,
    ]
    logged = server.log.stat().st_size
    try:
        timed = run_command(command, env, marker="backfill bf-")
    except JobFailed:
        with _environment(env):
            failed = _failed_partitions(overrides)
        raise RuntimeError(
            f"scaling: the {engine} backfill with {n or 'default'} workers failed: {failed}"
        ) from None
    if "backfill bf-" not in timed.stdout or not re.search(r": complete\s*$", timed.stdout):
        raise RuntimeError(f"scaling: the {engine} backfill with {n} workers did not complete")
    # The catalog first: its transaction counts are the tasks' alone, before any read here.
    catalog = _catalog(server, CATALOG_DB, logged, before) if engine == "shared" else None
    with _environment(env):
        table = _lines(overrides)
    result: dict[str, Any] = {
        "engine": engine,
        "executor": "ray" if address else "local",
        "workers": n,
        "wall_seconds": timed.wall_seconds,
        "connect_seconds": timed.marker_seconds,
        **table,
    }
    if catalog is not None:
        span = table["span_seconds"]
        catalog["commits_per_second"] = catalog["commits"] / span if span else None
        catalog["hottest_table_commits_per_second"] = (
            catalog["hottest_table_commits"] / span if span else None
        )
        result["catalog"] = catalog
    return result


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """This process's environment with `env` added for the block (the shared stores' conninfo,
    which composing the settings and attaching the lake read from it)."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _create_lake(server: Any, overrides: list[str], env: dict[str, str]) -> dict[str, Any]:
    """The lake's catalog and tables, made by one process before the run (as a deployment's
    first run makes them, once), and the catalog's counters then, which the run's are taken
    from (an attach that loses the race to create an empty catalog attaches again, but the
    counters would then include the catalog's creation)."""
    created = subprocess.run(
        [sys.executable, "-m", "bench.scaling", "create-lake", json.dumps(overrides)],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if created.returncode != 0:
        raise RuntimeError(f"scaling: creating the lake failed:\n{created.stderr[-2000:]}")
    return _catalog(server, CATALOG_DB, server.log.stat().st_size)


def create_lake(overrides: list[str]) -> None:
    """Attach the configured lake once, read-write: its catalog and every table are made."""
    from lineflow.config import compose
    from lineflow.warehouse import open_warehouse

    open_warehouse(compose(overrides).warehouse).query("SELECT count(*) FROM stg_prop_lines")


def _failed_partitions(overrides: list[str]) -> list[tuple[str, str]]:
    """The failed partitions of the run's backfill and their errors, from its manifest."""
    from lineflow.config import compose
    from lineflow.pipeline.backfill import FAILED, Manifest
    from lineflow.state import open_state

    manifest = Manifest(open_state(compose(overrides), create=False))
    return [
        (str(p["slate_date"]), str(p["last_error"]))
        for backfill in manifest.list()
        for p in manifest.partitions(backfill["id"])
        if p["status"] == FAILED
    ]


def _lines(overrides: list[str]) -> dict[str, Any]:
    """What the run left, read as a user reads it (lineflow's own warehouse reader): canonical
    rows, an order-free digest of `prop_lines` (run ids aside), and the stages' span."""
    from lineflow.config import compose
    from lineflow.warehouse import open_warehouse

    warehouse = open_warehouse(compose(overrides).warehouse)
    digest = warehouse.read(
        "SELECT count(*) AS n, coalesce(sum(hash(t::VARCHAR)), 0)::VARCHAR AS digest "
        "FROM (SELECT * EXCLUDE (run_id) FROM prop_lines) t"
    ).row(0, named=True)
    span = warehouse.read(
        "SELECT epoch(max(finished_at)) - epoch(min(started_at)) AS s, count(*) AS runs "
        "FROM run_history"
    ).row(0, named=True)
    per_date = warehouse.read(
        "SELECT slate_date::VARCHAR AS d, count(*) AS n FROM prop_lines GROUP BY 1 ORDER BY 1"
    )
    return {
        "canonical_rows": int(digest["n"]),
        "digest": digest["digest"],
        "rows_by_date": dict(zip(per_date["d"].to_list(), per_date["n"].to_list(), strict=True)),
        "span_seconds": float(span["s"] or 0.0),
        "stage_runs": int(span["runs"]),
    }


# -- Postgres: fresh databases, the catalog's figures -----------------------------------------


def _recreate(server: Any, *names: str) -> None:
    import psycopg

    with psycopg.connect(server.dsn(), autocommit=True) as con:
        for name in names:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            con.execute(f'CREATE DATABASE "{name}"')


def _catalog(
    server: Any, dbname: str, logged: int, before: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The lake's commits from its catalog: snapshots in all and per table (DuckLake writes
    each commit's changes as `kind:table_id` items, rows in Parquet files or inlined in the
    catalog), and the catalog database's committed and rolled-back transactions, read once
    every session on it has ended (Postgres counts a session's transactions when it ends);
    and the commits DuckLake tried again because another writer's commit took the snapshot id
    meanwhile (`ducklake_max_retry_count`, 10 by default, with a growing pause): each is a
    unique violation on `ducklake_snapshot_pkey` in the server's log after byte `logged`.
    Rollbacks count those, the commits lineflow ran again on a conflict (`retrying`), and
    read transactions DuckDB ended with a rollback (the one-worker run shows that floor).
    Given `before` (this function's answer earlier), the counts since then."""
    import psycopg

    with psycopg.connect(server.dsn(dbname), autocommit=True) as con:
        _wait_for_no_sessions(con, dbname)
        tables = dict(con.execute("SELECT table_id, table_name FROM ducklake_table").fetchall())
        changes = con.execute("SELECT changes_made FROM ducklake_snapshot_changes").fetchall()
        (commits,) = con.execute("SELECT count(*) FROM ducklake_snapshot").fetchone() or (0,)
        (files,) = con.execute("SELECT count(*) FROM ducklake_data_file").fetchone() or (0,)
        con.execute("SELECT pg_stat_clear_snapshot()")
        row = con.execute(
            "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = %s",
            [dbname],
        ).fetchone()
    with server.log.open("rb") as log:
        log.seek(logged)
        races = log.read().count(b'unique constraint "ducklake_snapshot_pkey"')
    per_table: dict[str, int] = {}
    for (made,) in changes:
        touched = {int(m) for m in CHANGE.findall(made)}
        for table_id in touched:
            name = tables.get(table_id, str(table_id))
            per_table[name] = per_table.get(name, 0) + 1
    hottest = max(per_table.items(), key=lambda kv: kv[1], default=("-", 0))
    if before is not None:
        commits -= before["commits"]
        row = (row[0] - before["pg_transactions"], row[1] - before["pg_rollbacks"]) if row else row
        per_table = {k: v - before["commits_by_table"].get(k, 0) for k, v in per_table.items()}
    return {
        "commits": int(commits),
        "commits_by_table": dict(sorted(per_table.items(), key=lambda kv: -kv[1])),
        "hottest_table": hottest[0],
        "hottest_table_commits": hottest[1],
        "data_files": int(files),
        "pg_transactions": int(row[0]) if row else None,
        "pg_rollbacks": int(row[1]) if row else None,
        "commit_retries": races,
    }


def _wait_for_no_sessions(con: Any, dbname: str, timeout_s: float = 60.0) -> None:
    """Until no other session is connected to `dbname` (the Ray workers that held the lake have
    exited), bounded; Postgres has no notification for it, so ask again every 50 ms."""
    deadline = time.monotonic() + timeout_s
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
    while time.monotonic() < deadline:
        (others,) = con.execute(query, [dbname]).fetchone() or (0,)
        if not others:
            return
        time.sleep(0.05)
    raise RuntimeError(f"scaling: sessions on {dbname} still open after {timeout_s:.0f} s")


# -- the commit probe -------------------------------------------------------------------------


def _probe(work: Path, server: Any, writers: int) -> dict[str, Any]:
    """`writers` processes replacing partitions of one lake table at once, `PROBE_COMMITS`
    each; they start together (each attaches, says ready, and waits for a line on stdin)."""
    _recreate(server, CATALOG_DB)
    work.mkdir(parents=True)
    logged = server.log.stat().st_size
    env = {**os.environ, CATALOG_ENV: server.dsn(CATALOG_DB), "PYTHONPATH": str(ROOT)}
    config = {"data_path": str(work / "lake"), "path": str(work / "unused.duckdb")}
    # Each writer creates the table if missing; the first commit of a new table is DDL,
    # which would conflict with the others': make it once, before they start.
    _probe_child(env, {**config, "writer": 0, "commits": 0}).communicate("\n", timeout=120)
    before = _catalog(server, CATALOG_DB, logged)
    children = [
        _probe_child(env, {**config, "writer": i + 1, "commits": PROBE_COMMITS})
        for i in range(writers)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            line = child.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"scaling probe writer did not start: {line}")
        started = time.perf_counter()
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        reports = []
        for child in children:
            stdout, stderr = child.communicate(timeout=600)
            if child.returncode != 0:
                raise RuntimeError(f"scaling probe writer failed:\n{stderr[-2000:]}")
            reports.append(json.loads(stdout.strip().splitlines()[-1]))
        seconds = time.perf_counter() - started
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    catalog = _catalog(server, CATALOG_DB, logged, before)
    times = sorted(t for r in reports for t in r["times"])
    commits = sum(r["commits"] for r in reports)
    attempts = sum(r["attempts"] for r in reports)
    return {
        "writers": writers,
        "commits": commits,
        "seconds": seconds,
        "commits_per_second": commits / seconds,
        "conflicts": attempts - commits,
        "commit_retries": catalog["commit_retries"],
        "commit_seconds_median": times[len(times) // 2],
        "commit_seconds_p90": times[int(len(times) * 0.9)],
        "pg_rollbacks": catalog["pg_rollbacks"],
    }


def _probe_child(env: dict[str, str], args: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.scaling", "probe", json.dumps(args)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def probe_writer(args: dict[str, Any]) -> dict[str, Any]:
    """One writer of the probe (in its own process): attach, say ready, wait for a line, then
    replace its partitions one commit at a time, timing each (its conflicts' reruns included)."""
    import polars as pl

    from lineflow.config import WarehouseConfig
    from lineflow.warehouse.base import Column, TableSpec
    from lineflow.warehouse.ducklake import DuckLakeWarehouse

    class Counting(DuckLakeWarehouse):
        """The lake warehouse, counting its write transactions (a conflict's rerun is one)."""

        attempts = 0

        @contextmanager
        def transaction(self) -> Iterator[Any]:
            type(self).attempts += 1
            with super().transaction() as con:
                yield con

    config = WarehouseConfig(
        kind="ducklake", path=args["path"], catalog_env=CATALOG_ENV, data_path=args["data_path"]
    )
    lake = Counting.configured(config)
    spec = TableSpec(
        PROBE_TABLE,
        (Column("slate_date", "DATE"), Column("player", "STRING"), Column("line", "FLOAT64")),
    )
    lake.ensure_table(spec)
    players = [f"p{i}" for i in range(PROBE_ROWS)]
    rows = pl.DataFrame({"player": players, "line": [0.5] * PROBE_ROWS})
    print("ready", flush=True)
    sys.stdin.readline()
    Counting.attempts = 0
    times = []
    writer = int(args["writer"])
    for i in range(int(args["commits"])):
        # Each writer its own partitions, as partitions of a backfill are.
        day = date.fromordinal(date(2025, 10, 21).toordinal() + writer * 1000 + i)
        frame = rows.with_columns(slate_date=pl.lit(day), line=pl.lit(float(i)))
        started = time.perf_counter()
        lake.replace_partition(spec, day, frame)
        times.append(time.perf_counter() - started)
    return {"commits": len(times), "attempts": Counting.attempts, "times": times}


# -- the summary, the model's inputs ----------------------------------------------------------


def summarise(
    runs: list[dict[str, Any]],
    local: dict[str, Any],
    probe: list[dict[str, Any]],
    season: dict[str, Any],
    workers: tuple[int, ...],
) -> dict[str, Any]:
    """Throughput, speed-up, the shared store's overhead, equal rows, and the model's inputs."""
    digests = {(r["canonical_rows"], r["digest"]) for r in [local, *runs]}
    if len(digests) != 1:
        found = ", ".join(
            f"{r['engine']}/{r['executor']}/{r['workers']}: {r['canonical_rows']}"
            for r in [local, *runs]
        )
        raise RuntimeError(f"scaling: the runs left different rows ({found})")
    rows = runs[0]["canonical_rows"]
    by = {(r["engine"], r["workers"]): r for r in runs}
    for r in [local, *runs]:
        r["rows_per_second"] = rows / r["span_seconds"] if r["span_seconds"] else None
        r["rows_per_second_wall"] = rows / r["wall_seconds"]
    for r in runs:
        one = by[(r["engine"], workers[0])]
        r["speedup"] = one["span_seconds"] / r["span_seconds"] if r["span_seconds"] else None
    first = workers[0]
    overhead = {
        str(n): by[("shared", n)]["span_seconds"] / by[("embedded", n)]["span_seconds"]
        for n in workers
        if by[("embedded", n)]["span_seconds"]
    }
    partitions = len(season["dates"])
    catalog = by[("shared", first)]["catalog"]
    return {
        "workers": list(workers),
        "dates": season["dates"],
        "partitions": partitions,
        "canonical_rows": rows,
        "rows_equal": True,
        "cores": os.cpu_count(),
        "runs": [{k: v for k, v in r.items() if k != "rows_by_date"} for r in runs],
        "local": {k: v for k, v in local.items() if k != "rows_by_date"},
        "shared_over_embedded": overhead,
        "shared_over_embedded_at_1": overhead.get(str(first)),
        "commits_per_partition": catalog["commits"] / partitions,
        "hottest_table_commits_per_partition": catalog["hottest_table_commits"] / partitions,
        "probe": probe,
        "model": model([local, *runs], probe, season, catalog),
    }


def model(
    runs: list[dict[str, Any]],
    probe: list[dict[str, Any]],
    season: dict[str, Any],
    catalog: dict[str, Any],
) -> dict[str, Any]:
    """Where scaling stops, in partitions (a date of one league, every pass) a second, from
    what was measured: the processing rate of the best run of each engine and executor
    (`runs` includes the local one); the lake's: the
    commit rate of writers racing on one table (the probe's best) over the commits a partition
    makes, all of them (every commit takes the catalog's next snapshot id, one sequence for
    the whole lake, which is what the racing writers retried on) and to its busiest table
    (DuckLake's conflict check is per table); each provider's: its rate limit per key (the
    default config's) over the requests a partition's passes make (the season's landed
    files, one per request)."""
    partitions = len(season["dates"])
    best = {
        f"{engine}/{executor}": max(
            (r for r in runs if (r["engine"], r["executor"]) == (engine, executor)),
            key=lambda r: r["rows_per_second"] or 0,
        )
        for engine, executor in sorted({(r["engine"], r["executor"]) for r in runs})
    }
    table_rate = max(p["commits_per_second"] for p in probe)
    hottest = catalog["hottest_table_commits"] / partitions
    commits = catalog["commits"] / partitions
    limits = {name: per_second for name, (per_second, _burst) in _rate_limits().items()}
    requests: dict[str, float] = {}
    for key, count in season["files"].items():
        source = key.split("/", 1)[0]
        requests[source] = requests.get(source, 0) + count / partitions
    providers = {
        source: {
            "per_second": limits[source],
            "requests_per_partition": per_partition,
            "partitions_per_second": limits[source] / per_partition,
        }
        for source, per_partition in requests.items()
        if limits.get(source)
    }
    return {
        "passes": season["passes"],
        "processing_partitions_per_second": {
            engine: {"workers": r["workers"] or 0, "rate": partitions / r["span_seconds"]}
            for engine, r in best.items()
        },
        "table_commits_per_second": table_rate,
        "commits_per_partition": commits,
        "hottest_table_commits_per_partition": hottest,
        "catalog_partitions_per_second": table_rate / commits if commits else None,
        "table_partitions_per_second": table_rate / hottest if hottest else None,
        "providers": providers,
    }


def say_run(r: dict[str, Any]) -> str:
    who = f"x{r['workers']}" if r["executor"] == "ray" else "local backfill"
    text = (
        f"{r['engine']} {who}: span {r['span_seconds']:.1f} s, wall "
        f"{r['wall_seconds']:.1f} s, {r['canonical_rows']:,} rows"
    )
    if "catalog" in r:
        c = r["catalog"]
        text += (
            f", {c['commits']} commits, {c['commit_retries']} retried, "
            f"{c['pg_rollbacks']} rolled back"
        )
    return text


def say_scaling(s: dict[str, Any]) -> str:
    if "skipped" in s:
        return f"scaling: skipped ({s['skipped']})"
    parts = []
    for r in s["runs"]:
        parts.append(f"{r['engine']} x{r['workers']} {r['rows_per_second']:,.0f} rows/s")
    best = max(s["probe"], key=lambda p: p["commits_per_second"])
    return (
        f"scaling over {s['canonical_rows']:,} rows ({s['cores']} cores): "
        + ", ".join(parts)
        + f"; shared/embedded at {_count(s['workers'][0], 'worker')} "
        f"{s['shared_over_embedded_at_1']:.2f}x; one lake table "
        f"takes {best['commits_per_second']:.1f} commits/s ({_count(best['writers'], 'writer')})"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


# -- the report -------------------------------------------------------------------------------


def markdown_lines(s: dict[str, Any]) -> list[str]:
    """The part's section of results.md and of the published block."""
    if "skipped" in s:
        return [f"**7. Scaling**: skipped ({s['skipped']})."]
    d = s["dates"]
    lines = [
        f"**7. Scaling** (`lineflow backfill ... pipeline.stages=[process,validate,consolidate] "
        f"executor=ray max_parallel=N` on a local Ray cluster of two nodes; {s['partitions']} "
        f"dates {d[0]} .. {d[-1]}, {s['canonical_rows']:,} canonical rows, equal in every run; "
        f"{s['cores']} cores, so more than {s['cores']} workers measure contention, not scale)",
        "",
        "| engine | workers | stages' span | rows/s | speed-up | wall (command) | catalog "
        "commits | commits/s | retried | rolled back |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in s["runs"]:
        c = r.get("catalog")
        lines.append(
            f"| {r['engine']} | {r['workers']} | {r['span_seconds']:.1f} s | "
            f"{r['rows_per_second']:,.0f} | {r['speedup']:.2f}x | {r['wall_seconds']:.1f} s | "
            + (
                f"{c['commits']:,} | {c['commits_per_second']:.1f} | {c['commit_retries']:,} | "
                f"{c['pg_rollbacks']:,} |"
                if c
                else "- | - | - | - |"
            )
        )
    over = ", ".join(f"{x:.2f}x at {n}" for n, x in s["shared_over_embedded"].items())
    local = s["local"]
    lines += [
        "",
        f"For reference, the same backfill without Ray (the throughput part's way: threads of "
        f"one process, the command's max_parallel): stages' span {local['span_seconds']:.1f} s, "
        f"{local['rows_per_second']:,.0f} rows/s, wall {local['wall_seconds']:.1f} s.",
        "",
        f"Shared over embedded (stages' span): {over}. The lake took "
        f"{s['commits_per_partition']:.1f} commits a partition, "
        f"{s['hottest_table_commits_per_partition']:.1f} of them to its busiest table.",
        "",
        "| probe: writers on one lake table | commits | commits/s | conflicts (lineflow ran "
        "again) | retried by DuckLake | time per commit, median | p90 |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {p['writers']} | {p['commits']} | {p['commits_per_second']:.1f} | {p['conflicts']} | "
        f"{p['commit_retries']} | {p['commit_seconds_median'] * 1000:.0f} ms | "
        f"{p['commit_seconds_p90'] * 1000:.0f} ms |"
        for p in s["probe"]
    ]
    m = s["model"]
    ceilings = [
        f"processing {x['rate']:.2f} ({engine}"
        + (f", {_count(x['workers'], 'worker')})" if x["workers"] else ", one process)")
        for engine, x in m["processing_partitions_per_second"].items()
    ]
    ceilings.append(
        f"the lake's commits {m['table_commits_per_second']:.1f}/s / "
        f"{m['commits_per_partition']:.1f} a partition = "
        f"{m['catalog_partitions_per_second']:.2f} (its busiest table alone: / "
        f"{m['hottest_table_commits_per_partition']:.1f} = {m['table_partitions_per_second']:.2f})"
    )
    ceilings += [
        f"{name} {p['per_second']:g} requests/s / {p['requests_per_partition']:.1f} a partition "
        f"= {p['partitions_per_second']:.3f}"
        for name, p in m["providers"].items()
    ]
    lines += [
        "",
        f"Ceilings in partitions (a date, {m['passes']} passes) a second: "
        + "; ".join(ceilings)
        + ". The model: docs/benchmarks.md, scaling.",
    ]
    return lines


def main(argv: list[str]) -> int:
    """`probe JSON`: one writer of the commit probe; `create-lake JSON`: make the lake."""
    if len(argv) != 2 or argv[0] not in ("probe", "create-lake"):
        print("usage: python -m bench.scaling probe|create-lake JSON", file=sys.stderr)
        return 2
    if argv[0] == "create-lake":
        create_lake(json.loads(argv[1]))
    else:
        print(json.dumps(probe_writer(json.loads(argv[1]))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
