"""Readers of what other features record: locks, dead letters, proxy health, quota, predictions.

Each section of status, health and doctor reads through one small function here, and each
returns None when the table it needs does not exist yet ("not recorded yet"), so the commands
work on a home where a feature never ran. The table and column names are this module's guess
at what the locks, dead-letter, proxy, validation and prediction features record; when one of
them lands, only its reader changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from lineflow.config import Settings
from lineflow.core.errors import ConfigError
from lineflow.state import StateStore, open_state
from lineflow.state.store import Connection
from lineflow.warehouse import DuckDBWarehouse, open_warehouse

NOT_RECORDED = "not recorded yet"

#: The minimal lock table this branch creates when none exists (see `release_lock`).


@dataclass
class Stores:
    """The two places state lives: the DuckDB warehouse and the state store (its tables are
    read, never created: `store` is opened with create=False)."""

    warehouse: DuckDBWarehouse
    store: StateStore
    home: Path
    _duck: set[str] | None = field(default=None, repr=False)

    def duck_tables(self) -> set[str]:
        if self._duck is None:
            names = self.warehouse.query("SELECT table_name FROM information_schema.tables")
            self._duck = set(names["table_name"].to_list())
        return self._duck

    def state_tables(self) -> set[str]:
        return self.store.tables()

    @contextmanager
    def state(self) -> Iterator[Connection]:
        with self.store.connect() as con:
            yield con

    def state_frame(self, sql: str, params: tuple[Any, ...] = ()) -> pl.DataFrame:
        with self.state() as con:
            cur = con.execute(sql, params)
            columns = [d[0] for d in cur.description]
            rows = cur.fetchall()
        return pl.DataFrame([tuple(r) for r in rows], schema=columns, orient="row")


def as_utc(value: Any) -> datetime | None:
    """A stored instant (ISO-8601 text, epoch seconds or a datetime) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, UTC)
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- state store (SQLite) ---------------------------------------------------------------------


def read_locks(stores: Stores) -> list[dict[str, Any]] | None:
    """Locks held (the locks feature's table): key, owner, slate_date, acquired_at,
    heartbeat_at, expires_at as UTC datetimes."""
    if "locks" not in stores.state_tables():
        return None
    with stores.state() as con:
        rows = [dict(r) for r in con.execute("SELECT * FROM locks ORDER BY key").fetchall()]
    for row in rows:
        row["owner"] = f"{row['host']} pid {row['pid']} run {row['run_id']}"
        row["slate_date"] = row["partition"]
        for column in ("acquired_at", "heartbeat_at", "expires_at"):
            row[column] = as_utc(row.get(column))
    return rows


def release_lock(stores: Stores, key: str, acquired_at: datetime) -> bool:
    """Delete one lock, only if it is still the same acquisition (a retaken lock stays)."""
    with stores.store.transaction() as con:
        row = con.execute("SELECT acquired_at FROM locks WHERE key = ?", (key,)).fetchone()
        if row is None or as_utc(row[0]) != acquired_at:
            return False
        con.execute("DELETE FROM locks WHERE key = ?", (key,))
    return True


def read_dead_letters(stores: Stores) -> list[dict[str, Any]] | None:
    """Dead letters still waiting (not replayed): id, reason, dead_lettered_at."""
    if "dead_letters" not in stores.state_tables():
        return None
    with stores.state() as con:
        columns = stores.store.columns("dead_letters")
        waiting = "WHERE replayed_at IS NULL" if "replayed_at" in columns else ""
        rows = con.execute(f"SELECT * FROM dead_letters {waiting}").fetchall()
    return [dict(r) for r in rows]


def read_proxy_health(stores: Stores) -> list[dict[str, Any]] | None:
    """Breaker state per (pool, proxy, host): provider (the pool), state, cooldown_until,
    success rate, last status (the proxies feature's `proxy_health` table)."""
    if "proxy_health" not in stores.state_tables():
        return None
    from lineflow.http.breaker import Breaker

    now = datetime.now(UTC)
    with stores.state() as con:
        rows = [dict(r) for r in con.execute("SELECT * FROM proxy_health").fetchall()]
    for row in rows:
        retry_at = as_utc(row.get("retry_at"))
        breaker = Breaker(row["failures"], row["opens"], as_utc(row.get("opened_at")), retry_at)
        row["provider"] = row["pool"]
        row["state"] = breaker.state(now)
        row["cooldown_until"] = retry_at
        row["success_rate"] = row["successes"] / row["requests"] if row["requests"] else None
    return rows


