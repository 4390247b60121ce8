"""BigQuery, the publish target: partitions replaced whole, idempotently, one at a time.

Publishing a partition:
1. ensure the table: created when missing (DAY-partitioned on slate_date, clustered), nullable
   columns added when ours has more, any other difference stops with `SchemaMismatch`;
2. load the partition as Parquet into a staging table of its own (unique name, one-hour
   expiry, so concurrent publishes never share one and a crash leaves no litter for long);
3. one multi-statement transaction: DELETE the partition, INSERT it from staging, COMMIT (an
   error rolls it back, so the target is the old partition or the new one, never a mix);
4. drop the staging table.

No partition decorators (`table$YYYYMMDD`): emulators mishandle them, some silently. Reads use
`query_and_wait`, which never asks for a Storage Read API client (that would reach Google).
"""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from lineflow.core.errors import ConfigError, LineflowError
from lineflow.warehouse.base import Column, TableSpec, columns_to_add

if TYPE_CHECKING:
    from google.cloud import bigquery

    from lineflow.config import BigQueryConfig

SCOPES = ["https://www.googleapis.com/auth/bigquery"]
STAGING_PREFIX = "_lineflow_stg_"
STAGING_TTL = timedelta(hours=1)
# Real BigQuery aborts one of two transactions that touch the same table at once; the loser
# may simply try again (each attempt starts from a clean slate).
CONCURRENT_UPDATE = "concurrent update"
ATTEMPTS = 5


class PublishError(LineflowError):
    """BigQuery refused a step of publishing; the message names the table and the step."""


