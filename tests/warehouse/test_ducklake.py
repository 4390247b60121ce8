"""warehouse.kind=ducklake: the tables in a DuckLake whose catalog is a real Postgres server.

The pipeline's results on a lake equal those in a DuckDB file; a rerun changes nothing; writers
of different partitions in different processes both commit, while readers read the snapshot
before and never wait; `lineflow query ... at=` reads the lines as they were; `lineflow
maintain` compacts files and keeps every row.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lineflow.config import WarehouseConfig
from lineflow.warehouse import open_warehouse
from lineflow.warehouse.ducklake import DuckLakeWarehouse
from lineflow.warehouse.ducklake.maintenance import live_files, stored_files
from tests.conftest import FIXTURES, INCIDENT, ROOT, first_line, run_cli
from tests.rules.test_rule_files import conf_with_rules
from tests.support import lake_writer
from tests.support.postgres import PostgresServer

#: The environment variable the tests' lakes name for their catalog's conninfo.
CATALOG_ENV = "LINEFLOW_TEST_LAKE_CATALOG"

#: The tables a run writes for the partition, less what differs between any two runs (run ids,
#: the times they ran, batch ids made of the time).
COMPARED = {
    "prop_lines": "* EXCLUDE (run_id)",
    "predictions": "* EXCLUDE (batch_id, run_id, created_at, superseded_at)",
    "line_quality": "* EXCLUDE (run_id, evaluated_at)",
    "quarantine": "* EXCLUDE (validation_run_id, quarantined_at, run_id)",
}


@dataclass(frozen=True)
class Lake:
    home: Path
    config: WarehouseConfig
    overrides: tuple[str, ...]
    env: dict[str, str]

    def warehouse(self) -> DuckLakeWarehouse:
        lake = open_warehouse(self.config)
        assert isinstance(lake, DuckLakeWarehouse)
        return lake

    def read(self, sql: str, at: str | None = None) -> pl.DataFrame:
        return self.warehouse().read(sql, at=at)

    def run(self, *args: str) -> None:
        result = run_cli("run", *args, *self.overrides, env=self.env)
        assert result.code == 0, result.stdout + result.stderr


def lake_config(dsn_env: str, data: Path) -> WarehouseConfig:
    return WarehouseConfig(
        kind="ducklake", path=data / "unused.duckdb", catalog_env=dsn_env, data_path=str(data)
    )


@pytest.fixture
def catalog_env(monkeypatch: pytest.MonkeyPatch):
    """Sets the catalog's conninfo where this process's lake reads it."""

    def put(dsn: str) -> None:
        monkeypatch.setenv(CATALOG_ENV, dsn)

    return put


# -- one partition run through the pipeline, on a DuckDB file and on a lake --------------------


@pytest.fixture(scope="module")
def runs(postgres: PostgresServer, tmp_path_factory) -> Iterator[tuple[Path, Lake]]:
    """The incident partition run once into a DuckDB file and once into a lake on Postgres,
    with the same configuration (a copy of conf/ that the time-travel test changes later)."""
    tmp = tmp_path_factory.mktemp("lake")
    env = conf_with_rules(tmp, "none", "table: prop_lines\nchecks: []\n")
    with postgres.database("lake") as db:
        env[CATALOG_ENV] = db.dsn
        data = tmp / "lake-data"
        lake = Lake(
            tmp / "lake-home",
            lake_config(CATALOG_ENV, data),
            (
                f"home={tmp / 'lake-home'}",
                f"http.cassettes={FIXTURES}",
                "warehouse.kind=ducklake",
                f"warehouse.catalog_env={CATALOG_ENV}",
                f"warehouse.data_path={data}",
            ),
            env,
        )
        duck = tmp / "duck-home"
        result = run_cli(
            "run", f"date={INCIDENT}", f"home={duck}", f"http.cassettes={FIXTURES}", env=env
        )
        assert result.code == 0, result.stdout + result.stderr
        lake.run(f"date={INCIDENT}")
        saved = os.environ.get(CATALOG_ENV)
        os.environ[CATALOG_ENV] = db.dsn  # this process reads the lake too
        try:
            yield duck, lake
        finally:
            if saved is None:
                os.environ.pop(CATALOG_ENV, None)
            else:
                os.environ[CATALOG_ENV] = saved


def table(lake: Lake, name: str, at: str | None = None) -> pl.DataFrame:
    return lake.read(f"SELECT {COMPARED[name]} FROM {name} ORDER BY ALL", at=at)


def test_a_lake_run_equals_a_duckdb_file_run(runs):
    duck, lake = runs
    con = duckdb.connect(str(duck / "lineflow.duckdb"), read_only=True)
    con.execute("SET TimeZone = 'UTC'")  # as the warehouses read it
    try:
        for name, columns in COMPARED.items():
            expected = con.execute(f"SELECT {columns} FROM {name} ORDER BY ALL").pl()
            assert expected.height, name
            assert_frame_equal(table(lake, name), expected)
    finally:
        con.close()


def test_a_rerun_changes_nothing(runs):
    _, lake = runs
    before = {name: table(lake, name) for name in COMPARED}
    consolidated = lake.read("SELECT * FROM consolidations")
    predicted = lake.read("SELECT batch_id, created_at FROM predictions ORDER BY ALL")
    lake.run(f"date={INCIDENT}")
    for name, frame in before.items():
        assert_frame_equal(table(lake, name), frame)
    # not rewritten either: the same consolidation and the same prediction rows
    assert_frame_equal(lake.read("SELECT * FROM consolidations"), consolidated)
    assert_frame_equal(
        lake.read("SELECT batch_id, created_at FROM predictions ORDER BY ALL"), predicted
    )


def test_time_travel_reads_the_lines_before_a_later_run_changed_them(runs):
    _, lake = runs
    bryce = "SELECT count(*) AS n FROM prop_lines WHERE player_key = 'bryce_lindqvist'"
    assert lake.read(bryce).item() == 0  # quarantined: his points line is out of range
    lines_before = lake.read("SELECT count(*) FROM prop_lines").item()
    snapshot = str(lake.read("SELECT max(snapshot_id) FROM warehouse.snapshots()").item())
    moment = lake.read("SELECT max(snapshot_time)::VARCHAR FROM warehouse.snapshots()").item()
    rules = Path(lake.env["LINEFLOW_CONFIG_DIR"]) / "rules" / "prop_lines.yaml"
    rules.write_text(
        rules.read_text().replace("player_points: [5.5, 50.5]", "player_points: [4, 50.5]")
    )
    lake.run(f"date={INCIDENT}")  # the rule now lets his lines through
    assert lake.read(bryce).item() > 0
    assert lake.read(bryce, at=snapshot).item() == 0
    assert lake.read(bryce, at=moment.replace(" ", "T")).item() == 0
    # the audit trail of docs/warehouse.md: the snapshot that committed the first batch of
    # predictions, and the lines as they were then
    batches = lake.read(
        "SELECT DISTINCT snapshot_id, batch_id FROM warehouse.table_changes('predictions', "
        "now() - INTERVAL 30 DAY, now()) WHERE change_type = 'insert' ORDER BY 1"
    )
    assert batches.height >= 1
    first = str(batches["snapshot_id"][0])
    assert lake.read(bryce, at=first).item() == 0
    assert lake.read("SELECT count(*) FROM prop_lines", at=first).item() == lines_before
    # the same through the command line, as a user asks it
    query = ("query", bryce, "format=csv", *lake.overrides[:1], *lake.overrides[2:])
    then = run_cli(*query, f"at={snapshot}", env=lake.env)
    assert then.code == 0, then.stderr
    assert then.stdout.splitlines() == ["n", "0"]
    now = run_cli(*query, env=lake.env)
    assert now.code == 0 and int(now.stdout.splitlines()[1]) > 0


def test_maintain_compacts_files_and_keeps_every_row(runs):
    _, lake = runs
    tables = lake.read(
        "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
        "ORDER BY ALL"
    )["table_name"].to_list()
    sums = {
        t: lake.read(
            f"SELECT count(*), md5(string_agg(x::VARCHAR, '|' ORDER BY x::VARCHAR)) FROM {t} x"
        ).row(0)
        for t in tables
    }
    warehouse = lake.warehouse()
    files, stored = live_files(warehouse), stored_files(warehouse)
    done = run_cli(
        "maintain",
        *lake.overrides[:1],
        *lake.overrides[2:],
        "warehouse.keep_snapshots_days=0",
        "format=json",
        env=lake.env,
    )
    assert done.code == 0, done.stderr
    document = json.loads(done.stdout)  # the keys docs/output.md lists
    assert list(document) == [
        "warehouse",
        "files_read",
        "files_stored",
        "snapshots_expired",
        "keep_snapshots_days",
    ]
    assert document["files_read"] == [files, live_files(warehouse)]
    assert document["files_stored"] == [stored, stored_files(warehouse)]
    assert live_files(warehouse) < files
    assert stored_files(warehouse) < stored
    for t, expected in sums.items():
        assert (
            lake.read(
                f"SELECT count(*), md5(string_agg(x::VARCHAR, '|' ORDER BY x::VARCHAR)) FROM {t} x"
            ).row(0)
            == expected
        ), t


# -- concurrent writers and readers (real processes, commits ordered by pipes) ------------------

D1, D2 = date(2026, 1, 20), date(2026, 1, 21)


def writer(config: WarehouseConfig, table: str, day: date, rows: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.lake_writer",
            config.model_dump_json(),
            table,
            day.isoformat(),
            str(rows),
            "pause",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ},
    )


def finish(proc: subprocess.Popen[str]) -> str:
    """Let a paused writer commit; what it printed after."""
    out, err = proc.communicate("go\n", timeout=120)
    assert proc.returncode == 0, err
    return out


def test_writers_of_two_partitions_both_commit_and_readers_see_the_snapshot_before(
    postgres_db, tmp_path, catalog_env
):
    catalog_env(postgres_db.dsn)
    config = lake_config(CATALOG_ENV, tmp_path / "data")
    lake = open_warehouse(config)
    lake.ensure_table(lake_writer.spec("lines"))
    lake.replace_partition(lake_writer.spec("lines"), D1, lake_writer.rows(D1, 5, 1.0))
    counts = (
        "SELECT slate_date, count(*) AS n, min(line) AS line FROM lines GROUP BY ALL ORDER BY ALL"
    )
    before = lake.read(counts)

    a = writer(config, "lines", D1, 40)
    b = writer(config, "lines", D2, 30)
    # Both are inside their transactions now, each having replaced its partition.
    assert first_line(a, 120) == "ready\n"
    assert first_line(b, 120) == "ready\n"
    assert_frame_equal(lake.read(counts), before)  # readers see the last commit, not waiting
    with lake.reading() as reader:
        reader.execute("BEGIN TRANSACTION")
        held = reader.execute(counts).pl()
        assert "runs 1" in finish(a)  # commits while a reader holds its snapshot open
        assert_frame_equal(reader.execute(counts).pl(), held)  # that reader's snapshot
        reader.execute("ROLLBACK")
    # b's commit conflicted with a's (DuckLake checks per table): it ran again and committed.
    assert "runs 2" in finish(b)
    after = lake.read(counts)
    assert after.rows() == [(D1, 40, 40.0), (D2, 30, 30.0)]


FIRST_ATTACH = """
import sys
from lineflow.config import WarehouseConfig
from lineflow.warehouse import open_warehouse
lake = open_warehouse(WarehouseConfig.model_validate_json(sys.argv[1]))
print("ready", flush=True)
sys.stdin.readline()  # the barrier: every instance attaches at once
with lake.session():
    print(lake.con.execute("SELECT count(*) FROM landed_files").fetchone()[0], flush=True)
