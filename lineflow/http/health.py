"""Proxy health per (pool, proxy, target host): counts per status, latency, last error, breaker.

Kept in the state store (`{home}/state.sqlite`, or the shared Postgres store), so every run
and process on the machine (or every instance) sees the same breakers. Replays use a private
in-memory copy: recorded answers say nothing about today's proxies, and replay must walk the
chain exactly as it was recorded.
Rows hold labels (pool, host:port) and redacted errors only, never credentials.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from lineflow.config import BreakerConfig
from lineflow.http.breaker import Breaker, on_failure, on_success
from lineflow.http.proxies import Proxy
from lineflow.state import StateStore, upsert_sql
from lineflow.state.store import Connection

#: proxy_health's columns, in the order `_save` writes them.
COLUMNS = (
    "pool", "proxy", "host", "failures", "opens", "opened_at", "retry_at", "requests",
    "successes", "statuses", "latency_ms_total", "last_status", "last_latency_ms", "last_error",
    "updated_at",
)  # fmt: skip

#: What one attempt means for the breaker: closes it, counts against it, or neither (a retry).
Verdict = Literal["success", "failure", "none"]


@dataclass(frozen=True)
class Health:
    pool: str
    proxy: str
    host: str
    breaker: Breaker = Breaker()
    requests: int = 0
    successes: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    latency_ms_total: float = 0.0
    last_status: str | None = None
    last_latency_ms: float | None = None
    last_error: str | None = None
    updated_at: datetime | None = None

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.requests if self.requests else None

    @property
    def mean_latency_ms(self) -> float | None:
        return self.latency_ms_total / self.requests if self.requests else None


def observe(
    health: Health,
    status: str,
    verdict: Verdict,
    latency_ms: float,
    error: str | None,
    now: datetime,
    config: BreakerConfig,
) -> Health:
    """Health after one attempt through the proxy (pure)."""
    breaker = health.breaker
    if verdict == "success":
        breaker = on_success(breaker)
    elif verdict == "failure":
        breaker = on_failure(breaker, now, config)
    ok = status.isdigit() and int(status) < 400
    return replace(
        health,
        breaker=breaker,
        requests=health.requests + 1,
        successes=health.successes + ok,
        statuses={**health.statuses, status: health.statuses.get(status, 0) + 1},
        latency_ms_total=health.latency_ms_total + latency_ms,
        last_status=status,
        last_latency_ms=latency_ms,
        last_error=error if error is not None else (None if ok else health.last_error),
        updated_at=now,
    )


class ProxyHealth:
    """Health rows in a state store, or in memory when `store` is None (replay)."""

    def __init__(
        self,
        store: StateStore | None,
        config: BreakerConfig,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        self._store = store
        self._config = config
        self._redact = redact
        self._memory: dict[tuple[str, str, str], Health] = {}
        self._lock = threading.Lock()
        if store is not None:
            store.ensure("proxy_health")

    def get(self, proxy: Proxy, host: str) -> Health:
        key = (proxy.pool, proxy.address, host)
        if self._store is None:
            with self._lock:
                return self._memory.get(key) or Health(*key)
        with self._store.connect() as con:
            return _load(con, key) or Health(*key)

    def usable(self, proxy: Proxy, host: str, now: datetime) -> bool:
        return self.get(proxy, host).breaker.usable(now)

    def record(
        self,
        proxy: Proxy,
        host: str,
        status: str,
        verdict: Verdict,
        latency_ms: float,
        error: str | None,
        now: datetime,
    ) -> Health:
        """Apply one attempt's outcome atomically (read, update, write in one transaction)."""
        key = (proxy.pool, proxy.address, host)
        error = self._redact(error)[:300] if error else None
        if self._store is None:
            with self._lock:
                current = self._memory.get(key) or Health(*key)
                updated = observe(current, status, verdict, latency_ms, error, now, self._config)
                self._memory[key] = updated
                return updated
        with self._store.transaction() as con:
            current = _load(con, key) or Health(*key)
            updated = observe(current, status, verdict, latency_ms, error, now, self._config)
            _save(con, updated)
            return updated

    def all(self) -> list[Health]:
        if self._store is None:
            with self._lock:
                return sorted(self._memory.values(), key=_order)
        with self._store.connect() as con:
            rows = con.execute("SELECT * FROM proxy_health").fetchall()
        return sorted((_row(r) for r in rows), key=_order)

    def reset(self, pool: str | None = None) -> int:
        """Close breakers (of one pool, or all); counts stay. Returns how many were touched."""
        if self._store is None:
            with self._lock:
                keys = [k for k in self._memory if pool is None or k[0] == pool]
                for k in keys:
                    self._memory[k] = replace(self._memory[k], breaker=Breaker())
                return len(keys)
        closed = (
            "UPDATE proxy_health SET failures = 0, opens = 0, opened_at = NULL, retry_at = NULL"
        )
        with self._store.transaction() as con:
            if pool is None:
                return con.execute(closed).rowcount
            return con.execute(closed + " WHERE pool = ?", (pool,)).rowcount


def _order(h: Health) -> tuple[str, str, str]:
    return (h.pool, h.proxy, h.host)


def _load(con: Connection, key: tuple[str, str, str]) -> Health | None:
    row = con.execute(
        "SELECT * FROM proxy_health WHERE pool = ? AND proxy = ? AND host = ?", key
    ).fetchone()
    return _row(row) if row else None


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _row(row: Any) -> Health:
    return Health(
        pool=row["pool"],
        proxy=row["proxy"],
        host=row["host"],
        breaker=Breaker(
            row["failures"], row["opens"], _time(row["opened_at"]), _time(row["retry_at"])
        ),
        requests=row["requests"],
        successes=row["successes"],
        statuses=json.loads(row["statuses"]),
        latency_ms_total=row["latency_ms_total"],
        last_status=row["last_status"],
        last_latency_ms=row["last_latency_ms"],
        last_error=row["last_error"],
        updated_at=_time(row["updated_at"]),
    )


def _save(con: Connection, h: Health) -> None:
    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    con.execute(
        upsert_sql("proxy_health", COLUMNS, ("pool", "proxy", "host")),
        (
            h.pool,
            h.proxy,
            h.host,
            h.breaker.failures,
            h.breaker.opens,
            iso(h.breaker.opened_at),
            iso(h.breaker.retry_at),
            h.requests,
            h.successes,
            json.dumps(h.statuses, sort_keys=True),
            h.latency_ms_total,
            h.last_status,
            h.last_latency_ms,
            h.last_error,
            iso(h.updated_at),
        ),
    )
