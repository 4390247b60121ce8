"""The DuckDB warehouse's schema: every table and view it holds, and the upgrades of older files.

Nothing else in lineflow creates or alters a DuckDB table. `ensure` runs on every connect (2 ms:
the file may be new since the last one) and brings any warehouse file to the current layout.
Tables of optional features (`FEATURES`: predictions, doctor's log) are created when the feature
first writes, not on connect: reports read a feature table's absence as "never used here"
(`lineflow status` says "not recorded" for predictions of a home that does not predict).
Publish targets (`TableSpec`s of the warehouse protocol) are translated here too.
"""

from __future__ import annotations

import re

import duckdb
import polars as pl

from lineflow.core.errors import LineflowError
from lineflow.core.schema import PROP_LINES, PROP_LINES_KEY, SQL_TYPES
from lineflow.warehouse.base import Column, TableSpec

# DuckDB column types in the protocol's (BigQuery's) vocabulary.
_PROTOCOL_TYPES = {
    "VARCHAR": "STRING",
    "BOOLEAN": "BOOL",
    "TINYINT": "INT64",
    "SMALLINT": "INT64",
    "INTEGER": "INT64",
    "BIGINT": "INT64",
    "UTINYINT": "INT64",
    "USMALLINT": "INT64",
    "UINTEGER": "INT64",
    "FLOAT": "FLOAT64",
    "DOUBLE": "FLOAT64",
    "DATE": "DATE",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
    "TIMESTAMP": "DATETIME",
    "BLOB": "BYTES",
    "JSON": "JSON",
}
_DUCKDB_TYPES = {
    "STRING": "VARCHAR",
    "BOOL": "BOOLEAN",
    "INT64": "BIGINT",
    "FLOAT64": "DOUBLE",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMPTZ",
    "DATETIME": "TIMESTAMP",
    "BYTES": "BLOB",
    "JSON": "JSON",
    "NUMERIC": "DECIMAL(38, 9)",
}


def protocol_type(table: str, column: str, duckdb_type: str) -> str:
    """A DuckDB column type in the protocol's vocabulary; unknown types stop with a message."""
    if duckdb_type.startswith("DECIMAL"):
        return "NUMERIC"
    if duckdb_type.endswith("[]"):
        return "STRING"  # lists (reasons, sample keys) publish as JSON array text
    try:
        return _PROTOCOL_TYPES[duckdb_type]
    except KeyError:
        raise LineflowError(
            f"table {table}: column {column} has type {duckdb_type}, which lineflow cannot publish"
        ) from None


def _columns_ddl(schema: dict[str, pl.DataType]) -> str:
    return ", ".join(f"{name} {SQL_TYPES[dtype]}" for name, dtype in schema.items())