def make_client(config: BigQueryConfig) -> bigquery.Client:
    """A client for `config`: anonymous against an emulator, else a key file or ADC."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials, Credentials
    from google.cloud import bigquery

    if config.project is None:
        raise ConfigError("bigquery.project: required to publish (pass bigquery.project=NAME)")
    options = None
    credentials: Credentials
    if config.api_endpoint:
        credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
        options = ClientOptions(api_endpoint=config.api_endpoint)
    else:
        credentials = _credentials(config)
    return bigquery.Client(
        project=config.project,
        credentials=credentials,
        location=config.location,
        client_options=options,
    )


def _credentials(config: BigQueryConfig) -> Any:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError
    from google.oauth2 import service_account

    key_file = os.environ.get(config.key_file_env)
    if key_file:
        try:
            return service_account.Credentials.from_service_account_file(key_file, scopes=SCOPES)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"bigquery.key_file_env: ${config.key_file_env} does not name a readable "
                f"service-account key file ({type(exc).__name__})"
            ) from None
    try:
        credentials, _ = google.auth.default(scopes=SCOPES)  # type: ignore[no-untyped-call]
    except DefaultCredentialsError:
        raise ConfigError(
            f"bigquery: no credentials (set ${config.key_file_env} to a key file, or run "
            "`gcloud auth application-default login`)"
        ) from None
    return credentials


def to_schema(spec: TableSpec) -> list[Any]:
    from google.cloud.bigquery import SchemaField

    return [
        SchemaField(c.name, c.type, mode="NULLABLE" if c.nullable else "REQUIRED")
        for c in spec.columns
    ]


def from_schema(fields: list[Any]) -> list[Column]:
    aliases = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "BIGNUMERIC": "NUMERIC"}
    return [
        Column(f.name, aliases.get(f.field_type, f.field_type), f.mode != "REQUIRED")
        for f in fields
    ]


def parquet_bytes(rows: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    rows.write_parquet(buffer)
    return buffer.getvalue()


class BigQueryWarehouse:
    """One BigQuery dataset, written partition by partition."""

    def __init__(
        self,
        client: bigquery.Client,
        dataset: str,
        *,
        location: str | None = None,
        on_loaded: Callable[[str], None] = lambda _staging: None,
    ) -> None:
        self.client = client
        self.project = client.project
        self.dataset = dataset
        self.location = location
        # Called with the staging table's id between load and replace (fault injection in tests).
        self.on_loaded = on_loaded
        self._dataset_ready = False

    @classmethod
    def from_config(cls, config: BigQueryConfig) -> BigQueryWarehouse:
        return cls(make_client(config), config.dataset, location=config.location)

    def close(self) -> None:
        self.client.close()

    def table_id(self, table: str) -> str:
        return f"{self.project}.{self.dataset}.{table}"

    def _sql_name(self, table: str) -> str:
        return f"`{self.table_id(table)}`"

    # -- the warehouse protocol --------------------------------------------------------------
    def table_spec(self, table: str, cluster_by: tuple[str, ...] = ()) -> TableSpec | None:
        from google.api_core.exceptions import NotFound

        try:
            found = self.client.get_table(self.table_id(table))
        except NotFound:
            return None
        partitioning = found.time_partitioning
        return TableSpec(
            table,
            tuple(from_schema(found.schema)),
            partitioning.field if partitioning is not None else "",
            tuple(found.clustering_fields or ()),
        )

    def ensure_table(self, spec: TableSpec) -> list[Column]:
        from google.api_core.exceptions import Conflict, NotFound
        from google.cloud import bigquery

        self._ensure_dataset()
        try:
            found = self.client.get_table(self.table_id(spec.name))
        except NotFound:
            table = bigquery.Table(self.table_id(spec.name), schema=to_schema(spec))
            table.time_partitioning = bigquery.TimePartitioning(
                type_=bigquery.TimePartitioningType.DAY, field=spec.partition_by
            )
            if spec.cluster_by:
                table.clustering_fields = list(spec.cluster_by)
            try:
                self.client.create_table(table)
                return []
            except Conflict:  # a concurrent publish created it first
                found = self.client.get_table(self.table_id(spec.name))
        added = columns_to_add(spec.name, from_schema(found.schema), list(spec.columns))
        if added:
            # DDL rather than a schema PATCH: one emulator acknowledges the PATCH and drops it.
            # BigQuery appends the columns at the end, in the spec's order.
            clauses = ", ".join(f"ADD COLUMN IF NOT EXISTS `{c.name}` {c.type}" for c in added)
            self.client.query_and_wait(f"ALTER TABLE {self._sql_name(spec.name)} {clauses}")
        return added

    def read_partition(self, table: str, partition: date) -> pl.DataFrame:
        spec = self.table_spec(table)
        if spec is None:
            raise PublishError(f"table {self.table_id(table)}: not found")
        rows = self.client.query_and_wait(
            f"SELECT * FROM {self._sql_name(table)} WHERE {spec.partition_by} = @partition",
            job_config=self._params(partition),
        )
        return pl.from_arrow(rows.to_arrow(create_bqstorage_client=False))  # type: ignore[return-value]

    def replace_partition(self, spec: TableSpec, partition: date, rows: pl.DataFrame) -> int:
        self.ensure_table(spec)
        staging = f"{STAGING_PREFIX}{spec.name}_{partition:%Y%m%d}_{uuid.uuid4().hex[:12]}"
        try:
            if rows.height:
                self._load_staging(spec, staging, rows)
            self.on_loaded(staging)
            self._swap(spec, partition, staging if rows.height else None)
        finally:
            self.client.delete_table(self.table_id(staging), not_found_ok=True)
        return rows.height

    # -- steps ---------------------------------------------------------------------------------
    def count(self, table: str, partition: date) -> int:
        rows = self.client.query_and_wait(
            f"SELECT count(*) AS n FROM {self._sql_name(table)} WHERE slate_date = @partition",
            job_config=self._params(partition),
        )
        return int(next(iter(rows))["n"])

    def _ensure_dataset(self) -> None:
        from google.cloud import bigquery

        if self._dataset_ready:
            return
        dataset = bigquery.Dataset(f"{self.project}.{self.dataset}")
        if self.location:
            dataset.location = self.location
        self.client.create_dataset(dataset, exists_ok=True)
        self._dataset_ready = True

    def _load_staging(self, spec: TableSpec, staging: str, rows: pl.DataFrame) -> None:
        from google.cloud import bigquery

        # Staging is a buffer: all columns nullable, so the load never argues about modes;
        # the target's REQUIRED columns are enforced by the INSERT.
        loose = TableSpec(staging, tuple(Column(c.name, c.type) for c in spec.columns))
        table = bigquery.Table(self.table_id(staging), schema=to_schema(loose))
        table.expires = datetime.now(UTC) + STAGING_TTL
        self.client.create_table(table)
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
        )
        data = parquet_bytes(rows.select(spec.column_names))
        job = self.client.load_table_from_file(
            io.BytesIO(data), self.table_id(staging), job_config=config, size=len(data)
        )
        try:
            job.result()
        except Exception as exc:
            raise PublishError(f"table {spec.name}: loading {staging} failed: {exc}") from exc

    def _swap(self, spec: TableSpec, partition: date, staging: str | None) -> None:
        """DELETE the partition and INSERT it from staging, in one transaction."""
        target = self._sql_name(spec.name)
        columns = ", ".join(f"`{name}`" for name in spec.column_names)
        where = f"{spec.partition_by} = DATE '{partition.isoformat()}'"
        insert = (
            f"INSERT INTO {target} ({columns}) "
            f"SELECT {columns} FROM {self._sql_name(staging)} WHERE {where};\n"
            if staging
            else ""
        )
        script = (
            f"BEGIN TRANSACTION;\nDELETE FROM {target} WHERE {where};\n{insert}COMMIT TRANSACTION;"
        )
        for attempt in range(1, ATTEMPTS + 1):
            try:
                self.client.query_and_wait(script)
                return
            except Exception as exc:
                if CONCURRENT_UPDATE in str(exc).lower() and attempt < ATTEMPTS:
                    time.sleep(0.5 * attempt)  # the other transaction is committing; back off
                    continue
                raise PublishError(
                    f"table {spec.name}: replacing partition {partition} failed "
                    f"(target unchanged): {exc}"
                ) from exc

    def _params(self, partition: date) -> Any:
        from google.cloud import bigquery

        return bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("partition", "DATE", partition)]
        )
