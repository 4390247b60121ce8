"""The HTTP layer of one run: which scrape passes a partition has, and a client for each."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from lineflow.config import Settings, SourceConfig
from lineflow.http.client import SourceClient
from lineflow.http.errors import MissingSecret
from lineflow.http.secrets import Redactor
from lineflow.landing import PASS_RE, pass_id

CASSETTE_SUFFIX = ".json.gz"


class HttpLayer:
    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.mode = settings.http.mode
        self._clock = clock
        self._sleep = sleep
        self._secrets = {
            name: os.environ.get(src.auth.env) or None
            for name, src in settings.sources.items()
            if src.auth.kind != "none" and src.auth.env
        }
        self.redactor = Redactor(
            [v for v in self._secrets.values() if v],
            [s.auth.name for s in settings.sources.values() if s.auth.kind == "query"],
        )

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

    def cassette_dir(self, source: SourceConfig, partition: date) -> Path:
        return self.settings.http.cassettes / source.name / partition.isoformat()

    def passes(self, source: SourceConfig, partition: date, snapshot: datetime | None) -> list[str]:
        """The scrape passes to run: recorded ones in replay, else one for the current slot."""
        if snapshot is not None:
            return [pass_id("history", snapshot)]
        if self.mode == "replay":
            folder = self.cassette_dir(source, partition)
            names = sorted(
                p.name[: -len(CASSETTE_SUFFIX)] for p in folder.glob(f"live-*{CASSETTE_SUFFIX}")
            )
            return [n for n in names if PASS_RE.match(n)]
        now = self._clock().astimezone(UTC)
        if self.settings.refresh:
            return [pass_id("live", now.replace(microsecond=0))]
        slot = timedelta(minutes=source.snapshot_minutes)
        floor = datetime.fromtimestamp(
            (now.timestamp() // slot.total_seconds()) * slot.total_seconds(), UTC
        )
        return [pass_id("live", floor)]

    def client(self, source: SourceConfig, partition: date, pid: str) -> SourceClient:
        return SourceClient(
            source,
            self.settings.http,
            self.cassette_dir(source, partition) / f"{pid}{CASSETTE_SUFFIX}",
            self.redactor,
            secret=self._secrets.get(source.name),
            clock=self._clock,
            sleep=self._sleep,
        )
