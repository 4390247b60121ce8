"""A paid API's usage credits: read from every response, stored, and guarded by a floor.

The floor is checked before each call against the last count seen by this process; calls
already in flight can take it a little lower. Replays neither read nor enforce quota: they
cost nothing, and the recorded counts belong to whoever recorded them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from lineflow.config import QuotaConfig
from lineflow.core.errors import QuotaExhausted
from lineflow.state import StateStore, upsert_sql


@dataclass(frozen=True)
class QuotaReading:
    remaining: int | None
    used: int | None
    last: int | None


def read_quota(config: QuotaConfig, headers: Mapping[str, str]) -> QuotaReading | None:
    """The quota headers of one response (lower-case names), None when it has none."""

    def number(name: str) -> int | None:
        try:
            return int(float(headers[name.lower()]))
        except (KeyError, ValueError):
            return None

    reading = QuotaReading(
        number(config.remaining_header), number(config.used_header), number(config.last_header)
    )
    return None if reading == QuotaReading(None, None, None) else reading


def is_exhausted(config: QuotaConfig, status: int, body: bytes) -> bool:
    """401 with the provider's "out of credits" code: final, retrying cannot help."""
    if status != 401:
        return False
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("error_code") == config.exhausted_code


class QuotaGuard:
    """One source's quota: `check` before a paid call, `observe` every response."""

    def __init__(self, source: str, config: QuotaConfig, store: StateStore) -> None:
        self.source = source
        self.config = config
        self._store = store
        self._remaining: int | None = None
        self._lock = threading.Lock()
        store.ensure("quota")

    def check(self) -> None:
        with self._lock:
            remaining = self._remaining
        if remaining is not None and remaining <= self.config.floor:
            raise QuotaExhausted(
                f"{self.source}: quota floor reached: {remaining} requests left, floor is "
                f"{self.config.floor} (sources.{self.source}.quota.floor); "
                "no further paid calls this run"
            )

    def observe(self, headers: Mapping[str, str], now: datetime) -> QuotaReading | None:
        reading = read_quota(self.config, headers)
        if reading is None:
            return None
        with self._lock:
            if reading.remaining is not None:
                self._remaining = reading.remaining
        with self._store.transaction() as con:
            con.execute(
                upsert_sql(
                    "source_quota", ("source", "remaining", "used", "last", "seen_at"), ("source",)
                ),
                (self.source, reading.remaining, reading.used, reading.last, now.isoformat()),
            )
        return reading

    def exhausted(self, now: datetime) -> QuotaExhausted:
        """Record "no credits left" and say so."""
        self.observe({self.config.remaining_header.lower(): "0"}, now)
        return QuotaExhausted(
            f"{self.source}: quota exhausted ({self.config.exhausted_code}): the provider "
            "refuses further calls until the quota renews"
        )


def stored_quotas(store: StateStore) -> list[dict[str, object]]:
    """Every source's last quota reading, for `lineflow proxies`."""
    store.ensure("quota")
    with store.connect() as con:
        rows = con.execute("SELECT * FROM source_quota ORDER BY source").fetchall()
    return [dict(row) for row in rows]
