"""Publishing partitions to BigQuery: a real emulator process, the unmodified Google client.

The DuckDB side is a real lineflow home, filled by `lineflow run` for two slate dates.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from lineflow.config import BigQueryConfig
from lineflow.warehouse import DuckDBWarehouse, SchemaMismatch
from lineflow.warehouse.bigquery import STAGING_PREFIX, BigQueryWarehouse, PublishError
from tests.conftest import INCIDENT, run_cli

D23, D22 = date.fromisoformat(INCIDENT), date(2026, 1, 22)


@pytest.fixture(scope="module")
def local_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("publish") / "home"
    for day in (D22, D23):
        result = run_cli("run", f"date={day}", f"home={home}")
        assert result.code == 0, result.stdout + result.stderr
    return home


@pytest.fixture
def duck(local_home, tmp_path) -> DuckDBWarehouse:
    """A copy of the filled warehouse, so a test may change its schema."""
    copy = tmp_path / "lineflow.duckdb"
    copy.write_bytes((local_home / "lineflow.duckdb").read_bytes())
    return DuckDBWarehouse(copy)


def target(bq, **kwargs) -> BigQueryWarehouse:
    config = BigQueryConfig(project=bq.project, dataset=bq.dataset, api_endpoint=bq.endpoint)
    warehouse = BigQueryWarehouse.from_config(config)
    for name, value in kwargs.items():
        setattr(warehouse, name, value)
    return warehouse


def publish(duck: DuckDBWarehouse, sink: BigQueryWarehouse, table: str, day: date, cluster=()):
    spec = duck.table_spec(table, tuple(cluster))
    assert spec is not None
    sink.ensure_table(spec)
    return sink.replace_partition(spec, day, duck.read_partition(table, day))


def reshape_prop_lines(duck: DuckDBWarehouse, select: str) -> None:
    """prop_lines (a view over staging) as a later lineflow might shape it: SELECT `select`
    over its rows as they are now."""
    with duck.session():
        duck.con.execute("CREATE TABLE lines_before AS SELECT * FROM prop_lines")
        duck.con.execute("DROP VIEW prop_lines")
        duck.con.execute(f"CREATE VIEW prop_lines AS SELECT {select} FROM lines_before")


def same_rows(ours: pl.DataFrame, theirs: pl.DataFrame) -> bool:
    theirs = theirs.select(ours.columns).cast(ours.schema)  # type: ignore[arg-type]
    return ours.sort(ours.columns).equals(theirs.sort(ours.columns))


def staging_tables(bq) -> list[str]:
    tables = bq.client.list_tables(f"{bq.project}.{bq.dataset}")
    return [t.table_id for t in tables if t.table_id.startswith(STAGING_PREFIX)]


def test_first_publish_creates_partitioned_clustered_tables_with_duckdbs_rows(duck, bq):
    sink = target(bq)
    for table, cluster in (("prop_lines", ("source", "player_key")), ("run_history", ())):
        published = publish(duck, sink, table, D23, cluster)
        assert published > 0
        assert bq.count(table) == published == duck.read_partition(table, D23).height
    table = bq.client.get_table(f"{bq.project}.{bq.dataset}.prop_lines")
    assert table.time_partitioning.type_ == "DAY"
    assert table.time_partitioning.field == "slate_date"
    assert table.clustering_fields == ["source", "player_key"]
    schema = {f.name: (f.field_type, f.mode) for f in table.schema}
    assert schema["slate_date"][0] == "DATE"
    assert schema["commence_time"][0] == "TIMESTAMP"
    assert schema["line"][0] in ("FLOAT", "FLOAT64")
    history = bq.client.get_table(f"{bq.project}.{bq.dataset}.run_history")
    assert {f.name: f.mode for f in history.schema}["run_id"] == "REQUIRED"
    assert same_rows(duck.read_partition("prop_lines", D23), sink.read_partition("prop_lines", D23))
    assert staging_tables(bq) == []


def test_republishing_gives_the_same_table(duck, bq):
    sink = target(bq)
    publish(duck, sink, "prop_lines", D23)
    first = sink.read_partition("prop_lines", D23)
    publish(duck, sink, "prop_lines", D23)
    second = sink.read_partition("prop_lines", D23)
    assert second.height == first.height == duck.read_partition("prop_lines", D23).height
    assert same_rows(first, second)
    assert same_rows(duck.read_partition("prop_lines", D23), second)


def test_a_new_nullable_column_is_added_and_filled(duck, bq):
    bq.needs("ALTER TABLE ADD COLUMN (the table's schema never shows the column)")
    sink = target(bq)
    publish(duck, sink, "prop_lines", D23)
    reshape_prop_lines(duck, "*, line + 0.5 AS consensus_line")
    publish(duck, sink, "prop_lines", D23)
    table = bq.client.get_table(f"{bq.project}.{bq.dataset}.prop_lines")
    assert table.schema[-1].name == "consensus_line"
    assert table.schema[-1].mode == "NULLABLE"
    assert table.time_partitioning.field == "slate_date", "the table was altered, not recreated"
    assert same_rows(duck.read_partition("prop_lines", D23), sink.read_partition("prop_lines", D23))


def test_any_other_schema_change_stops_naming_table_and_columns(duck, bq):
    sink = target(bq)
    publish(duck, sink, "prop_lines", D23)
    before = sink.read_partition("prop_lines", D23)
    reshape_prop_lines(duck, "* EXCLUDE (implied_prob) REPLACE (CAST(line AS VARCHAR) AS line)")
    with pytest.raises(SchemaMismatch) as error:
        publish(duck, sink, "prop_lines", D23)
    message = str(error.value)
    assert "prop_lines" in message
    assert "line changes type FLOAT64 -> STRING" in message
    assert "implied_prob" in message
    assert same_rows(before, sink.read_partition("prop_lines", D23))


def test_an_error_between_load_and_replace_leaves_the_target_unchanged(duck, bq):
    publish(duck, target(bq), "prop_lines", D23)
    before = target(bq).read_partition("prop_lines", D23)
    loaded: list[str] = []

    def crash(staging: str) -> None:
        loaded.append(staging)
        assert bq.client.get_table(f"{bq.project}.{bq.dataset}.{staging}").num_rows > 0
        raise RuntimeError("worker lost between load and replace")

    with pytest.raises(RuntimeError, match="worker lost"):
        publish(duck, target(bq, on_loaded=crash), "prop_lines", D23)
    assert loaded, "the failure came after the load"
    assert same_rows(before, target(bq).read_partition("prop_lines", D23))
    assert staging_tables(bq) == []


def test_a_failure_inside_the_replace_rolls_back_the_delete(duck, bq):
    """The DELETE has run when the INSERT fails: the transaction takes it back."""
    bq.needs("REQUIRED columns (it stores NULL in them)")
    sink = target(bq)
    publish(duck, sink, "run_history", D23)
    before = sink.read_partition("run_history", D23)

    def poison(staging: str) -> None:  # a row the target refuses: run_id is REQUIRED there
        bq.client.query_and_wait(
            f"INSERT INTO `{bq.project}.{bq.dataset}.{staging}` (run_id, slate_date) "
            f"VALUES (NULL, DATE '{INCIDENT}')"
        )

    with pytest.raises(PublishError, match="run_history.*target unchanged"):
        publish(duck, target(bq, on_loaded=poison), "run_history", D23)
    assert same_rows(before, sink.read_partition("run_history", D23))
    assert staging_tables(bq) == []


def test_two_partitions_published_concurrently_do_not_interfere(duck, bq):
    target(bq).ensure_table(duck.table_spec("prop_lines"))  # type: ignore[arg-type]
    frames = {day: duck.read_partition("prop_lines", day) for day in (D22, D23)}
    spec = duck.table_spec("prop_lines")
    assert spec is not None
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(day: date) -> None:
        sink = target(bq)  # one client per worker, as two processes would have
        try:
            start.wait(timeout=30)
            sink.replace_partition(spec, day, frames[day])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(day,)) for day in frames]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert errors == []
    sink = target(bq)
    for day, frame in frames.items():
        assert frame.height > 0
        assert same_rows(frame, sink.read_partition("prop_lines", day))
    assert staging_tables(bq) == []


def test_the_duckdb_side_speaks_the_same_protocol(duck, tmp_path):
    """Replacing a partition locally: same contract, DuckDB's own transaction."""
    rows = duck.read_partition("prop_lines", D23)
    found = duck.table_spec("prop_lines")
    assert found is not None
    spec = dataclasses.replace(found, name="published_lines")  # its prop_lines is lineflow's
    other = DuckDBWarehouse(tmp_path / "other.duckdb")
    with other.session():
        assert other.ensure_table(spec) == [], "a new table: nothing to add"
        assert other.ensure_table(spec) == [], "same shape: nothing to add"
        other.replace_partition(spec, D23, rows)
        other.replace_partition(spec, D23, rows)
        again = other.read_partition("published_lines", D23)
    assert same_rows(rows, again)
    con = duckdb.connect(str(tmp_path / "other.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM published_lines").fetchone() == (rows.height,)
    finally:
        con.close()
