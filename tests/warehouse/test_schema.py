"""The warehouse and the state store own their schemas: every table is declared in one module
each, and a fresh store holds exactly what its schema lists."""

import re
import sqlite3

import duckdb

from lineflow.state import StateStore
from lineflow.state import schema as state_schema
from lineflow.warehouse import DuckDBWarehouse
from lineflow.warehouse.duckdb import schema as warehouse_schema
from tests.conftest import ROOT

DDL_WORDS = re.compile(r"\b(CREATE\s+(OR\s+REPLACE\s+)?(TABLE|VIEW|INDEX)|ALTER\s+TABLE)\b", re.I)
SCHEMA_MODULES = {
    ROOT / "lineflow" / "warehouse" / "duckdb" / "schema.py",
    ROOT / "lineflow" / "state" / "schema.py",
    # The publish target's DDL, from the same TableSpecs, in the other warehouse's one module.
    ROOT / "lineflow" / "warehouse" / "bigquery.py",
}


def created(ddl: str, kind: str = "TABLE") -> set[str]:
    return set(re.findall(rf"CREATE {kind} IF NOT EXISTS (\w+)", ddl))


def test_no_module_outside_the_schemas_creates_or_alters_a_table():
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted((ROOT / "lineflow").rglob("*.py"))
        if path not in SCHEMA_MODULES
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if DDL_WORDS.search(line)
    ]
    assert offenders == []


def test_a_fresh_warehouse_has_every_table_of_the_schema_and_features_only_when_used(tmp_path):
    core = created(warehouse_schema.TABLES)
    assert {"landed_files", "processed_files", "stg_prop_lines", "run_history"} <= core
    wh = DuckDBWarehouse(tmp_path / "lineflow.duckdb")

    def tables() -> dict[str, str]:
        rows = wh.query("SELECT table_name, table_type FROM information_schema.tables")
        return dict(zip(rows["table_name"], rows["table_type"], strict=True))

    assert tables() == {name: "BASE TABLE" for name in core} | {"prop_lines": "VIEW"}
    for feature, ddl in warehouse_schema.FEATURES.items():
        wh.ensure_feature(feature)
        assert created(ddl) <= set(tables())
    feature_tables = set().union(*(created(d) for d in warehouse_schema.FEATURES.values()))
    assert set(tables()) == core | feature_tables | {"prop_lines"}


def test_a_state_store_creates_a_features_tables_when_the_feature_opens_it(tmp_path):
    store = StateStore(tmp_path / "state.sqlite")
    assert not store.path.exists()  # opening lazily: nothing written until a feature is used

    def tables() -> set[str]:
        with sqlite3.connect(store.path) as con:
            rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return {r[0] for r in rows} - {"sqlite_sequence"}

    store.ensure("locks")
    assert tables() == {"locks"}
    for ddl in state_schema.FEATURES.values():
        assert created(ddl)  # every feature declares at least one table
    for feature in state_schema.FEATURES:
        store.ensure(feature)
    assert tables() == set().union(*(created(d) for d in state_schema.FEATURES.values()))


def test_the_upgrade_lives_in_the_schema_and_is_idempotent(tmp_path):
    path = tmp_path / "lineflow.duckdb"
    DuckDBWarehouse(path).query("SELECT 1")
    con = duckdb.connect(str(path))
    warehouse_schema.ensure(con)  # a current file: nothing to convert, nothing changes
    warehouse_schema.ensure(con)
    assert con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = 'prop_lines'"
    ).fetchone() == ("VIEW",)


def test_predictions_written_before_quotes_named_their_source_gain_the_column(tmp_path):
    """A warehouse whose predictions predate `bookmaker_source` keeps its rows and gets the
    column (NULL for them) when predict next opens the feature; a second open changes nothing."""
    path = tmp_path / "lineflow.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE predictions (slate_date DATE NOT NULL, player_key VARCHAR NOT NULL, "
        "player_name VARCHAR, market VARCHAR NOT NULL, model VARCHAR NOT NULL, line DOUBLE, "
        "is_active BOOLEAN NOT NULL, predicted_value DOUBLE, prob_over DOUBLE, prob_under DOUBLE, "
        "confidence DOUBLE, recommendation VARCHAR NOT NULL, bookmaker VARCHAR, "
        "price_american INTEGER, expected_value DOUBLE, books INTEGER, margin DOUBLE, "
        "line_source VARCHAR, minutes_before_tip DOUBLE, input_fingerprint VARCHAR NOT NULL, "
        "batch_id VARCHAR NOT NULL, run_id VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL, "
        "superseded_at TIMESTAMPTZ)"
    )
    con.execute(
        "INSERT INTO predictions (slate_date, player_key, market, model, is_active, "
        "recommendation, bookmaker, input_fingerprint, batch_id, run_id, created_at) VALUES "
        "('2026-01-23', 'p', 'player_points', 'best_price', true, 'OVER', 'fanduel', 'f', 'b', "
        "'r', now())"
    )
    con.close()
    wh = DuckDBWarehouse(path)
    for _ in range(2):
        wh.ensure_feature("predictions")
    rows = wh.query("SELECT bookmaker, bookmaker_source FROM predictions")
    assert rows.rows() == [("fanduel", None)]
    columns = wh.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'predictions'"
    )["column_name"].to_list()
    assert columns.count("bookmaker_source") == 1