"""


def test_instances_attaching_an_empty_catalog_at_once_all_attach(postgres_db, tmp_path):
    """Several instances started together against a new lake (a first deploy scaling out): one
    creates the catalog's tables, the others find them made meanwhile and attach to them."""
    config = lake_config(CATALOG_ENV, tmp_path / "data")
    children = []
    for _ in range(4):
        child = subprocess.Popen(
            [sys.executable, "-c", FIRST_ATTACH, config.model_dump_json()],
            cwd=ROOT,
            env={**os.environ, CATALOG_ENV: postgres_db.dsn},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        children.append(child)
    for child in children:
        assert first_line(child, 120) == "ready\n", child.stderr.read()
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        out, err = child.communicate(timeout=120)
        assert (child.returncode, out, err) == (0, "0\n", "")


# -- configuration: one line, and never the catalog's password ---------------------------------


def test_an_unreachable_catalog_is_one_line_without_its_password(tmp_path):
    args = (
        "query",
        "SELECT 1",
        f"home={tmp_path}",
        "warehouse.kind=ducklake",
        f"warehouse.catalog_env={CATALOG_ENV}",
        f"warehouse.data_path={tmp_path / 'data'}",
    )
    dsn = "host=127.0.0.1 port=1 user=lineflow password=hunter2-secret dbname=lake"
    out = run_cli(*args, env={CATALOG_ENV: dsn})
    assert out.code != 0
    assert out.stderr.startswith("lineflow: error: warehouse: cannot attach the lake at ")
    assert len(out.stderr.strip().splitlines()) == 1
    assert "hunter2" not in out.stderr + out.stdout
    unset = run_cli(*args, env={CATALOG_ENV: ""})
    assert unset.code == 2
    assert unset.stderr.strip() == (
        f"lineflow: error: warehouse.catalog_env: ${CATALOG_ENV} is not set (the lake catalog's "
        "Postgres conninfo, e.g. 'host=... dbname=lake user=...')"
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("warehouse.data_path=ftp://host/lake", "warehouse.data_path: expected a folder or an"),
        ("warehouse.catalog_env=not-a-name", "warehouse.catalog_env: expected the name of an"),
        ("warehouse.catalog=null", "warehouse: kind=ducklake needs warehouse.catalog"),
    ],
)
def test_bad_lake_settings_are_one_line(tmp_path, override, message):
    out = run_cli("query", "SELECT 1", f"home={tmp_path}", "warehouse.kind=ducklake", override)
    assert out.code == 2
    assert out.stderr.startswith(f"lineflow: error: {message}")
    assert len(out.stderr.strip().splitlines()) == 1
