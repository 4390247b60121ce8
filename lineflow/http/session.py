"""The HTTP layer of one run: which scrape passes a partition has, and a client for each.

It owns what outlives one pass: each source's proxy chain (with its rotation state), request
limits and quota guard, and the proxy health store ({home}/state.sqlite; in memory for replay).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

from lineflow.config import Settings, SourceConfig
from lineflow.core.errors import MissingSecret
from lineflow.http.client import SourceClient
from lineflow.http.health import ProxyHealth
from lineflow.http.limits import SourceLimits, TokenBucket, process_bucket
from lineflow.http.proxies import Link, build_links, pool_secrets
from lineflow.http.quota import QuotaGuard
from lineflow.http.secrets import Redactor
from lineflow.landing import PASS_RE, pass_id
from lineflow.state import StateStore, open_state

CASSETTE_SUFFIX = ".json.gz"


#: Each source's limits on the real clock, for the whole process: every run in it (a backfill's
#: parallel partitions, `serve`'s handlers) draws from one bucket and one set of slots per
#: source, so the configured rate and concurrency hold process-wide. Keyed by the limits too,
#: so a run with other settings gets its own.
_PROCESS_LIMITS: dict[tuple[str, float, int, int], SourceLimits] = {}
_PROCESS_LIMITS_LOCK = threading.Lock()


def process_limits(source: SourceConfig) -> SourceLimits:
    """The process-wide limits of `source` (created on first use)."""
    rate = source.rate_limit
    key = (source.name, float(rate.per_second), int(rate.burst), int(source.concurrency))
    with _PROCESS_LIMITS_LOCK:
        if key not in _PROCESS_LIMITS:
            bucket = process_bucket(source.name, rate.per_second, rate.burst)
            _PROCESS_LIMITS[key] = SourceLimits(bucket, source.concurrency)
        return _PROCESS_LIMITS[key]


def state_store(settings: Settings) -> StateStore:
    """The configured cross-process state store (`state.backend`)."""
    return open_state(settings)


class HttpLayer:
    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        mode: Literal["live", "record", "replay"] | None = None,
    ) -> None:
        self.settings = settings
        self.mode = mode or settings.http.mode  # a run may ask for its own (validate: replay)
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic
        self._secrets = {
            name: os.environ.get(src.auth.env) or None
            for name, src in settings.sources.items()
            if src.auth.kind != "none" and src.auth.env
        }
        self.redactor = Redactor(
            [v for v in self._secrets.values() if v] + pool_secrets(settings.proxy, os.environ),
            [s.auth.name for s in settings.sources.values() if s.auth.kind == "query"],
        )
        self._store = state_store(settings) if self.mode != "replay" else None
        self.health = ProxyHealth(self._store, settings.proxy.breaker, self.redactor.text)
        self._links: dict[str, list[Link]] = {}
        self._limits: dict[str, SourceLimits] = {}
        self._quotas: dict[str, QuotaGuard] = {}

    def check_secrets(self, sources: list[SourceConfig]) -> None:
        """Live and record modes need every active source's secret; say which is missing."""
        if self.mode == "replay":
            return
        for source in sources:
            if source.auth.kind != "none" and not self._secrets.get(source.name):
                raise MissingSecret(
                    f"sources.{source.name}.auth.env: environment variable {source.auth.env} "
                    f"is not set (needed for http.mode={self.mode})"
                )
            self.links(source)  # a pool in the chain without its credentials fails here

    def links(self, source: SourceConfig) -> list[Link]:
        """The source's proxy chain, built once per run so rotation carries across passes."""
        if source.name not in self._links:
            self._links[source.name] = build_links(
                self.settings.proxy,
                self.settings.proxy.chain(source.name),
                os.environ,
                need_credentials=self.mode != "replay",
            )
        return self._links[source.name]

    def limits(self, source: SourceConfig) -> SourceLimits:
        """The source's limits: the process-wide ones on the real clock; a layer on an
        injected clock (tests) keeps its own, since a bucket waits on its clock."""
        if self._monotonic is time.monotonic and self._sleep is time.sleep:
            return process_limits(source)
        if source.name not in self._limits:
            rate = source.rate_limit
            bucket = TokenBucket(rate.per_second, rate.burst, self._monotonic, self._sleep)
            self._limits[source.name] = SourceLimits(bucket, source.concurrency)
        return self._limits[source.name]

    def quota(self, source: SourceConfig) -> QuotaGuard | None:
        if source.quota is None or self._store is None:
            return None
        if source.name not in self._quotas:
            self._quotas[source.name] = QuotaGuard(source.name, source.quota, self._store)
        return self._quotas[source.name]

    def cassette_dir(self, source: SourceConfig, partition: date) -> Path:
        return self.settings.http.cassettes / source.name / partition.isoformat()  # plan_passes too

    def passes(
        self, source: SourceConfig, partition: date, snapshot: datetime | None, refresh: bool
    ) -> list[str]:
        """The scrape passes to run (`plan_passes`) at this layer's clock."""
        return plan_passes(
            self.mode,
            self.settings.http.cassettes,
            source,
            partition,
            snapshot,
            self._clock(),
            refresh,
        )

    def client(self, source: SourceConfig, partition: date, pid: str) -> SourceClient:
        return SourceClient(
            source,
            self.settings.http,
            self.cassette_dir(source, partition) / f"{pid}{CASSETTE_SUFFIX}",
            self.redactor,
            secret=self._secrets.get(source.name),
            links=self.links(source),
            health=self.health,
            limits=self.limits(source),
            quota=self.quota(source),
            clock=self._clock,
            sleep=self._sleep,
            monotonic=self._monotonic,
        )


def plan_passes(
    mode: str,
    cassettes: Path,
    source: SourceConfig,
    partition: date,
    snapshot: datetime | None,
    now: datetime,
    refresh: bool,
) -> list[str]:
    """The scrape passes to run: recorded ones in replay, else one for the current slot
    (`refresh`: one for this very second, so nothing already landed stands in). A function of
    its arguments alone, so that the partition-complete check asks the same question."""
    if snapshot is not None:
        return [pass_id("history", snapshot)]
    if mode == "replay":
        folder = cassettes / source.name / partition.isoformat()
        names = sorted(
            p.name[: -len(CASSETTE_SUFFIX)] for p in folder.glob(f"live-*{CASSETTE_SUFFIX}")
        )
        return [n for n in names if PASS_RE.match(n)]
    now = now.astimezone(UTC)
    if refresh:
        return [pass_id("live", now.replace(microsecond=0))]
    slot = timedelta(minutes=source.snapshot_minutes)
    floor = datetime.fromtimestamp(
        (now.timestamp() // slot.total_seconds()) * slot.total_seconds(), UTC
    )
    return [pass_id("live", floor)]