def read_proxy_success(stores: Stores, first: date, last: date) -> pl.DataFrame | None:
    """Proxied requests per day and provider: day, provider, requests, ok (2xx answers)."""
    if "proxy_requests" not in stores.state_tables():
        return None
    frame = stores.state_frame(
        "SELECT substr(requested_at, 1, 10) AS day, provider, count(*) AS requests, "
        "sum(CASE WHEN status BETWEEN 200 AND 299 THEN 1 ELSE 0 END) AS ok "
        "FROM proxy_requests WHERE substr(requested_at, 1, 10) BETWEEN ? AND ? "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        (first.isoformat(), last.isoformat()),
    )
    return frame


def read_quota(stores: Stores) -> dict[str, int] | None:
    """The latest requests-remaining figure each source reported (Odds API quota headers)."""
    if "source_quota" not in stores.state_tables():
        return None
    with stores.state() as con:
        rows = con.execute(
            "SELECT source, remaining FROM source_quota WHERE remaining IS NOT NULL"
        ).fetchall()
    return {r[0]: int(r[1]) for r in rows}


# -- warehouse (DuckDB) -----------------------------------------------------------------------


def read_prediction_batch(stores: Stores, partition: date) -> dict[str, Any] | None:
    """The partition's latest prediction batch: expected, completed, failed, excluded, status."""
    if "prediction_batches" not in stores.duck_tables():
        return None
    frame = stores.warehouse.query(
        "SELECT * FROM prediction_batches WHERE slate_date = ? "
        "ORDER BY started_at DESC NULLS LAST LIMIT 1",
        [partition],
    )
    return frame.row(0, named=True) if frame.height else {}


def read_predictions(stores: Stores, partition: date) -> dict[str, int] | None:
    """Active predictions of the partition: rows (one per model and player market) and the
    distinct player markets they cover."""
    if "predictions" not in stores.duck_tables():
        return None
    row = stores.warehouse.query(
        "SELECT count(*) AS rows, count(DISTINCT (player_key, market)) AS units "
        "FROM predictions WHERE slate_date = ? AND coalesce(is_active, true)",
        [partition],
    ).row(0, named=True)
    return {"rows": int(row["rows"]), "player_markets": int(row["units"])}


def read_prediction_staging(stores: Stores, partition: date) -> int | None:
    """Prediction rows staged but not yet consolidated (worker Parquet files of open batches)."""
    if "prediction_batches" not in stores.duck_tables():
        return None
    folder = stores.home / "staging" / "predictions"
    files = sorted(folder.glob(f"batch_{partition:%Y%m%d}_*/worker-*.parquet"))
    return sum(pl.scan_parquet(f).select(pl.len()).collect().item() for f in files)


def read_line_quality(stores: Stores, partition: date) -> dict[str, int] | None:
    """Player markets (one player, one market) judged by the line-quality gate: passed and
    failed."""
    if "line_quality" not in stores.duck_tables():
        return None
    row = stores.warehouse.query(
        "SELECT count(*) FILTER (passed) AS passed, count(*) FILTER (NOT passed) AS failed "
        "FROM line_quality WHERE slate_date = ?",
        [partition],
    ).row(0, named=True)
    return {"passed": int(row["passed"] or 0), "failed": int(row["failed"] or 0)}


def open_stores(settings: Settings) -> Stores:
    """The home's warehouse and state store, read where they are; never created here."""
    warehouse = open_warehouse(settings.warehouse, settings.locks.wait_s)
    if not warehouse.exists():
        raise ConfigError(
            f"home: no warehouse at {warehouse.where}: nothing has run under "
            f"home={settings.home} (run `lineflow run date=YYYY-MM-DD` first)"
        )
    return Stores(warehouse, open_state(settings, create=False), settings.home)