#: The tables. They declare no PRIMARY KEY: each has its natural key (landed_files: path;
#: processed_files: file_id, slate_date; validations, consolidations: slate_date;
#: blocked_resources: source, slate_date, resource; line_quality: slate_date, market,
#: player_key; prediction_batches: batch_id), kept by the writes as in a DuckLake, which has no
#: keys: a write that replaces a key's rows deletes and inserts them in one transaction, a new
#: manifest path is inserted only where it is missing, and only one session writes at a time.
#: A key's index cost more than it guarded: DuckDB keeps each index in memory once a write
#: touched its table, so the indexes grew with the history (14 MB at 480 dates), and every
#: attach afresh (`_relieve`) loaded them again; without them a 160-date reprocessing
#: backfill takes 4 % less time and a 480-date one peaks 13 MB lower (docs/benchmarks.md).
#: Files made before keep their keys, which the same writes satisfy.
TABLES = f"""
CREATE TABLE IF NOT EXISTS landed_files (
    path VARCHAR NOT NULL, file_id VARCHAR NOT NULL, source VARCHAR NOT NULL,
    endpoint VARCHAR NOT NULL, slate_date DATE NOT NULL, pass_id VARCHAR NOT NULL,
    bytes BIGINT NOT NULL, url VARCHAR, http_status INTEGER, fetched_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS processed_files (
    file_id VARCHAR NOT NULL, slate_date DATE NOT NULL, source VARCHAR NOT NULL,
    endpoint VARCHAR NOT NULL, status VARCHAR NOT NULL, rows BIGINT NOT NULL, error VARCHAR,
    processed_at TIMESTAMPTZ NOT NULL, run_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS stg_prop_lines ({_columns_ddl(PROP_LINES)}, row_no INTEGER);
CREATE TABLE IF NOT EXISTS consolidated_files (slate_date DATE NOT NULL, file_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS consolidation_drops (
    slate_date DATE NOT NULL, file_id VARCHAR NOT NULL, row_no INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS validations (
    slate_date DATE NOT NULL, fingerprint VARCHAR NOT NULL, status VARCHAR NOT NULL,
    error VARCHAR, notes VARCHAR NOT NULL, rows BIGINT NOT NULL,
    validated_at TIMESTAMPTZ NOT NULL, run_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS consolidations (
    slate_date DATE NOT NULL, fingerprint VARCHAR NOT NULL, rows BIGINT NOT NULL,
    consolidated_at TIMESTAMPTZ NOT NULL, run_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS blocked_resources (
    source VARCHAR NOT NULL, slate_date DATE NOT NULL, resource VARCHAR NOT NULL,
    status VARCHAR NOT NULL, detail VARCHAR, first_seen TIMESTAMPTZ NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL, retry_after TIMESTAMPTZ NOT NULL, resolved_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS run_history (
    run_id VARCHAR NOT NULL, processor VARCHAR NOT NULL, phase VARCHAR NOT NULL,
    slate_date DATE, status VARCHAR NOT NULL, started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL, files BIGINT NOT NULL, rows BIGINT NOT NULL,
    requests BIGINT NOT NULL DEFAULT 0, error VARCHAR);
CREATE TABLE IF NOT EXISTS validation_results (
    run_id VARCHAR NOT NULL, slate_date DATE NOT NULL, rule_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL, table_name VARCHAR NOT NULL, severity VARCHAR NOT NULL,
    blocking BOOLEAN NOT NULL, outcome VARCHAR NOT NULL, checked BIGINT NOT NULL,
    failed BIGINT NOT NULL, failed_fraction DOUBLE NOT NULL, passed BOOLEAN,
    sample_keys VARCHAR[] NOT NULL, detail VARCHAR, validated_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (
    rule_id VARCHAR NOT NULL, validation_run_id VARCHAR NOT NULL,
    quarantined_at TIMESTAMPTZ NOT NULL, {_columns_ddl(PROP_LINES)});
CREATE TABLE IF NOT EXISTS line_quality (
    slate_date DATE NOT NULL, player_key VARCHAR NOT NULL, market VARCHAR NOT NULL,
    passed BOOLEAN NOT NULL, reasons VARCHAR[] NOT NULL, player_name VARCHAR,
    books BIGINT NOT NULL, usable_books BIGINT NOT NULL, line DOUBLE,
    run_id VARCHAR NOT NULL, evaluated_at TIMESTAMPTZ NOT NULL);
"""

#: `prop_lines` is staging seen through the last consolidation of each partition: the rows of
#: the files it took, less the rows it left out (dedup losers, quarantined rows). Rows are
#: stored once: a partition's consolidation writes a few hundred file ids and a handful of
#: row numbers, not a second copy of its ~35k rows (that copy cost a quarter of processing
#: a season; docs/benchmarks.md). Staging is append-only and a file is staged once per
#: partition, so the rows behind the view never change under it.
PROP_LINES_VIEW = f"""
CREATE VIEW IF NOT EXISTS prop_lines AS
SELECT {", ".join(f"s.{c}" for c in PROP_LINES)} FROM stg_prop_lines s
WHERE EXISTS (SELECT 1 FROM consolidated_files f
              WHERE f.slate_date = s.slate_date AND f.file_id = s.file_id)
  AND NOT EXISTS (SELECT 1 FROM consolidation_drops d
                  WHERE d.slate_date = s.slate_date AND d.file_id = s.file_id
                    AND d.row_no = s.row_no)
"""


#: The tables `TABLES` creates: with them, the view and staging's row numbers, a file has the
#: current layout (`is_current`).
TABLE_NAMES = tuple(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", TABLES))


def is_current(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the connected file has the current layout, that is `ensure` would change nothing:
    every table of `TABLES`, `prop_lines` a view and staging numbered per file (`upgrade`). A
    read-only session reads such a file as it is (`SharedConnection.read_session`). DuckDB's
    own catalog functions, not `information_schema` (a third of the cost on a fresh
    connection)."""
    here = "database_name = current_database() AND schema_name = 'main'"
    tables, views = con.execute(
        f"SELECT (SELECT list(table_name) FROM duckdb_tables() WHERE {here}), "
        f"       (SELECT list(view_name) FROM duckdb_views() WHERE {here})"
    ).fetchone() or (None, None)
    if not set(TABLE_NAMES) <= set(tables or ()) or "prop_lines" not in (views or ()):
        return False
    numbered = con.execute(
        "SELECT count(*) FROM pragma_table_info('stg_prop_lines') WHERE name = 'row_no'"
    ).fetchone()
    return numbered == (1,)


def upgrade(con: duckdb.DuckDBPyConnection) -> None:
    """A warehouse written before `prop_lines` became a view over staging (PROP_LINES_VIEW)
    is converted in one transaction: staged rows are numbered per file in the order they were
    staged, the files and rows the old table held become the consolidations' file and drop
    lists, and the table goes. The view then shows exactly the rows the table held."""
    kind, numbered = con.execute(
        "SELECT (SELECT any_value(table_type) FROM information_schema.tables "
        "        WHERE table_catalog = current_database() AND table_schema = 'main' "
        "          AND table_name = 'prop_lines'), "
        "       (SELECT count(*) FROM information_schema.columns "
        "        WHERE table_catalog = current_database() AND table_schema = 'main' "
        "          AND table_name = 'stg_prop_lines' AND column_name = 'row_no')"
    ).fetchone() or (None, 1)
    if kind != "BASE TABLE" and numbered:
        return
    key = PROP_LINES_KEY
    con.execute("BEGIN TRANSACTION")
    try:
        if not numbered:
            con.execute("ALTER TABLE stg_prop_lines ADD COLUMN row_no INTEGER")
            con.execute(
                "UPDATE stg_prop_lines SET row_no = n.row_no FROM (SELECT rowid AS r, "
                "(row_number() OVER (PARTITION BY slate_date, file_id ORDER BY rowid) - 1)"
                "::INTEGER AS row_no FROM stg_prop_lines) n WHERE stg_prop_lines.rowid = n.r"
            )
        if kind == "BASE TABLE":
            con.execute(
                "INSERT INTO consolidated_files SELECT DISTINCT slate_date, file_id FROM prop_lines"
            )
            same = " AND ".join(f"kept.{c} IS NOT DISTINCT FROM st.{c}" for c in key)
            con.execute(
                f"""
                INSERT INTO consolidation_drops
                WITH kept AS (
                    SELECT file_id, {", ".join(key)}, count(*) AS n FROM prop_lines GROUP BY ALL),
                staged AS (
                    SELECT s.file_id, s.row_no, {", ".join(f"s.{c}" for c in key)},
                           row_number() OVER (PARTITION BY s.file_id, {", ".join(key)}
                                              ORDER BY s.row_no) AS k
                    FROM stg_prop_lines s
                    WHERE EXISTS (SELECT 1 FROM consolidated_files f
                                  WHERE f.slate_date = s.slate_date AND f.file_id = s.file_id))
                SELECT st.slate_date, st.file_id, st.row_no FROM staged st
                LEFT JOIN kept ON kept.file_id = st.file_id AND {same}
                WHERE st.k > coalesce(kept.n, 0)
                """
            )
            con.execute("DROP TABLE prop_lines")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


#: Tables an optional feature brings, created when it first writes (`ensure_feature`).
FEATURES = {
    "predictions": """
CREATE TABLE IF NOT EXISTS predictions (
    slate_date DATE NOT NULL, player_key VARCHAR NOT NULL, player_name VARCHAR,
    market VARCHAR NOT NULL, model VARCHAR NOT NULL, line DOUBLE, is_active BOOLEAN NOT NULL,
    predicted_value DOUBLE, prob_over DOUBLE, prob_under DOUBLE, confidence DOUBLE,
    recommendation VARCHAR NOT NULL, bookmaker VARCHAR, price_american INTEGER,
    expected_value DOUBLE, books INTEGER, margin DOUBLE, line_source VARCHAR,
    minutes_before_tip DOUBLE, input_fingerprint VARCHAR NOT NULL, batch_id VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL, superseded_at TIMESTAMPTZ,
    bookmaker_source VARCHAR);
-- predictions written before a bookmaker's quote named its source (one quote per book)
ALTER TABLE predictions ADD COLUMN IF NOT EXISTS bookmaker_source VARCHAR;
CREATE TABLE IF NOT EXISTS prediction_batches (
    batch_id VARCHAR NOT NULL, slate_date DATE NOT NULL, status VARCHAR NOT NULL,
    expected INTEGER NOT NULL, completed INTEGER NOT NULL, excluded INTEGER NOT NULL,
    failed INTEGER NOT NULL, regenerated INTEGER NOT NULL, heartbeat_at TIMESTAMPTZ,
    started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ, run_id VARCHAR NOT NULL,
    exclusions VARCHAR, failures VARCHAR);
CREATE TABLE IF NOT EXISTS self_heal_log (
    healed_at TIMESTAMPTZ NOT NULL, slate_date DATE NOT NULL, players VARCHAR[] NOT NULL,
    reason VARCHAR NOT NULL, triggered_by VARCHAR NOT NULL, batch_id VARCHAR);
""",
    "doctor": """
CREATE TABLE IF NOT EXISTS doctor_actions (
    acted_at TIMESTAMPTZ NOT NULL, slate_date DATE NOT NULL, playbook VARCHAR NOT NULL,
    mode VARCHAR NOT NULL, outcome VARCHAR NOT NULL, subject VARCHAR, detail VARCHAR);
""",
}


def ensure(con: duckdb.DuckDBPyConnection, *, lake: bool = False) -> None:
    """Bring the connected warehouse to the current layout (idempotent). A DuckLake has no
    files of older layouts to upgrade; its tables and view are created in one transaction (one
    snapshot, not one per table)."""
    if not lake:
        con.execute(TABLES)
        upgrade(con)
        con.execute(PROP_LINES_VIEW)
        return
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(TABLES)
        con.execute(PROP_LINES_VIEW)
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def ensure_feature(con: duckdb.DuckDBPyConnection, feature: str) -> None:
    """Create an optional feature's tables (`FEATURES`) if they are not there yet."""
    con.execute(FEATURES[feature])


# -- publish targets (the warehouse protocol's TableSpec) ---------------------------------------


def create_table_sql(spec: TableSpec) -> str:
    """DDL for a publish target the warehouse does not have yet."""
    ddl = ", ".join(
        f"{c.name} {_DUCKDB_TYPES[c.type]}{'' if c.nullable else ' NOT NULL'}" for c in spec.columns
    )
    return f"CREATE TABLE IF NOT EXISTS {spec.name} ({ddl})"


def add_column_sql(table: str, column: Column) -> str:
    """DDL for a column a publish target gained (new columns are nullable)."""
    return f"ALTER TABLE {table} ADD COLUMN {column.name} {_DUCKDB_TYPES[column.type]}"
